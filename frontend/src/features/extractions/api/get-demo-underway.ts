/**
 * `useDemoUnderway`: a step of the demo queued or running on the server, wherever it was started
 * (`interpstudio demo` in a terminal, another tab, this tab before a reload), so the demo button
 * shows it with its progress and a link instead of offering "Run the demo". Every step counts,
 * not only the extraction: while `interpstudio demo` imported the model or the text or tokenized
 * it, the home page offered "Run the demo", whose click followed those same jobs and then raced
 * the CLI to create the same extraction (the loser is refused as a copy of a run under way).
 * The server marks nothing as "the demo": a step is recognised by the rule the button's own run
 * picks what it reuses by (`demo-steps.ts`): the bundled model (`source: bundled`), the bundled
 * text, its demo tokenization with that model (`isDemoOf`), the demo's request of those
 * (`isDemoRequest`). One request when nothing is under way (`GET /jobs` of the demo's job kinds,
 * queued or running, each with the record it makes); the furthest step wins.
 * Its key is refreshed by a state change of any of those jobs (`lib/job-list-freshness.ts`).
 * Not responsible for drawing it (`components/demo-button.tsx`).
 */
import { queryOptions, useQuery } from "@tanstack/react-query";
import type { components } from "@/api/schema";
import type { Job, JobList } from "@/api/types";
import { apiRequest } from "@/lib/api-client";
import type { DemoStepName } from "../lib/demo-runner";
import type { Extraction } from "../types";
import { isDemoOf, isDemoRequest } from "./demo-steps";
import { extractionKeys } from "./extraction-keys";

type Schemas = components["schemas"];

/** The demo's step under way and its job; `href`: where to follow it (the extraction's page,
 * else the job's). */
export type DemoUnderway = { step: DemoStepName; job: Job; href: string };

/** The job kind of each of the demo's steps, in the demo's order. */
const STEP_OF_KIND: Readonly<Record<string, DemoStepName>> = {
  model_import: "model", dataset_import: "dataset", tokenize: "tokenize", extract: "extract",
};
const ORDER: readonly string[] = Object.keys(STEP_OF_KIND);

export async function getDemoUnderway(signal?: AbortSignal): Promise<DemoUnderway | null> {
  const list = await apiRequest<JobList>("/jobs", {
    query: { state: ["queued", "running"], kind: ORDER, limit: 200 }, signal });
  const jobs = [...list.items]  // the furthest step first, then the newest
    .sort((a, b) => ORDER.indexOf(b.kind) - ORDER.indexOf(a.kind) || b.id - a.id);
  for (const job of jobs) {
    const step = STEP_OF_KIND[job.kind];
    if (step && job.owner && await isDemoRecord(job.owner, signal)) {
      const href = step === "extract" ? `/extractions/${job.owner.id}` : `/jobs/${job.id}`;
      return { step, job, href };
    }
  }
  return null;
}

/** Whether the record a job makes is one the demo makes or reuses. */
async function isDemoRecord(owner: NonNullable<Job["owner"]>,
  signal?: AbortSignal): Promise<boolean> {
  if (owner.kind === "model") {
    return (await apiRequest<Schemas["ModelRead"]>(`/models/${owner.id}`, { signal }))
      .source === "bundled";
  }
  if (owner.kind === "dataset") {
    return (await apiRequest<Schemas["DatasetRead"]>(`/datasets/${owner.id}`, { signal }))
      .source === "bundled";
  }
  if (owner.kind === "tokenization") {
    const tokenization = await apiRequest<Schemas["TokenizationRead"]>(
      `/tokenizations/${owner.id}`, { signal });
    return tokenization.model_id !== null
      && isDemoOf(tokenization.model_id, tokenization.id, signal);
  }
  const extraction = await apiRequest<Extraction>(`/extractions/${owner.id}`, { signal });
  return isDemoRequest(extraction)
    && isDemoOf(extraction.model_id, extraction.tokenization_id, signal);
}

/** The key's first two parts are refreshed by a state change of any of the demo's job kinds
 * (`lib/job-list-freshness.ts`: `DEMO_UNDERWAY`). */
export const DEMO_UNDERWAY_KEY = [...extractionKeys.all, "demo-underway"] as const;

export function demoUnderwayQueryOptions() {
  return queryOptions({
    queryKey: DEMO_UNDERWAY_KEY,
    queryFn: ({ signal }) => getDemoUnderway(signal),
  });
}

/** `enabled`: false while this tab's own demo run is shown (its steps say more). */
export function useDemoUnderway(enabled: boolean) {
  return useQuery({ ...demoUnderwayQueryOptions(), enabled });
}
