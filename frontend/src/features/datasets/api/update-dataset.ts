/**
 * `PATCH /datasets/{id}`: rename. Not responsible for validation beyond what the server says.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { Dataset } from "../types";
import { datasetKeys } from "./dataset-keys";

export function renameDataset({ id, name }: { id: number; name: string }): Promise<Dataset> {
  return apiRequest<Dataset>(`/datasets/${id}`, { method: "PATCH", body: { name } });
}

export function useRenameDataset() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: renameDataset,
    onSuccess: (dataset) => {
      queryClient.setQueryData(datasetKeys.detail(dataset.id), dataset);
      void queryClient.invalidateQueries({ queryKey: datasetKeys.lists() });
    },
  });
}
