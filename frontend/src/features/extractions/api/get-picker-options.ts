/**
 * What the configuration form picks from: ready models (`GET /models`), datasets
 * (`GET /datasets`) and a dataset's tokenizations (`GET /datasets/{id}/tokenizations`). Read
 * here with this feature's own queries (features never import each other). Not responsible for
 * creating any of them.
 */
import { useQuery } from "@tanstack/react-query";
import type { components } from "@/api/schema";
import { apiRequest } from "@/lib/api-client";
import { extractionKeys } from "./extraction-keys";

type Schemas = components["schemas"];

export function useModelOptions() {
  return useQuery({
    queryKey: extractionKeys.models(),
    queryFn: ({ signal }) =>
      apiRequest<Schemas["ModelList"]>("/models", { query: { limit: 200 }, signal }),
  });
}

export function useDatasetOptions() {
  return useQuery({
    queryKey: extractionKeys.datasets(),
    queryFn: ({ signal }) =>
      apiRequest<Schemas["DatasetList"]>("/datasets", { query: { limit: 200 }, signal }),
  });
}

export function useTokenizationOptions(datasetId: number | null) {
  return useQuery({
    queryKey: extractionKeys.tokenizations(datasetId ?? 0),
    queryFn: ({ signal }) =>
      apiRequest<Schemas["TokenizationList"]>(`/datasets/${datasetId}/tokenizations`, {
        query: { limit: 200 },
        signal,
      }),
    enabled: datasetId !== null,
  });
}
