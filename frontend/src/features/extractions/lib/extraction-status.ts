/**
 * Extraction status -> badge tone, and which actions each status allows (mirrors the server's
 * rules; the server still answers 409 for anything else). Not responsible for rendering.
 */
import type { BadgeTone } from "@/components/ui/badge";

export function statusTone(status: string): BadgeTone {
  switch (status) {
    case "complete":
      return "success";
    case "running":
      return "active";
    case "queued":
      return "info";
    case "failed":
      return "danger";
    case "cancelled":
    case "interrupted":
    case "partial":
      return "warning";
    default:
      return "neutral";
  }
}

/** The row's status, or the live job's when the job is further along (the row is written at the
 * start and the end of a run; the job row moves in between). */
export function displayStatus(rowStatus: string, jobState: string | null | undefined): string {
  if (jobState === "running" && (rowStatus === "queued" || rowStatus === "running")) return "running";
  if (jobState === "queued" && rowStatus !== "queued") return "queued";
  return rowStatus;
}

/** A complete run (its job succeeded) offers no Retry: the server refuses it, as it would delete
 * the complete store to compute the same again (found by a browser walk). */
export function allowedActions(jobState: string | null | undefined): string[] {
  if (jobState === "queued" || jobState === "running") return ["cancel"];
  if (jobState === "succeeded") return ["delete"];
  if (jobState === "cancelled" || jobState === "interrupted" || jobState === "failed")
    return ["resume", "retry", "delete"];
  return ["delete"];
}
