/**
 * The requests behind the "Run the demo" button, each reusing what exists: import the bundled
 * model (`POST /models/import-bundled`), find or add the bundled text (`GET/POST /datasets`),
 * find or create its tokenization with the model's tokenizer, the play's lines packed into
 * 256-token windows (`GET/POST /datasets/{id}/tokenizations`; one sequence per line would make
 * every ~9-token line start at position 0, an attention sink). The extraction itself is
 * `create-extraction.ts`.
 * Not responsible for sequencing them (see `components/demo-button.tsx`).
 */
import type { components } from "@/api/schema";
import { apiRequest } from "@/lib/api-client";

type Schemas = components["schemas"];
export type DemoStep = { id: number; ready: boolean; jobId: number | null };

export const DEMO_POLICY = { max_length: 256, mode: "pack" } as const;

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

export async function findOrTokenize(datasetId: number, modelId: number): Promise<DemoStep> {
  const list = await apiRequest<Schemas["TokenizationList"]>(
    `/datasets/${datasetId}/tokenizations`,
    { query: { limit: 200 } },
  );
  const found = list.items.find((t) => t.model_id === modelId && t.status === "ready"
    && isDemoPolicy(t.policy));
  if (found) return { id: found.id, ready: true, jobId: null };
  const created = await apiRequest<Schemas["TokenizationRead"]>(
    `/datasets/${datasetId}/tokenizations`,
    { method: "POST", body: { model_id: modelId, policy: DEMO_POLICY } },
  );
  return { id: created.id, ready: created.status === "ready", jobId: created.job_id };
}

function isDemoPolicy(policy: Record<string, unknown>): boolean {
  const requested = (policy.requested ?? {}) as Record<string, unknown>;
  return requested.max_length === DEMO_POLICY.max_length && requested.mode === DEMO_POLICY.mode;
}
