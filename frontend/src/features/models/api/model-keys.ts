/**
 * Query keys for models, shared by every models API operation and the cache updater.
 * Not responsible for fetching.
 */
export const modelKeys = {
  all: ["models"] as const,
  lists: () => [...modelKeys.all, "list"] as const,
  list: (search: string) => [...modelKeys.lists(), { search }] as const,
  detail: (id: number) => [...modelKeys.all, "detail", id] as const,
  architecture: (id: number) => [...modelKeys.all, "architecture", id] as const,
};
