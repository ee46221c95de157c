/**
 * `DELETE /datasets/{id}[?force=true]`: a 409 `dataset_in_use` lists what depends on it.
 * Not responsible for asking the user to confirm (the card does).
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import { datasetKeys } from "./dataset-keys";

export function deleteDataset({ id, force }: { id: number; force: boolean }): Promise<unknown> {
  return apiRequest(`/datasets/${id}`, { method: "DELETE", query: { force } });
}

export function useDeleteDataset() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: deleteDataset,
    onSuccess: (_result, { id }) => {
      queryClient.removeQueries({ queryKey: datasetKeys.detail(id) });
      void queryClient.invalidateQueries({ queryKey: datasetKeys.lists() });
    },
  });
}
