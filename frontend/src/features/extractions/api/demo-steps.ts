/**
 * The requests behind the "Run the demo" button, each reusing what exists: import the bundled
 * model (`POST /models/import-bundled`), find or add the bundled text (`GET/POST /datasets`),
 * find or create its tokenization with the model's tokenizer (`GET/POST
 * /datasets/{id}/tokenizations`). The extraction itself is `create-extraction.ts`.
 * Not responsible for sequencing them (see `components/demo-button.tsx`).
 */
import type { components } from "@/api/schema";
import { apiRequest } from "@/lib/api-client";

type Schemas = components["schemas"];
export type DemoStep = { id: number; ready: boolean; jobId: number | null };

export const DEMO_MAX_LENGTH = 256;

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
  const found = list.items.find((t) => t.model_id === modelId && t.status === "ready");
  if (found) return { id: found.id, ready: true, jobId: null };
  const created = await apiRequest<Schemas["TokenizationRead"]>(
    `/datasets/${datasetId}/tokenizations`,
    { method: "POST", body: { model_id: modelId, policy: { max_length: DEMO_MAX_LENGTH } } },
  );
  return { id: created.id, ready: created.status === "ready", jobId: created.job_id };
}
