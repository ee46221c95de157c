/**
 * `GET /datasets`: one page of datasets, newest first. Not responsible for live job progress
 * (each card follows its own job).
 */
import { keepPreviousData, queryOptions, useQuery } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { DatasetList } from "../types";
import { datasetKeys } from "./dataset-keys";

export function getDatasets(offset: number, limit: number, signal?: AbortSignal) {
  return apiRequest<DatasetList>("/datasets", { query: { offset, limit }, signal });
}

export function datasetsQueryOptions(offset: number, limit: number) {
  return queryOptions({
    queryKey: datasetKeys.list(offset, limit),
    queryFn: ({ signal }) => getDatasets(offset, limit, signal),
    placeholderData: keepPreviousData,
  });
}

export function useDatasets(offset: number, limit: number) {
  return useQuery(datasetsQueryOptions(offset, limit));
}
