/**
 * Maps dataset/tokenization statuses to badge tones and says which are final.
 * Not responsible for rendering.
 */
import type { BadgeTone } from "@/components/ui/badge";

const TONES: Record<string, BadgeTone> = {
  queued: "info",
  importing: "active",
  running: "active",
  ready: "success",
  failed: "danger",
  cancelled: "muted",
  interrupted: "warning",
};

export function statusTone(status: string): BadgeTone {
  return TONES[status] ?? "neutral";
}

export function isSettled(status: string): boolean {
  return ["ready", "failed", "cancelled", "interrupted"].includes(status);
}
