/**
 * Query keys for extractions, shared by every extractions API operation.
 * Not responsible for fetching.
 */
export const extractionKeys = {
  all: ["extractions"] as const,
  lists: () => [...extractionKeys.all, "list"] as const,
  list: (status: string) => [...extractionKeys.lists(), { status }] as const,
  detail: (id: number) => [...extractionKeys.all, "detail", id] as const,
  stats: (id: number) => [...extractionKeys.all, "stats", id] as const,
  samples: (id: number) => [...extractionKeys.all, "samples", id] as const,
  models: () => [...extractionKeys.all, "pickers", "models"] as const,
  datasets: () => [...extractionKeys.all, "pickers", "datasets"] as const,
  tokenizations: (datasetId: number) =>
    [...extractionKeys.all, "pickers", "tokenizations", datasetId] as const,
};
