/**
 * The reconnect schedule: exponential backoff with a cap and jitter, as a pure function.
 *
 * Jitter spreads many browser tabs' reconnects after a server restart so they do not arrive in
 * lockstep. The cap is low (3 s): every page shows the state of the last event until the socket
 * is back, so after a server restart a 30 s cap (~14 s waits by the 5th try) left the pages stale
 * that long; a retry every 3 s per tab costs the server nothing. Not responsible for timers or
 * sockets (see `live-socket.ts`), nor for reconnecting at once when the window comes back
 * (`live-updates.ts`).
 */

export type BackoffOptions = {
  /** Delay before the first retry, before jitter. */
  initialMs: number;
  /** Upper bound of any delay. */
  maxMs: number;
  /** Growth per failed attempt. */
  factor: number;
  /** 0..1: the delay is drawn uniformly from [base * (1 - jitter), base]. */
  jitter: number;
};

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialMs: 500,
  maxMs: 3_000,
  factor: 2,
  jitter: 0.3,
};

/**
 * Milliseconds to wait before reconnect attempt number `attempt` (0 = first retry).
 * `random` returns values in [0, 1), as Math.random does; injected so tests are deterministic.
 */
export function reconnectDelayMs(
  attempt: number,
  options: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const safeAttempt = Math.max(0, Math.floor(attempt));
  const base = Math.min(options.maxMs, options.initialMs * options.factor ** safeAttempt);
  const jitter = Math.min(1, Math.max(0, options.jitter));
  return Math.round(base * (1 - jitter * random()));
}
