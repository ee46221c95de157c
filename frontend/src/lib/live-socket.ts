/**
 * A WebSocket that stays connected: reconnects with backoff and jitter, pings to notice dead
 * connections, and reports its state for the connection indicator. `reconnectWhenBack` skips a
 * pending backoff when the window regains focus, its tab is shown again or the browser comes
 * back online.
 *
 * It knows the wire format only as far as `ServerMessage`/`ClientMessage`; what an event means for
 * jobs or metrics is decided by the caller's `onMessage`. Not responsible for rendering nor for
 * the query cache.
 */
import type { ClientMessage, ServerMessage } from "@/api/types";
import { type BackoffOptions, DEFAULT_BACKOFF, reconnectDelayMs } from "@/lib/backoff";

// WebSocket.readyState values, spelled out so the class also runs where no global WebSocket exists.
const OPEN = 1;
const CLOSED = 3;

export type ConnectionStatus =
  | { state: "idle" }
  | { state: "connecting"; attempt: number }
  | { state: "open" }
  | { state: "waiting"; attempt: number; retryAt: number; lastCloseCode: number | null };

export type LiveSocketOptions = {
  /** Called before every connect, so a new API key is picked up. */
  url: () => string;
  onMessage: (message: ServerMessage) => void;
  onStatus?: (status: ConnectionStatus) => void;
  /** Called after every (re)connect, e.g. to send the subscription. */
  onOpen?: (send: (message: ClientMessage) => void) => void;
  /** Called with the close code of every closed connection (e.g. to detect auth refusals). */
  onClose?: (code: number) => void;
  backoff?: BackoffOptions;
  random?: () => number;
  /** Interval between pings; 0 disables them. */
  pingIntervalMs?: number;
  /** A connection silent for this long (no message, no pong) is closed and replaced. */
  staleAfterMs?: number;
  createSocket?: (url: string) => WebSocket;
};

export class LiveSocket {
  private readonly options: LiveSocketOptions;
  private socket: WebSocket | null = null;
  private attempt = 0;
  private running = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastMessageAt = 0;
  private status: ConnectionStatus = { state: "idle" };

  constructor(options: LiveSocketOptions) {
    this.options = options;
  }

  get currentStatus(): ConnectionStatus {
    return this.status;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  stop(): void {
    this.running = false;
    this.clearTimers();
    this.dropSocket();
    this.setStatus({ state: "idle" });
  }

  /** Skip the remaining backoff (or replace the live connection, e.g. after a key change). */
  reconnectNow(): void {
    if (!this.running) return;
    this.clearTimers();
    this.dropSocket();
    this.attempt = 0;
    this.connect();
  }

  /** Reconnect at once if the socket is waiting out a backoff; an open connection, or one being
   * made, is left alone. */
  reconnectIfWaiting(): void {
    if (this.status.state === "waiting") this.reconnectNow();
  }

  send(message: ClientMessage): boolean {
    if (this.socket?.readyState !== OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  private connect(): void {
    this.setStatus({ state: "connecting", attempt: this.attempt });
    const create = this.options.createSocket ?? ((url: string) => new WebSocket(url));
    let socket: WebSocket;
    try {
      socket = create(this.options.url());
    } catch {
      this.scheduleReconnect(null);
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (socket !== this.socket) return;
      this.lastMessageAt = Date.now();
      this.setStatus({ state: "open" });
      this.startPinging();
      this.options.onOpen?.((message) => this.send(message));
    };
    socket.onmessage = (event: MessageEvent) => {
      if (socket !== this.socket) return;
      this.lastMessageAt = Date.now();
      // Only a message proves the server accepted us; a connection refused right after the
      // handshake (bad key) must keep backing off instead of retrying at the first delay.
      this.attempt = 0;
      const message = parseServerMessage(event.data);
      if (message) this.options.onMessage(message);
    };
    socket.onclose = (event: CloseEvent) => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.options.onClose?.(event.code);
      this.scheduleReconnect(event.code);
    };
    // onerror is always followed by onclose, which does the work.
    socket.onerror = () => undefined;
  }

  private scheduleReconnect(closeCode: number | null): void {
    this.clearTimers();
    if (!this.running) return;
    const delay = reconnectDelayMs(
      this.attempt,
      this.options.backoff ?? DEFAULT_BACKOFF,
      this.options.random,
    );
    this.attempt += 1;
    this.setStatus({
      state: "waiting",
      attempt: this.attempt,
      retryAt: Date.now() + delay,
      lastCloseCode: closeCode,
    });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.running) this.connect();
    }, delay);
  }

  private startPinging(): void {
    const interval = this.options.pingIntervalMs ?? 20_000;
    if (interval <= 0) return;
    const staleAfter = this.options.staleAfterMs ?? interval * 3;
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastMessageAt > staleAfter) {
        // Half-open connection (laptop slept, proxy dropped it): replace it.
        const stale = this.socket;
        this.socket = null;
        stale?.close();
        this.scheduleReconnect(null);
        return;
      }
      this.send({ type: "ping" });
    }, interval);
  }

  private dropSocket(): void {
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState !== CLOSED) socket.close();
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.retryTimer = null;
    this.pingTimer = null;
  }

  private setStatus(status: ConnectionStatus): void {
    this.status = status;
    this.options.onStatus?.(status);
  }
}

/** The parts of `window` that `reconnectWhenBack` listens to. */
export type ReturnEvents = Pick<Window, "addEventListener" | "removeEventListener"> & {
  document: Pick<Document, "addEventListener" | "removeEventListener" | "visibilityState">;
};

/**
 * Reconnect `socket` at once, skipping its backoff, when the user comes back to the page: the
 * window regains focus, its tab becomes visible, or the browser is online again. The pages showed
 * stale state for the rest of a backoff started while the server restarted or the network was
 * down. Returns the function that stops listening.
 */
export function reconnectWhenBack(
  socket: Pick<LiveSocket, "reconnectIfWaiting">,
  target: ReturnEvents = window,
): () => void {
  const onBack = () => {
    if (target.document.visibilityState !== "hidden") socket.reconnectIfWaiting();
  };
  target.addEventListener("focus", onBack);
  target.addEventListener("online", onBack);
  target.document.addEventListener("visibilitychange", onBack);
  return () => {
    target.removeEventListener("focus", onBack);
    target.removeEventListener("online", onBack);
    target.document.removeEventListener("visibilitychange", onBack);
  };
}

/** Parses one frame; unknown or malformed frames are ignored (a newer server may add types). */
export function parseServerMessage(data: unknown): ServerMessage | null {
  if (typeof data !== "string") return null;
  try {
    const message = JSON.parse(data) as { type?: unknown };
    return typeof message?.type === "string" ? (message as ServerMessage) : null;
  } catch {
    return null;
  }
}
