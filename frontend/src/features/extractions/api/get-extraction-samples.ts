/**
 * `GET /extractions/{id}/samples?group=&hook=`: one hook point's highest-norm tokens among the
 * rows of one row group, with their text (the page shows one point at a time; without `hook` the
 * server answers every point's, ~1,400 rows for 90 points). Not responsible for rendering.
 */
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { ExtractionSamples, RowGroup } from "../types";
import { extractionKeys } from "./extraction-keys";

export function getExtractionSamples(
  id: number,
  group: RowGroup,
  hook: string,
  signal?: AbortSignal,
): Promise<ExtractionSamples> {
  return apiRequest<ExtractionSamples>(`/extractions/${id}/samples`,
    { query: { group, hook }, signal });
}

/** Keeps the last point's rows on screen while the next one's are asked for. */
export function useExtractionSamples(id: number, group: RowGroup, hook: string, enabled: boolean) {
  return useQuery({
    queryKey: extractionKeys.samples(id, group, hook),
    queryFn: ({ signal }) => getExtractionSamples(id, group, hook, signal),
    enabled,
    placeholderData: keepPreviousData,
  });
}
