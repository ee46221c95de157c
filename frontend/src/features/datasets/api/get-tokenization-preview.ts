/**
 * `GET /tokenizations/{id}/preview`: stored sequences beside the text they came from.
 * Not responsible for rendering pieces.
 */
import { useQuery } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { TokenizationPreview } from "../types";
import { datasetKeys } from "./dataset-keys";

export function getTokenizationPreview(id: number, offset: number, signal?: AbortSignal) {
  return apiRequest<TokenizationPreview>(`/tokenizations/${id}/preview`, {
    query: { offset, limit: 3 },
    signal,
  });
}

export function useTokenizationPreview(id: number, offset: number, enabled: boolean) {
  return useQuery({
    queryKey: datasetKeys.tokenizationPreview(id, offset),
    queryFn: ({ signal }) => getTokenizationPreview(id, offset, signal),
    enabled,
  });
}
