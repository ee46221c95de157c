/**
 * `DELETE /datasets/{id}[?force=true]`: a 409 `dataset_in_use` lists what depends on it.
 * Afterwards every list that may have held what went with it (its tokenizations, extractions and
 * jobs, and the extraction form's pickers) is refetched. Not responsible for asking the user to
 * confirm (the card does).
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import { invalidateDependentQueries } from "@/lib/dependent-queries";
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
      void invalidateDependentQueries(queryClient);
    },
  });
}
