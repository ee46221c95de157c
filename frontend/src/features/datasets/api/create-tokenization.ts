/**
 * `POST /datasets/{id}/tokenizations`: queue a tokenization with a model's tokenizer and an
 * explicit policy. Not responsible for following the job.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { Tokenization, TokenizationCreate } from "../types";
import { datasetKeys } from "./dataset-keys";

export function createTokenization(datasetId: number, body: TokenizationCreate) {
  return apiRequest<Tokenization>(`/datasets/${datasetId}/tokenizations`, {
    method: "POST",
    body,
  });
}

export function useCreateTokenization(datasetId: number) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: TokenizationCreate) => createTokenization(datasetId, body),
    onSuccess: () =>
      void queryClient.invalidateQueries({ queryKey: datasetKeys.tokenizations(datasetId) }),
  });
}
