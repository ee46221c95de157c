// @vitest-environment node
/**
 * LiveSocket against a real WebSocket server (the `ws` package on a random port): subscription on
 * connect, message delivery, reconnect with growing backoff, close codes. Runs in the node
 * environment with the `ws` client, because jsdom's WebSocket mixes two realms' Event classes.
 */
import type { AddressInfo } from "node:net";
import { type WebSocket as ServerSocket, WebSocket as WsClient, WebSocketServer } from "ws";
import type { ServerMessage } from "@/api/types";
import {
  type ConnectionStatus,
  LiveSocket,
  type ReturnEvents,
  reconnectWhenBack,
} from "@/lib/live-socket";

type Server = {
  url: string;
  wss: WebSocketServer;
  received: unknown[];
  /** The index in `connections` of the connection each `received` message came on. */
  receivedOn: number[];
  connections: ServerSocket[];
};

async function startServer(onConnection: (socket: ServerSocket) => void): Promise<Server> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  const server: Server = {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/api/v1/ws`,
    wss,
    received: [],
    receivedOn: [],
    connections: [],
  };
  wss.on("connection", (socket) => {
    const index = server.connections.push(socket) - 1;
    socket.on("message", (data) => {
      server.received.push(JSON.parse(String(data)));
      server.receivedOn.push(index);
    });
    onConnection(socket);
  });
  return server;
}

async function waitUntil(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const createSocket = (url: string) => new WsClient(url) as unknown as WebSocket;

const fastBackoff = { initialMs: 20, maxMs: 200, factor: 2, jitter: 0 };

describe("LiveSocket", () => {
  let server: Server | null = null;
  let live: LiveSocket | null = null;

  afterEach(async () => {
    live?.stop();
    live = null;
    if (server) await new Promise((resolve) => server?.wss.close(resolve));
    server = null;
  });

  it("test_subscribes_and_delivers_messages_on_connect", async () => {
    server = await startServer((socket) => socket.send(JSON.stringify({ type: "snapshot", jobs: [] })));
    const messages: ServerMessage[] = [];
    const statuses: ConnectionStatus["state"][] = [];
    const url = server.url;
    live = new LiveSocket({
      url: () => url,
      createSocket,
      onMessage: (m) => messages.push(m),
      onStatus: (s) => statuses.push(s.state),
      onOpen: (send) => send({ type: "subscribe", job_ids: null, system: true }),
      pingIntervalMs: 0,
    });
    live.start();
    await waitUntil(() => messages.length === 1 && server!.received.length === 1);
    expect(messages[0]).toEqual({ type: "snapshot", jobs: [] });
    expect(server.received[0]).toEqual({ type: "subscribe", job_ids: null, system: true });
    expect(statuses).toEqual(["connecting", "open"]);
  });

  it("test_reconnects_after_server_drops_connection", async () => {
    server = await startServer((socket) => socket.send(JSON.stringify({ type: "snapshot", jobs: [] })));
    const statuses: ConnectionStatus[] = [];
    let snapshots = 0;
    const url = server.url;
    live = new LiveSocket({
      url: () => url,
      createSocket,
      onMessage: (m) => {
        if (m.type === "snapshot") snapshots += 1;
      },
      onStatus: (s) => statuses.push(s),
      onOpen: (send) => send({ type: "subscribe", job_ids: null, system: true }),
      backoff: fastBackoff,
      pingIntervalMs: 0,
    });
    live.start();
    await waitUntil(() => snapshots === 1);
    server.connections[0]?.terminate();
    await waitUntil(() => snapshots === 2);
    const waiting = statuses.filter((s) => s.state === "waiting");
    expect(waiting).toHaveLength(1);
    // subscribed again on the new connection (it may reach the server after its snapshot left;
    // the first connection's may never have: it was cut as soon as its snapshot arrived)
    await waitUntil(() => server!.receivedOn.includes(1));
    expect(server.received[server.receivedOn.indexOf(1)]).toEqual(
      { type: "subscribe", job_ids: null, system: true });
  });

  it("test_backoff_grows_while_server_refuses", async () => {
    server = await startServer((socket) => socket.close(4401, "unauthorized"));
    const waitingAttempts: number[] = [];
    const delays: number[] = [];
    const closeCodes: number[] = [];
    const url = server.url;
    live = new LiveSocket({
      url: () => url,
      createSocket,
      onMessage: () => undefined,
      onStatus: (s) => {
        if (s.state !== "waiting") return;
        waitingAttempts.push(s.attempt);
        delays.push(s.retryAt - Date.now());
      },
      onClose: (code) => closeCodes.push(code),
      backoff: fastBackoff,
      pingIntervalMs: 0,
    });
    live.start();
    await waitUntil(() => waitingAttempts.length >= 4);
    live.stop();
    expect(waitingAttempts.slice(0, 4)).toEqual([1, 2, 3, 4]);
    // 20, 40, 80, 160 ms (no jitter); allow a few ms for the clock between the two reads.
    expect(delays.slice(0, 4).map((d) => Math.round(d / 10) * 10)).toEqual([20, 40, 80, 160]);
    expect(closeCodes.slice(0, 4)).toEqual([4401, 4401, 4401, 4401]);
  });

  /** A socket whose backoff would wait a minute, its states recorded in ``states``. */
  function waitingLong(url: string, states: ConnectionStatus["state"][]): LiveSocket {
    return new LiveSocket({
      url: () => url,
      createSocket,
      onMessage: () => undefined,
      onStatus: (s) => states.push(s.state),
      backoff: { initialMs: 60_000, maxMs: 60_000, factor: 1, jitter: 0 },
      pingIntervalMs: 0,
    });
  }

  it("test_reconnect_now_skips_the_wait", async () => {
    server = await startServer((socket) => socket.close(1011, "try later"));
    const states: ConnectionStatus["state"][] = [];
    live = waitingLong(server.url, states);
    live.start();
    await waitUntil(() => states.includes("waiting"));
    live.reconnectNow();
    await waitUntil(() => server!.connections.length === 2);
  });

  /** A window stand-in made of real EventTargets (this file runs in node, without a DOM). */
  type WindowLike = ReturnEvents & EventTarget & { shown: (state: DocumentVisibilityState) => void };

  function windowLike(): WindowLike {
    const win = new EventTarget();
    const doc = Object.assign(new EventTarget(), { visibilityState: "visible" as DocumentVisibilityState });
    return Object.assign(win, {
      document: doc,
      shown: (state: DocumentVisibilityState) => {
        doc.visibilityState = state;
        doc.dispatchEvent(new Event("visibilitychange"));
      },
    }) as unknown as WindowLike;
  }

  it("test_focus_online_or_a_shown_tab_skips_the_backoff", async () => {
    // a restarted server: the pages waited out the backoff (up to ~14 s) before showing anything
    server = await startServer((socket) => socket.close(1011, "restarting"));
    const states: ConnectionStatus["state"][] = [];
    live = waitingLong(server.url, states);
    const win = windowLike();
    const stop = reconnectWhenBack(live, win);
    live.start();
    let expected = 1;
    for (const comeBack of [() => win.dispatchEvent(new Event("focus")),
      () => win.dispatchEvent(new Event("online")), () => win.shown("visible")]) {
      await waitUntil(() => states.at(-1) === "waiting" && server!.connections.length === expected);
      comeBack();
      expected += 1;
      await waitUntil(() => server!.connections.length === expected);
    }
    await waitUntil(() => states.at(-1) === "waiting");
    win.shown("hidden");  // hidden: no one is looking, the backoff stands
    stop();
    win.dispatchEvent(new Event("focus"));  // no longer listening
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.connections).toHaveLength(expected);
  });

  it("test_coming_back_leaves_an_open_connection_alone", async () => {
    server = await startServer((socket) => socket.send(JSON.stringify({ type: "snapshot", jobs: [] })));
    let snapshots = 0;
    const url = server.url;
    live = new LiveSocket({
      url: () => url,
      createSocket,
      onMessage: () => { snapshots += 1; },
      pingIntervalMs: 0,
    });
    const win = windowLike();
    const stop = reconnectWhenBack(live, win);
    live.start();
    await waitUntil(() => snapshots === 1);
    win.dispatchEvent(new Event("focus"));
    win.dispatchEvent(new Event("online"));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.connections).toHaveLength(1);
    expect(live.currentStatus.state).toBe("open");
    stop();
  });
});
