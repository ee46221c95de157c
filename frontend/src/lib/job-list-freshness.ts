/**
 * Keeps open lists current with rows made or removed elsewhere (another tab, the CLI, the API):
 * every such row has a job, so a job event says when a list may have changed. A job seen for the
 * first time (made), a job whose state changes (it started, finished: it wrote its row) and a
 * deleted job mark stale the lists of the resource its kind makes; the lists on screen refetch,
 * the others when next shown. A running job's progress events (many a second) leave them alone:
 * only state changes count.
 *
 * Features never import each other, so resources are named by their query keys' prefixes (the
 * API's resource names), as `dependent-queries.ts` does. Not responsible for the jobs' own cache
 * (the jobs feature) nor for receiving events (`app/live-updates.ts`).
 */
import type { QueryClient } from "@tanstack/react-query";

type Prefix = readonly string[];

const MODEL_LISTS: readonly Prefix[] = [
  ["models", "list"], ["extractions", "pickers", "models"], ["datasets", "tokenizer-models"],
];
const DATASET_LISTS: readonly Prefix[] = [["datasets", "list"], ["extractions", "pickers", "datasets"]];
const TOKENIZATION_LISTS: readonly Prefix[] = [
  ["datasets", "tokenizations"], ["extractions", "pickers", "tokenizations"],
  ["datasets", "list"],  // a dataset card counts its tokenizations
];
const EXTRACTION_LISTS: readonly Prefix[] = [["extractions", "list"]];
/** The demo button's watch for a step of the demo under way elsewhere: one of the jobs of the
 * demo's four steps started or ended. */
const DEMO_UNDERWAY: Prefix = ["extractions", "demo-underway"];

/** The lists that may hold the row a job of this kind makes. */
export const LISTS_BY_JOB_KIND: Readonly<Record<string, readonly Prefix[]>> = {
  model_download: MODEL_LISTS,
  model_import: [...MODEL_LISTS, DEMO_UNDERWAY],
  dataset_import: [...DATASET_LISTS, DEMO_UNDERWAY],
  tokenize: [...TOKENIZATION_LISTS, DEMO_UNDERWAY],
  extract: [...EXTRACTION_LISTS, DEMO_UNDERWAY],
};

/** A deleted job of a kind we never saw, or a delete that took rows of other resources with it
 * (a forced model or dataset delete removes their tokenizations' and extractions' jobs). */
const EVERY_LIST: readonly Prefix[] = [
  ...MODEL_LISTS, ...DATASET_LISTS, ...TOKENIZATION_LISTS, ...EXTRACTION_LISTS, DEMO_UNDERWAY,
];

type Seen = { kind: string; state: string };
const seenByClient = new WeakMap<QueryClient, Map<number, Seen>>();

function seenJobs(queryClient: QueryClient): Map<number, Seen> {
  let seen = seenByClient.get(queryClient);
  if (!seen) {
    seen = new Map();
    seenByClient.set(queryClient, seen);
  }
  return seen;
}

function markStale(queryClient: QueryClient, prefixes: readonly Prefix[]): void {
  for (const prefix of new Set(prefixes)) {
    void queryClient.invalidateQueries({ queryKey: [...prefix] });
  }
}

/** Jobs already known (the snapshot on connect): remembered, so that their next progress event
 * is not taken for a new job; nothing is refetched here. */
export function rememberJobs(
  queryClient: QueryClient,
  jobs: readonly { id: number; kind: string; state: string }[],
): void {
  const seen = seenJobs(queryClient);
  for (const job of jobs) seen.set(job.id, { kind: job.kind, state: job.state });
}

/** A `job.updated` event: the lists of its kind are marked stale when it is new or its state
 * changed. */
export function refreshListsForJob(
  queryClient: QueryClient,
  job: { id: number; kind: string; state: string },
): void {
  const seen = seenJobs(queryClient);
  const before = seen.get(job.id);
  seen.set(job.id, { kind: job.kind, state: job.state });
  if (before?.state === job.state) return;
  const lists = LISTS_BY_JOB_KIND[job.kind];
  if (lists) markStale(queryClient, lists);
}

/** A `job.deleted` event: its row went with it, and maybe rows of other resources too. */
export function refreshListsForDeletedJob(queryClient: QueryClient, jobId: number): void {
  seenJobs(queryClient).delete(jobId);
  markStale(queryClient, EVERY_LIST);
}
