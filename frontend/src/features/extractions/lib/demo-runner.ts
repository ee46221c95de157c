/**
 * The "Run the demo" chain, run at module level so that it outlives the button: leaving the home
 * page does not stop it, and a reload picks it up again. Asking for the demo is remembered in
 * localStorage until it ends; `resumeDemo` (called when the demo button mounts: the home and
 * extractions pages) runs the chain again, and since every step finds what exists before making
 * anything (model, bundled text, tokenization, extraction), a re-run resumes where the last one
 * was: a complete demo extraction is opened again, a stopped one resumed. Each job is waited for through the live job cache the WebSocket feeds (no polling). The
 * state shown (step, job, error, the extraction to open) is a small zustand store.
 * Not responsible for the steps' requests (`api/demo-steps.ts`) nor for drawing them
 * (`components/demo-button.tsx`).
 */
import { QueryObserver, type QueryClient } from "@tanstack/react-query";
import { create } from "zustand";
import type { Job } from "@/api/types";
import { ApiError, apiRequest } from "@/lib/api-client";
import { FINISHED_JOB_STATES, liveJobKey } from "@/lib/live-job";
import { createExtraction, underwayExtractionId } from "../api/create-extraction";
import { extractionKeys } from "../api/extraction-keys";
import { postExtractionAction } from "../api/extraction-transition";
import {
  type DemoStep,
  demoExtraction,
  findDemoExtraction,
  findOrAddBundledText,
  findOrTokenize,
  importBundledModel,
  isStoppedDemo,
} from "../api/demo-steps";

export const DEMO_STEPS = ["model", "dataset", "tokenize", "extract"] as const;
export type DemoStepName = (typeof DEMO_STEPS)[number];
export const DEMO_STEP_LABELS: Record<DemoStepName, string> = {
  model: "importing the bundled model",
  dataset: "importing the bundled text",
  tokenize: "tokenizing with the model's tokenizer",
  // the create measures a batch before it answers (tens of seconds on a 2-core CPU), where the
  // label alone sat unchanged as if nothing happened
  extract: "starting the extraction (the server loads the model and times a batch first)",
};

/** localStorage key: the demo was asked for and has not ended yet. */
export const DEMO_REQUESTED_KEY = "interpstudio.demo.requested";

type DemoState = {
  step: DemoStepName | null;
  /** The job the current step waits for (its progress is shown). */
  jobId: number | null;
  error: unknown;
  /** The extraction the finished demo made or found, until the button opens it. */
  opened: number | null;
};

export const useDemoStore = create<DemoState>(() => ({
  step: null, jobId: null, error: null, opened: null,
}));

let running: Promise<void> | null = null;

function remember(requested: boolean): void {
  try {
    if (requested) globalThis.localStorage?.setItem(DEMO_REQUESTED_KEY, "1");
    else globalThis.localStorage?.removeItem(DEMO_REQUESTED_KEY);
  } catch {
    // storage refused (private mode, quota): the demo still runs, it just is not resumed
  }
}

export function isDemoRequested(): boolean {
  try {
    return globalThis.localStorage?.getItem(DEMO_REQUESTED_KEY) === "1";
  } catch {
    return false;
  }
}

export function isDemoRunning(): boolean {
  return running !== null;
}

/** Starts the demo, or returns the run already going. */
export function startDemo(queryClient: QueryClient): Promise<void> {
  remember(true);
  if (running) return running;
  useDemoStore.setState({ step: "model", jobId: null, error: null, opened: null });
  running = runChain(queryClient)
    .then((extractionId) => {
      useDemoStore.setState({ step: null, jobId: null, opened: extractionId });
    })
    .then(() => remember(false), (error: unknown) => {
      useDemoStore.setState({ step: null, jobId: null, error });
      // a request cut by the page going away (a reload) or a server out of reach: the demo is
      // still asked for, and the next page resumes it; any other refusal ends the request
      if (!leaving && !isNetworkError(error)) remember(false);
    })
    .finally(() => {
      running = null;
    });
  return running;
}

/** Set while the page unloads: the requests it cuts fail, and must not end the demo. */
let leaving = false;
globalThis.addEventListener?.("pagehide", () => { leaving = true; });
globalThis.addEventListener?.("pageshow", () => { leaving = false; });

function isNetworkError(error: unknown): boolean {
  return (error instanceof ApiError && error.status === 0)
    || (error instanceof DOMException && error.name === "AbortError");
}

/** Runs the demo again if it was asked for (e.g. before a reload) and is not running here. */
export function resumeDemo(queryClient: QueryClient): void {
  if (isDemoRequested() && !running) void startDemo(queryClient);
}

async function runChain(queryClient: QueryClient): Promise<number> {
  const model = await step("model", queryClient, importBundledModel);
  const dataset = await step("dataset", queryClient, findOrAddBundledText);
  const tokenization = await step("tokenize", queryClient, () => findOrTokenize(dataset, model));
  useDemoStore.setState({ step: "extract", jobId: null });
  const existing = await findDemoExtraction(model, tokenization);
  // a complete one, or one on its way, is opened as it is: a second click shows the result
  if (existing && !isStoppedDemo(existing)) return existing.id;
  try {
    // a stopped one is resumed after its last whole shard (as `interpstudio demo` does), not
    // started again from nothing beside it
    if (existing) await postExtractionAction("resume", existing.id);
    const id = existing?.id ?? (await createExtraction(demoExtraction(model, tokenization))).id;
    void queryClient.invalidateQueries({ queryKey: extractionKeys.all });
    return id;
  } catch (error) {
    // another tab started it between the search and the create: open that one
    const underway = underwayExtractionId(error);
    if (underway === null) throw error;
    return underway;
  }
}

/** One find-or-make step, then its job (if it has one still going) waited for; the row's id. */
async function step(
  name: DemoStepName,
  queryClient: QueryClient,
  run: () => Promise<DemoStep>,
): Promise<number> {
  useDemoStore.setState({ step: name, jobId: null });
  const result = await run();
  if (result.ready || result.jobId === null) return result.id;
  useDemoStore.setState({ jobId: result.jobId });
  let job = await waitForJob(queryClient, result.jobId);
  if (job.state === "interrupted") {
    // the server stopped under this step (a restart: "worker shut down; resume to continue"):
    // asking for the demo again resumes it once, where it was a dead end that only the
    // Models or Jobs page could clear
    const resumed = await apiRequest<Job>(`/jobs/${job.id}/resume`, { method: "POST" });
    queryClient.setQueryData(liveJobKey(job.id), resumed);  // wait for this run, not the last
    job = await waitForJob(queryClient, job.id);
  }
  if (job.state !== "succeeded") {
    throw new Error(`${DEMO_STEP_LABELS[name]} ended ${job.state}`
      + (job.error_message ? `: ${job.error_message}` : ""));
  }
  return result.id;
}

/** Resolves with the job once it has finished, as the live job cache sees it. */
export function waitForJob(queryClient: QueryClient, jobId: number): Promise<Job> {
  return new Promise((resolve, reject) => {
    const observer = new QueryObserver(queryClient, {
      queryKey: liveJobKey(jobId),
      queryFn: ({ signal }) => apiRequest<Job>(`/jobs/${jobId}`, { signal }),
      staleTime: Number.POSITIVE_INFINITY,
    });
    let unsubscribe: () => void = () => {};
    const check = () => {
      const result = observer.getCurrentResult();
      const job = result.data;
      if (job && FINISHED_JOB_STATES.has(job.state)) {
        unsubscribe();
        resolve(job);
      } else if (result.error) {
        unsubscribe();
        reject(result.error);
      }
    };
    unsubscribe = observer.subscribe(check);
    check();
  });
}
