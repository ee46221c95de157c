/**
 * `POST /models/import`: a local folder, `.safetensors` (+ config) or `.gguf` inside the allowed
 * roots. Not responsible for checking the path (the server refuses escapes with 403).
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import { upsertModel } from "../lib/model-cache";
import type { Model, ModelImportCreate } from "../types";

export function importModel(body: ModelImportCreate): Promise<Model> {
  return apiRequest<Model>("/models/import", { method: "POST", body });
}

export function useImportModel() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: importModel,
    onSuccess: (model) => upsertModel(queryClient, model),
  });
}
