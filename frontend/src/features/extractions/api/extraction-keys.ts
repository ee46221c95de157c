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
  /** Without `hook`: the prefix of every point's samples of `group` (to drop them all). */
  samples: (id: number, group: string, hook?: string) => hook === undefined
    ? [...extractionKeys.all, "samples", id, group] as const
    : [...extractionKeys.all, "samples", id, group, hook] as const,
  models: () => [...extractionKeys.all, "pickers", "models"] as const,
  datasets: () => [...extractionKeys.all, "pickers", "datasets"] as const,
  tokenizations: (datasetId: number, modelId: number) =>
    [...extractionKeys.all, "pickers", "tokenizations", datasetId, modelId] as const,
  hookPoints: (modelId: number) =>
    [...extractionKeys.all, "pickers", "hook-points", modelId] as const,
  preflightPlacement: (device: string) =>
    [...extractionKeys.all, "preflight-placement", device] as const,
};
