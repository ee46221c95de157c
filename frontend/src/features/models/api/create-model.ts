/**
 * `POST /models`: queue a verified, resumable download (201), or get the model already added for
 * the same repo and commit (200). Not responsible for following its progress (WebSocket events).
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import { upsertModel } from "../lib/model-cache";
import type { Model, ModelCreate } from "../types";

export function createModel(body: ModelCreate): Promise<Model> {
  return apiRequest<Model>("/models", { method: "POST", body });
}

export function useCreateModel() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: createModel,
    onSuccess: (model) => upsertModel(queryClient, model),
  });
}
