/**
 * `GET /datasets/{id}/tokenizations`: the dataset's tokenizations (tokenizer, policy, counts),
 * and (`?usable_with_model=`) those a model may use: made with its tokenizer or one of
 * byte-identical files. Not responsible for their progress (each row follows its job).
 */
import { useQuery } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { TokenizationList } from "../types";
import { datasetKeys } from "./dataset-keys";

export function getTokenizations(datasetId: number, signal?: AbortSignal) {
  return apiRequest<TokenizationList>(`/datasets/${datasetId}/tokenizations`, {
    query: { limit: 100 },
    signal,
  });
}

export function useTokenizations(datasetId: number, enabled: boolean) {
  return useQuery({
    queryKey: datasetKeys.tokenizations(datasetId),
    queryFn: ({ signal }) => getTokenizations(datasetId, signal),
    enabled,
  });
}

export function getUsableTokenizations(datasetId: number, modelId: number, signal?: AbortSignal) {
  return apiRequest<TokenizationList>(`/datasets/${datasetId}/tokenizations`, {
    query: { usable_with_model: modelId, limit: 100 },
    signal,
  });
}

export function useUsableTokenizations(datasetId: number, modelId: number | null) {
  return useQuery({
    queryKey: datasetKeys.usableTokenizations(datasetId, modelId ?? 0),
    queryFn: ({ signal }) => getUsableTokenizations(datasetId, modelId ?? 0, signal),
    enabled: modelId !== null,
  });
}
