/**
 * Shows whether live updates are flowing: "Live", "Connecting…", or "Reconnecting in N s" with a
 * button to retry at once. Not responsible for the socket (it only reads the connection store).
 */
import { useEffect, useState } from "react";
import { useConnectionStore } from "@/lib/connection-store";

function useSecondsUntil(deadline: number | null): number | null {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (deadline === null) return;
    setNow(Date.now());
    // A countdown display tick, not a data poll.
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [deadline]);
  return deadline === null ? null : Math.max(0, Math.ceil((deadline - now) / 1000));
}

export function ConnectionIndicator() {
  const status = useConnectionStore((s) => s.status);
  const reconnectNow = useConnectionStore((s) => s.reconnectNow);
  const seconds = useSecondsUntil(status.state === "waiting" ? status.retryAt : null);

  let tone: "ok" | "pending" | "down";
  let text: string;
  switch (status.state) {
    case "open":
      tone = "ok";
      text = "Live";
      break;
    case "connecting":
      tone = "pending";
      text = status.attempt === 0 ? "Connecting…" : `Connecting… (attempt ${status.attempt + 1})`;
      break;
    case "waiting":
      tone = "down";
      text = `Reconnecting in ${seconds ?? 0} s`;
      break;
    default:
      tone = "down";
      text = "Offline";
  }

  return (
    <div className={`connection connection--${tone}`} role="status" aria-live="polite">
      <span className="connection__dot" aria-hidden="true" />
      <span className="connection__text" data-testid="connection-state">
        {text}
      </span>
      {status.state === "waiting" && reconnectNow && (
        <button type="button" className="connection__retry" onClick={reconnectNow}>
          Retry now
        </button>
      )}
    </div>
  );
}
