/**
 * `GET /extractions/{id}`: one extraction (spec, preflight, counts, its job).
 * Not responsible for live progress (see `useLiveJob`).
 */
import { useQuery } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { Extraction } from "../types";
import { extractionKeys } from "./extraction-keys";

export function getExtraction(id: number, signal?: AbortSignal): Promise<Extraction> {
  return apiRequest<Extraction>(`/extractions/${id}`, { signal });
}

export function useExtraction(id: number, enabled = true) {
  return useQuery({
    queryKey: extractionKeys.detail(id),
    queryFn: ({ signal }) => getExtraction(id, signal),
    enabled,
  });
}
