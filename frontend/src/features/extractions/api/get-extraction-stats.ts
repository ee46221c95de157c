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

/** `stoppedAt`: the end of a stopped run (its job's `finished_at`), whose partial store is asked
 * under its own key, so neither a complete run's cached figures nor an earlier stop's stand for
 * it. */
export function useExtractionStats(id: number, group: RowGroup, enabled: boolean,
  stoppedAt: string | null = null) {
  return useQuery({
    queryKey: stoppedAt === null
      ? extractionKeys.stats(id, group)
      : [...extractionKeys.stats(id, group), "stopped", stoppedAt],
    queryFn: ({ signal }) => getExtractionStats(id, group, signal),
    enabled,
    placeholderData: keepPreviousData,  // switching group keeps the charts until the new data
  });
}
