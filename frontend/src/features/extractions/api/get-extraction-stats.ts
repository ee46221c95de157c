/**
 * `GET /extractions/{id}/stats`: the store's statistics (without per-dimension arrays) and the
 * per-layer norm curves. Not responsible for drawing them.
 */
import { useQuery } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { ExtractionStats } from "../types";
import { extractionKeys } from "./extraction-keys";

export function getExtractionStats(id: number, signal?: AbortSignal): Promise<ExtractionStats> {
  return apiRequest<ExtractionStats>(`/extractions/${id}/stats`, { signal });
}

export function useExtractionStats(id: number, enabled: boolean) {
  return useQuery({
    queryKey: extractionKeys.stats(id),
    queryFn: ({ signal }) => getExtractionStats(id, signal),
    enabled,
  });
}
