/**
 * `PATCH /models/{id}`: rename. Not responsible for validating the name (the server does).
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import { upsertModel } from "../lib/model-cache";
import type { Model } from "../types";

export function renameModel({ id, name }: { id: number; name: string }): Promise<Model> {
  return apiRequest<Model>(`/models/${id}`, { method: "PATCH", body: { name } });
}

export function useRenameModel() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: renameModel,
    onSuccess: (model) => upsertModel(queryClient, model),
  });
}
