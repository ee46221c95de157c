/**
 * `GET /models?status=ready`: the models whose tokenizer a tokenization can use.
 * Not responsible for managing models (the models section does).
 */
import { useQuery } from "@tanstack/react-query";
import type { components } from "@/api/schema";
import { apiRequest } from "@/lib/api-client";
import { datasetKeys } from "./dataset-keys";

type ModelList = components["schemas"]["ModelList"];

export function getTokenizerModels(signal?: AbortSignal) {
  return apiRequest<ModelList>("/models", { query: { status: "ready", limit: 200 }, signal });
}

export function useTokenizerModels() {
  return useQuery({
    queryKey: datasetKeys.tokenizerModels(),
    queryFn: ({ signal }) => getTokenizerModels(signal),
  });
}
