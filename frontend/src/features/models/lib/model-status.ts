/**
 * What a model's status means for the UI: its badge tone, whether work is in progress, and which
 * actions apply. Not responsible for performing them.
 */
import type { BadgeTone } from "@/components/ui/badge";
import type { Model } from "../types";

const TONES: Record<string, BadgeTone> = {
  queued: "muted",
  downloading: "active",
  importing: "active",
  inspecting: "active",
  ready: "success",
  failed: "danger",
  cancelled: "muted",
  paused: "warning",
  interrupted: "warning",
};

export function statusTone(status: string): BadgeTone {
  return TONES[status] ?? "neutral";
}

export type ModelActionName = "pause" | "cancel" | "resume" | "retry" | "delete";

export function isWorking(model: Pick<Model, "status">): boolean {
  return ["queued", "downloading", "importing", "inspecting"].includes(model.status);
}

/** The actions a model's status allows, in button order. */
export function availableModelActions(model: Pick<Model, "status" | "source" | "job_id">):
  ModelActionName[] {
  if (isWorking(model)) return model.source === "hub" ? ["pause", "cancel"] : ["cancel"];
  if (model.status === "ready") return ["delete"];
  const canRun = model.job_id !== null;
  return [...(canRun ? (["resume", "retry"] as const) : []), "delete"];
}
