/**
 * `useEtaCountdown(etaS, asOf)`: a job's ETA counted down between its progress events.
 *
 * The server sends an ETA with each progress write; on a large model those come every ~20 s, so
 * shown as sent it sat still and then jumped. This counts it down from when this page received
 * the event (`asOf` changes with every event: the job's `updated_at`), second by second, never
 * below zero; an estimate that ran out before the next event reads "any moment", not a negative
 * or frozen time. The receipt time, not `updated_at`, is the start: the browser's clock need not
 * agree with the server's. Not responsible for the estimate itself (`jobs/reporter.py`) or for
 * receiving events.
 */
import { useEffect, useState } from "react";
import { formatEta, MISSING } from "@/lib/format";

export const ETA_RAN_OUT = "any moment";

/** Seconds left of `etaS` (counted from its arrival), or null when there is no estimate. */
export function useEtaCountdown(etaS: number | null | undefined, asOf: unknown): number | null {
  const [seen, setSeen] = useState(() => ({ etaS, asOf, at: Date.now() }));
  const [now, setNow] = useState(() => seen.at);
  if (seen.etaS !== etaS || seen.asOf !== asOf) {  // a new event: count from now
    const at = Date.now();
    setSeen({ etaS, asOf, at });
    setNow(at);
  }
  const counting = typeof etaS === "number" && Number.isFinite(etaS);
  useEffect(() => {
    if (!counting) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [counting, etaS, asOf]);
  if (!counting) return null;
  return Math.max(etaS - Math.max(now - seen.at, 0) / 1000, 0);
}

/** "1 m 05 s"; "any moment" once the estimate ran out; "—" without one. */
export function formatEtaLeft(seconds: number | null): string {
  if (seconds === null) return MISSING;
  return seconds <= 0 ? ETA_RAN_OUT : formatEta(seconds);
}
