/**
 * Builds extraction objects (and their statistics / samples) for component tests, with every
 * field present. Not responsible for any server behaviour.
 */
import type { QueryClient } from "@tanstack/react-query";
import { makeJob } from "@/test/job-factory";
import { extractionKeys } from "../api/extraction-keys";
import type { Extraction, ExtractionSamples, ExtractionStats, RowGroup } from "../types";

export function makeExtraction(overrides: Partial<Extraction> = {}): Extraction {
  return {
    id: 7,
    name: "tiny: 3 hook points",
    model_id: 1,
    tokenization_id: 2,
    spec: { hook_points_expanded: ["blocks.0.resid_post", "blocks.1.resid_post", "blocks.1.mlp_out"] },
    config_hash: "abcdef0123456789",
    status: "running",
    path: "extractions/7",
    precision_requested: "fp32",
    precision_used: "fp32",
    counts: { tokens_total: 4000, rows_total: 4000, bytes_total: 1_000_000 },
    preflight: null,
    info: { bound: "compute" },
    error_message: null,
    job_id: 70,
    store_abs_path: null,
    store_empty: false,
    job: makeJob({ id: 70, kind: "extract", state: "running", stage: "extract", done: 1000,
      total: 4000, unit: "tokens", progress: 0.25, rate: 500, eta_s: 6,
      message: "0.002 GB captured · 0.001 GB written · projected bound: compute" }),
    created_at: "2026-01-01T12:00:00Z",
    updated_at: "2026-01-01T12:00:00Z",
    ...overrides,
  };
}

function hook(mean: number) {
  const norm = (counts: number[]) => ({ mean, std: 0.1,
    histogram: { edges: counts.map((_, i) => i).concat(counts.length), counts } });
  return {
    d: 64, rows: 4000,
    groups: { all: { rows: 4000, norm: norm([5, 10, 2, 1]) },
      non_bos: { rows: 3990, norm: norm([5, 10, 2]) }, bos: { rows: 10, norm: norm([1, 9]) } },
  };
}

/** The stats response for one row group (its layer_norms; every group's statistics). */
export function makeStats(group: RowGroup = "non_bos"): ExtractionStats {
  return {
    status: "complete", rows: 4000, shards: 1, dtype: "float16", group,
    hooks: { "blocks.0.resid_post": hook(1), "blocks.1.resid_post": hook(2),
      "blocks.1.mlp_out": hook(0.5) },
    layer_norms: {
      resid_post: [{ layer: 0, norm_mean: 1, norm_std: 0.1 }, { layer: 1, norm_mean: 2, norm_std: 0.1 }],
      mlp_out: [{ layer: 1, norm_mean: 0.5, norm_std: 0.1 }],
    },
  };
}

export function makeSamples(group: RowGroup = "non_bos"): ExtractionSamples {
  const sample = group === "bos"
    ? { norm: 99.5, row: 0, sequence: 0, position: 0, token_id: 1, token: "<s>", before: "",
      after: " The quick" }
    : { norm: 3.25, row: 12, sequence: 3, position: 4, token_id: 99, token: " fox",
      before: "The quick brown", after: " jumps" };
  return { group, hooks: { "blocks.1.resid_post": [sample], "blocks.0.resid_post": [],
    "blocks.1.mlp_out": [] }, context: { before: 12, after: 4 } };
}

/** Puts `samples` in the cache as the results page asks for them: one point per query. */
export function seedSamples(queryClient: QueryClient, id: number, samples: ExtractionSamples): void {
  for (const [hook, rows] of Object.entries(samples.hooks)) {
    queryClient.setQueryData(extractionKeys.samples(id, samples.group, hook),
      { ...samples, hooks: { [hook]: rows } });
  }
}
