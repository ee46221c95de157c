/**
 * Query keys for extractions, shared by every extractions API operation.
 * Not responsible for fetching.
 */
export const extractionKeys = {
  all: ["extractions"] as const,
  lists: () => [...extractionKeys.all, "list"] as const,
  list: (filters: object) => [...extractionKeys.lists(), filters] as const,
  detail: (id: number) => [...extractionKeys.all, "detail", id] as const,
  stats: (id: number, group: string) => [...extractionKeys.all, "stats", id, group] as const,
  samples: (id: number, group: string) =>
    [...extractionKeys.all, "samples", id, group] as const,
  models: () => [...extractionKeys.all, "pickers", "models"] as const,
  datasets: () => [...extractionKeys.all, "pickers", "datasets"] as const,
  tokenizations: (datasetId: number, modelId: number) =>
    [...extractionKeys.all, "pickers", "tokenizations", datasetId, modelId] as const,
  hookPoints: (modelId: number) =>
    [...extractionKeys.all, "pickers", "hook-points", modelId] as const,
  preflightPlacement: (device: string) =>
    [...extractionKeys.all, "preflight-placement", device] as const,
};
