/**
 * The requests behind the "Run the demo" button, each reusing what exists: import the bundled
 * model (`POST /models/import-bundled`), find or add the bundled text (`GET/POST /datasets`),
 * find or create its tokenization with the model's tokenizer, the play's lines packed into
 * 256-token windows (`GET/POST /datasets/{id}/tokenizations`; one sequence per line would make
 * every ~9-token line start at position 0, an attention sink). The extraction itself is
 * `create-extraction.ts`, unless the same demo extraction is already complete, on its way or
 * stopped (`findDemoExtraction`; a stopped one is resumed). A step found half-way (a dataset import or tokenization still running
 * after a reload) is waited for, not made twice.
 * Not responsible for sequencing them (see `lib/demo-runner.ts`).
 */
import type { components } from "@/api/schema";
import { ApiError, apiRequest } from "@/lib/api-client";
import type { Extraction, ExtractionCreate } from "../types";

type Schemas = components["schemas"];
export type DemoStep = { id: number; ready: boolean; jobId: number | null };

export const DEMO_POLICY = { max_length: 256, mode: "pack" } as const;
/** As many tokens as the CLI's `interpstudio demo` (README's quickstart). */
export const DEMO_TOKENS = 4096;
export const DEMO_EXTRACTION_NAME = "demo: all layers";

export function demoExtraction(modelId: number, tokenizationId: number): ExtractionCreate {
  return {
    model_id: modelId, tokenization_id: tokenizationId, hook_points: ["blocks.*.resid_post"],
    batch_size: 8, positions: "all", every_k: 1, dtype: "float16", max_tokens: DEMO_TOKENS,
    device: "auto", name: DEMO_EXTRACTION_NAME,
  };
}

export async function importBundledModel(): Promise<DemoStep> {
  const model = await apiRequest<Schemas["ModelRead"]>("/models/import-bundled", {
    method: "POST",
    body: { precision: "fp32" },
  });
  return { id: model.id, ready: model.status === "ready", jobId: model.job_id };
}

export async function findOrAddBundledText(): Promise<DemoStep> {
  const list = await apiRequest<Schemas["DatasetList"]>("/datasets", { query: { limit: 200 } });
  const found = list.items.find((d) => d.source === "bundled" && d.status === "ready");
  if (found) return { id: found.id, ready: true, jobId: null };
  const created = await apiRequest<Schemas["DatasetRead"]>("/datasets", {
    method: "POST",
    body: { source: "bundled" },
  });
  return { id: created.id, ready: created.status === "ready", jobId: created.job_id };
}

export async function findOrTokenize(datasetId: number, modelId: number,
  again = true): Promise<DemoStep> {
  // the tokenizations the model may use: its own, and those of a model whose tokenizer files are
  // byte-identical (the bundled model imported twice), which the server refuses to duplicate
  const list = await apiRequest<Schemas["TokenizationList"]>(
    `/datasets/${datasetId}/tokenizations`,
    { query: { limit: 200, usable_with_model: modelId } },
  );
  // the server keeps one tokenization per dataset, tokenizer and policy: one still running (the
  // demo was reloaded) is waited for; asking for another would be refused
  const found = list.items.find((t) => isDemoPolicy(t.policy)
    && (t.model_id === modelId || TWIN_SERVES.has(t.status)));
  if (found) return { id: found.id, ready: found.status === "ready", jobId: found.job_id };
  try {
    const created = await apiRequest<Schemas["TokenizationRead"]>(
      `/datasets/${datasetId}/tokenizations`,
      { method: "POST", body: { model_id: modelId, policy: DEMO_POLICY } },
    );
    return { id: created.id, ready: created.status === "ready", jobId: created.job_id };
  } catch (error) {
    // another tab made it between the list and the create: follow that one
    if (again && error instanceof ApiError && error.code === "tokenization_exists") {
      return findOrTokenize(datasetId, modelId, false);
    }
    throw error;
  }
}

/** A twin model's tokenization the server counts as this one's (made, or being made). */
const TWIN_SERVES = new Set(["queued", "running", "ready"]);

function isDemoPolicy(policy: Record<string, unknown>): boolean {
  const requested = (policy.requested ?? {}) as Record<string, unknown>;
  return requested.max_length === DEMO_POLICY.max_length && requested.mode === DEMO_POLICY.mode;
}

const OPEN_STATUSES = new Set(["complete", "running", "queued"]);
/** A run of the demo that stopped (Ctrl-C in `interpstudio demo`'s step 4, a server restart, a
 * failure): its job may be resumed after its last whole shard. */
const STOPPED_STATUSES = new Set(["cancelled", "interrupted", "failed", "partial"]);

export function isStoppedDemo(extraction: Extraction): boolean {
  return STOPPED_STATUSES.has(extraction.status);
}

/** The demo's extraction already made for this model and tokenization with the demo's
 * settings, so running the demo again opens it instead of a copy: a complete one, else one
 * running or queued, else the newest that stopped (`isStoppedDemo`: the runner resumes it, as
 * `interpstudio demo` does). */
export async function findDemoExtraction(
  modelId: number,
  tokenizationId: number,
): Promise<Extraction | null> {
  const list = await apiRequest<Schemas["ExtractionList"]>("/extractions", {
    query: { model_id: modelId, tokenization_id: tokenizationId, limit: 200 },
  });
  const matches = list.items.filter((e) => e.model_id === modelId
    && e.tokenization_id === tokenizationId && isDemoRequest(e))
    .sort((a, b) => b.id - a.id);  // newest first
  return matches.find((e) => e.status === "complete")
    ?? matches.find((e) => OPEN_STATUSES.has(e.status))
    ?? matches.find(isStoppedDemo) ?? null;
}

/** An extraction asked for as the demo asks (its name, points, tokens, positions and dtype) of
 * its own model and tokenization; whether those are the bundled ones, `isDemoOf` says. */
export function isDemoRequest(extraction: Extraction): boolean {
  return extraction.name === DEMO_EXTRACTION_NAME && sameDemoSpec(extraction.spec,
    demoExtraction(extraction.model_id, extraction.tokenization_id));
}

/** Whether a tokenization (`GET /tokenizations/{id}`) is one the demo makes: the bundled text's
 * (`GET /datasets/{id}`), under the demo's policy, of the bundled model's (`GET /models/{id}`).
 * The rule `findOrAddBundledText` / `findOrTokenize` pick by, asked of rows already made. */
export async function isDemoOf(modelId: number, tokenizationId: number,
  signal?: AbortSignal): Promise<boolean> {
  const [model, tokenization] = await Promise.all([
    apiRequest<Schemas["ModelRead"]>(`/models/${modelId}`, { signal }),
    apiRequest<Schemas["TokenizationRead"]>(`/tokenizations/${tokenizationId}`, { signal }),
  ]);
  if (model.source !== "bundled" || !isDemoPolicy(tokenization.policy)) return false;
  const dataset = await apiRequest<Schemas["DatasetRead"]>(`/datasets/${tokenization.dataset_id}`,
    { signal });
  return dataset.source === "bundled";
}

function sameDemoSpec(spec: Record<string, unknown>, wanted: ExtractionCreate): boolean {
  const points = spec.hook_points;
  return Array.isArray(points) && points.join("|") === wanted.hook_points.join("|")
    && spec.max_tokens === wanted.max_tokens && spec.positions === wanted.positions
    && spec.dtype === wanted.dtype;
}
