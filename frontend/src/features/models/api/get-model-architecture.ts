/**
 * `GET /models/{id}/architecture`: layers, hook points per layer and the module tree of a ready
 * model (read from the file its job wrote; the server never loads the model for this).
 * Not responsible for rendering.
 */
import { queryOptions, useQuery } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { ModelArchitecture } from "../types";
import { modelKeys } from "./model-keys";

export function getModelArchitecture(id: number, signal?: AbortSignal): Promise<ModelArchitecture> {
  return apiRequest<ModelArchitecture>(`/models/${id}/architecture`, { signal });
}

export function useModelArchitecture(id: number) {
  return useQuery(
    queryOptions({
      queryKey: modelKeys.architecture(id),
      queryFn: ({ signal }) => getModelArchitecture(id, signal),
      staleTime: Number.POSITIVE_INFINITY, // fixed once the model is ready
    }),
  );
}
