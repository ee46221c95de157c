/**
 * `DELETE /models/{id}[?force=true]`: the model and its files (409 `model_in_use` lists what
 * depends on it; `force` removes those too). Afterwards every list that may have held what went
 * with it (extractions, tokenizations, jobs, the pickers) is refetched. Not responsible for asking
 * the user (the model's actions do).
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import { invalidateDependentQueries } from "@/lib/dependent-queries";
import { removeModel } from "../lib/model-cache";

export function deleteModel({ id, force }: { id: number; force: boolean }): Promise<void> {
  return apiRequest<void>(`/models/${id}`, { method: "DELETE", query: { force: force || null } });
}

export function useDeleteModel() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: deleteModel,
    onSuccess: (_result, { id }) => {
      removeModel(queryClient, id);
      void invalidateDependentQueries(queryClient);
    },
  });
}
