/**
 * What the configuration form picks from: ready models (`GET /models`), datasets
 * (`GET /datasets`), the tokenizations of a dataset a model may use
 * (`GET /datasets/{id}/tokenizations?usable_with_model=`) and which
 * hook points a model cannot capture, with why, and the module each output point is read at
 * (`GET /models/{id}/architecture`). Read here with
 * this feature's own queries (features never import each other). Not responsible for creating
 * any of them.
 */
import { useQuery } from "@tanstack/react-query";
import type { components } from "@/api/schema";
import { apiRequest } from "@/lib/api-client";
import { cellKey } from "../lib/hook-grid";
import { HOOK_KINDS, type HookKind } from "../types";
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

/** Cell key (`layer:kind`) -> why the model has no module for that point (e.g. `mlp_act` of a
 * mixture-of-experts block); empty until the architecture arrives (the server refuses such a
 * point at preflight anyway, with the same reason). */
export function useUnavailableHookPoints(modelId: number | null) {
  return useQuery({ ...architectureQuery(modelId), select: unavailablePoints });
}

/** Hook point -> the module whose output it is (`model.layers.3`), for the points read at a
 * module's output: what a `module_paths` export names their columns (the server's
 * `output_modules`); empty until the architecture arrives. */
export function useOutputModules(modelId: number | null) {
  return useQuery({ ...architectureQuery(modelId), select: outputModules });
}

function architectureQuery(modelId: number | null) {
  return {
    queryKey: extractionKeys.hookPoints(modelId ?? 0),
    queryFn: ({ signal }: { signal: AbortSignal }) =>
      apiRequest<Schemas["ModelArchitectureRead"]>(`/models/${modelId}/architecture`, { signal }),
    enabled: modelId !== null,
    staleTime: Number.POSITIVE_INFINITY, // fixed once the model is ready
  };
}

function outputModules(architecture: Schemas["ModelArchitectureRead"]): Map<string, string> {
  const modules = new Map<string, string>();
  for (const layer of architecture.layers) {
    for (const point of layer.hook_points) {
      if (point.module && point.phase === "output") modules.set(point.name, point.module);
    }
  }
  return modules;
}

function unavailablePoints(architecture: Schemas["ModelArchitectureRead"]): Map<string, string> {
  const unavailable = new Map<string, string>();
  for (const layer of architecture.layers) {
    for (const point of layer.hook_points) {
      if (point.unavailable && (HOOK_KINDS as readonly string[]).includes(point.kind)) {
        unavailable.set(cellKey(layer.index, point.kind as HookKind), point.unavailable);
      }
    }
  }
  return unavailable;
}

/** The dataset's tokenizations the model may extract from: made with its tokenizer, or with
 * another model's of byte-identical files (the server decides: `usable_with_model`). */
export function useTokenizationOptions(datasetId: number | null, modelId: number | null) {
  return useQuery({
    queryKey: extractionKeys.tokenizations(datasetId ?? 0, modelId ?? 0),
    queryFn: ({ signal }) =>
      apiRequest<Schemas["TokenizationList"]>(`/datasets/${datasetId}/tokenizations`, {
        query: { limit: 200, usable_with_model: modelId ?? undefined },
        signal,
      }),
    enabled: datasetId !== null && modelId !== null,
  });
}
