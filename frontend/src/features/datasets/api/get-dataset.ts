/**
 * `GET /datasets/{id}`: one dataset with its job, statistics and files.
 * Not responsible for refreshing it when its job ends (the card does).
 */
import { queryOptions, useQuery } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { Dataset } from "../types";
import { datasetKeys } from "./dataset-keys";

export function getDataset(id: number, signal?: AbortSignal) {
  return apiRequest<Dataset>(`/datasets/${id}`, { signal });
}

export function datasetQueryOptions(id: number) {
  return queryOptions({
    queryKey: datasetKeys.detail(id),
    queryFn: ({ signal }) => getDataset(id, signal),
  });
}

export function useDataset(id: number | null) {
  return useQuery({ ...datasetQueryOptions(id ?? 0), enabled: id !== null });
}
