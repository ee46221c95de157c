/**
 * `GET /datasets/{id}/tokenizations`: the dataset's tokenizations (tokenizer, policy, counts).
 * Not responsible for their progress (each row follows its job).
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
