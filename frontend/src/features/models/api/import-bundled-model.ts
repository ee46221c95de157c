/**
 * `POST /models/import-bundled`: the SmolLM2-135M-Instruct that ships with the app, no network.
 * Not responsible for anything but the request.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import { upsertModel } from "../lib/model-cache";
import type { Model, ModelBundledCreate } from "../types";

export function importBundledModel(body: ModelBundledCreate): Promise<Model> {
  return apiRequest<Model>("/models/import-bundled", { method: "POST", body });
}

export function useImportBundledModel() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: importBundledModel,
    onSuccess: (model) => upsertModel(queryClient, model),
  });
}
