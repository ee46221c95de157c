/**
 * `GET /extractions`: the history, newest first, filtered by status, model and text (name or
 * config hash), one page at a time. Not responsible for live progress (each row follows its job,
 * see `useLiveJob`).
 */
import { keepPreviousData, queryOptions, useQuery } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { ExtractionFilters } from "../lib/use-extraction-filters";
import type { ExtractionList } from "../types";
import { extractionKeys } from "./extraction-keys";

export function getExtractions(filters: ExtractionFilters, signal?: AbortSignal): Promise<ExtractionList> {
  return apiRequest<ExtractionList>("/extractions", {
    query: { status: filters.status || undefined, model_id: filters.model ?? undefined,
      q: filters.q.trim() || undefined, limit: filters.limit, offset: filters.offset },
    signal,
  });
}

export function useExtractions(filters: ExtractionFilters) {
  return useQuery(
    queryOptions({
      queryKey: extractionKeys.list(filters),
      queryFn: ({ signal }) => getExtractions(filters, signal),
      placeholderData: keepPreviousData,
    }),
  );
}
