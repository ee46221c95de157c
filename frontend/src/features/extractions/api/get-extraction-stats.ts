/**
 * `GET /extractions/{id}/stats?group=`: the store's statistics (without per-dimension arrays)
 * and the per-layer norm curves over one row group. Not responsible for drawing them.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { ExtractionStats, RowGroup } from "../types";
import { extractionKeys } from "./extraction-keys";

export function getExtractionStats(
  id: number,
  group: RowGroup,
  signal?: AbortSignal,
): Promise<ExtractionStats> {
  return apiRequest<ExtractionStats>(`/extractions/${id}/stats`, { query: { group }, signal });
}

export function useExtractionStats(id: number, group: RowGroup, enabled: boolean) {
  return useQuery({
    queryKey: extractionKeys.stats(id, group),
    queryFn: ({ signal }) => getExtractionStats(id, group, signal),
    enabled,
    placeholderData: keepPreviousData,  // switching group keeps the charts until the new data
  });
}
