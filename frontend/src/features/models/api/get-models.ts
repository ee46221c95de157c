/**
 * `GET /models`: the models on this machine, newest first (optionally searched by name / repo).
 * Not responsible for live progress (see `lib/model-cache.ts`).
 */
import { keepPreviousData, queryOptions, useQuery } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { ModelList } from "../types";
import { modelKeys } from "./model-keys";

export function getModels(search: string, signal?: AbortSignal): Promise<ModelList> {
  return apiRequest<ModelList>("/models", { query: { search, limit: 200 }, signal });
}

export function modelsQueryOptions(search: string) {
  return queryOptions({
    queryKey: modelKeys.list(search),
    queryFn: ({ signal }) => getModels(search, signal),
    placeholderData: keepPreviousData,
  });
}

export function useModels(search: string) {
  return useQuery(modelsQueryOptions(search));
}
