/**
 * Query keys for datasets and tokenizations, shared by every datasets API operation.
 * Not responsible for fetching.
 */
export const datasetKeys = {
  all: ["datasets"] as const,
  lists: () => [...datasetKeys.all, "list"] as const,
  list: (offset: number, limit: number) => [...datasetKeys.lists(), { offset, limit }] as const,
  detail: (id: number) => [...datasetKeys.all, "detail", id] as const,
  preview: (id: number, query: { offset: number; limit: number; random: boolean; seed: number }) =>
    [...datasetKeys.all, "preview", id, query] as const,
  tokenizations: (id: number) => [...datasetKeys.all, "tokenizations", id] as const,
  /** Under `tokenizations(id)`, so whatever refreshes a dataset's tokenizations refreshes it. */
  usableTokenizations: (id: number, modelId: number) =>
    [...datasetKeys.tokenizations(id), "usable-with", modelId] as const,
  tokenizationPreview: (id: number, offset: number) =>
    ["tokenizations", "preview", id, offset] as const,
  tokenizerModels: () => ["datasets", "tokenizer-models"] as const,
};
