/**
 * `GET /datasets/{id}/preview`: a page of rows, or a reproducible random sample (`seed`).
 * Not responsible for rendering.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { DatasetPreview } from "../types";
import { datasetKeys } from "./dataset-keys";

export type PreviewQuery = { offset: number; limit: number; random: boolean; seed: number };

export function getDatasetPreview(id: number, query: PreviewQuery, signal?: AbortSignal) {
  return apiRequest<DatasetPreview>(`/datasets/${id}/preview`, { query, signal });
}

export function useDatasetPreview(id: number, query: PreviewQuery, enabled: boolean) {
  return useQuery({
    queryKey: datasetKeys.preview(id, query),
    queryFn: ({ signal }) => getDatasetPreview(id, query, signal),
    placeholderData: keepPreviousData,
    enabled,
  });
}
