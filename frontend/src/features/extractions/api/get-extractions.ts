/**
 * `GET /extractions`: the history, newest first, optionally filtered by status.
 * Not responsible for live progress (each row follows its job, see `useLiveJob`).
 */
import { keepPreviousData, queryOptions, useQuery } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { ExtractionList } from "../types";
import { extractionKeys } from "./extraction-keys";

export function getExtractions(status: string, signal?: AbortSignal): Promise<ExtractionList> {
  return apiRequest<ExtractionList>("/extractions", {
    query: { status: status || undefined, limit: 200 },
    signal,
  });
}

export function useExtractions(status: string) {
  return useQuery(
    queryOptions({
      queryKey: extractionKeys.list(status),
      queryFn: ({ signal }) => getExtractions(status, signal),
      placeholderData: keepPreviousData,
    }),
  );
}
