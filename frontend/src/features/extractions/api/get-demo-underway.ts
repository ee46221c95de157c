/**
 * `useDemoUnderway`: the demo's extraction queued or running on the server, wherever it was
 * started (`interpstudio demo` in a terminal, another tab, this tab before a reload), so the demo
 * button shows it as running with a link instead of offering "Run the demo", whose click would
 * only open that same run. The server marks no extraction as "the demo": it is recognised by the
 * rule the button's own run reuses one by (`demo-steps.ts`): the demo's request (`isDemoRequest`)
 * of the bundled model and the bundled text's demo tokenization (`isDemoOf`). One request when
 * nothing is under way (`GET /extractions?status=queued&status=running`); its key is an
 * extraction list's, so an extract job's start or end (a job event) asks again.
 * Not responsible for drawing it (`components/demo-button.tsx`).
 */
import { queryOptions, useQuery } from "@tanstack/react-query";
import { apiRequest } from "@/lib/api-client";
import type { Extraction, ExtractionList } from "../types";
import { isDemoOf, isDemoRequest } from "./demo-steps";
import { extractionKeys } from "./extraction-keys";

const UNDERWAY: ReadonlySet<string> = new Set(["queued", "running"]);

export async function getDemoUnderway(signal?: AbortSignal): Promise<Extraction | null> {
  const list = await apiRequest<ExtractionList>("/extractions", {
    query: { status: [...UNDERWAY], limit: 200 }, signal });
  const candidates = list.items.filter((e) => UNDERWAY.has(e.status) && isDemoRequest(e))
    .sort((a, b) => b.id - a.id);  // newest first
  for (const extraction of candidates) {
    if (await isDemoOf(extraction.model_id, extraction.tokenization_id, signal)) return extraction;
  }
  return null;
}

export function demoUnderwayQueryOptions() {
  return queryOptions({
    queryKey: extractionKeys.list({ demo: "underway" }),
    queryFn: ({ signal }) => getDemoUnderway(signal),
  });
}

/** `enabled`: false while this tab's own demo run is shown (its steps say more). */
export function useDemoUnderway(enabled: boolean) {
  return useQuery({ ...demoUnderwayQueryOptions(), enabled });
}
