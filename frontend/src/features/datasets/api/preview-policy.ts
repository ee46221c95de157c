/**
 * `POST /datasets/{id}/tokenize-preview`: the policy as it will be stored (BOS default resolved)
 * and the first rows beside their token pieces, before any job runs. Not responsible for
 * creating the tokenization.
 */
import { useQuery } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { PolicyPreview, PolicyPreviewRequest } from "../types";

export function previewPolicy(datasetId: number, body: PolicyPreviewRequest, signal?: AbortSignal) {
  return apiRequest<PolicyPreview>(`/datasets/${datasetId}/tokenize-preview`, {
    method: "POST",
    body,
    signal,
  });
}

export function usePolicyPreview(datasetId: number, body: PolicyPreviewRequest | null) {
  return useQuery({
    queryKey: ["datasets", "policy-preview", datasetId, body] as const,
    queryFn: ({ signal }) => previewPolicy(datasetId, body as PolicyPreviewRequest, signal),
    enabled: body !== null,
  });
}
