/**
 * The fidelity badge: does the captured `resid_post` equal HF's `output_hidden_states` (max-abs in
 * fp32 on a probe text)? Not responsible for measuring it (the model's job did).
 */
import { Badge } from "@/components/ui/badge";
import type { Model } from "../types";

type Fidelity = { exact?: boolean; max_abs?: number; cosine?: number; tolerance?: number };

export function FidelityBadge({ fidelity }: { fidelity: Model["fidelity"] }) {
  if (!fidelity) return null;
  const { exact, max_abs: maxAbs, cosine } = fidelity as Fidelity;
  const detail = `max |Δ| ${maxAbs?.toExponential(1) ?? "?"}, cos ${cosine?.toFixed(6) ?? "?"}`;
  return (
    <span title={`hooked resid_post vs output_hidden_states: ${detail}`}>
      <Badge tone={exact ? "success" : "danger"}>{exact ? "hooks exact" : "hooks drift"}</Badge>{" "}
      <span className="muted num">{detail}</span>
    </span>
  );
}
