/**
 * `GET /extractions/{id}/samples`: per hook point, the highest-norm tokens with their text.
 * Not responsible for rendering.
 */
import { useQuery } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { ExtractionSamples } from "../types";
import { extractionKeys } from "./extraction-keys";

export function getExtractionSamples(id: number, signal?: AbortSignal): Promise<ExtractionSamples> {
  return apiRequest<ExtractionSamples>(`/extractions/${id}/samples`, { signal });
}

export function useExtractionSamples(id: number, enabled: boolean) {
  return useQuery({
    queryKey: extractionKeys.samples(id),
    queryFn: ({ signal }) => getExtractionSamples(id, signal),
    enabled,
  });
}
