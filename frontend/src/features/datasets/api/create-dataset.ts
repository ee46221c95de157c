/**
 * `POST /datasets`: add a dataset from the hub (id, revision, config, split, optional token used
 * for this import only), from local paths inside the server's import roots, or the bundled text.
 * Not responsible for uploads (see `upload-dataset.ts`).
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { Dataset, DatasetCreate } from "../types";
import { datasetKeys } from "./dataset-keys";

export function createDataset(body: DatasetCreate): Promise<Dataset> {
  return apiRequest<Dataset>("/datasets", { method: "POST", body });
}

export function useCreateDataset() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: createDataset,
    onSuccess: (dataset) => {
      queryClient.setQueryData(datasetKeys.detail(dataset.id), dataset);
      void queryClient.invalidateQueries({ queryKey: datasetKeys.lists() });
    },
  });
}
