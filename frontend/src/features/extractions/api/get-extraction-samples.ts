/**
 * `GET /extractions/{id}/samples?group=`: per hook point, the highest-norm tokens of one row
 * group with their text. Not responsible for rendering.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { ExtractionSamples, RowGroup } from "../types";
import { extractionKeys } from "./extraction-keys";

export function getExtractionSamples(
  id: number,
  group: RowGroup,
  signal?: AbortSignal,
): Promise<ExtractionSamples> {
  return apiRequest<ExtractionSamples>(`/extractions/${id}/samples`, { query: { group }, signal });
}

export function useExtractionSamples(id: number, group: RowGroup, enabled: boolean) {
  return useQuery({
    queryKey: extractionKeys.samples(id, group),
    queryFn: ({ signal }) => getExtractionSamples(id, group, signal),
    enabled,
    placeholderData: keepPreviousData,
  });
}
