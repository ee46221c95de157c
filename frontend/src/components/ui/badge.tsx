/**
 * A small coloured label (states, tags). Not responsible for mapping domain values to tones.
 */
import type { ReactNode } from "react";

export type BadgeTone = "neutral" | "info" | "active" | "success" | "warning" | "danger" | "muted";

export function Badge({ tone = "neutral", children }: { tone?: BadgeTone; children: ReactNode }) {
  return <span className={`badge badge--${tone}`}>{children}</span>;
}
