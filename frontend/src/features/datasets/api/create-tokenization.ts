/**
 * `POST /datasets/{id}/tokenizations`: queue a tokenization with a model's tokenizer and an
 * explicit policy. A refusal as a duplicate (`tokenization_exists`: made with this tokenizer, or
 * with byte-identical tokenizer files) refreshes the dataset's tokenizations, so the one it names
 * is shown. Not responsible for following the job.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { ApiError, apiRequest } from "@/lib/api-client";
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
    onError: (error) => {
      if (error instanceof ApiError && error.code === "tokenization_exists") {
        void queryClient.invalidateQueries({ queryKey: datasetKeys.tokenizations(datasetId) });
      }
    },
  });
}
