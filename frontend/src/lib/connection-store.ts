/**
 * Live-connection state for the UI (the connection indicator reads it; the socket writes it).
 *
 * Not responsible for the socket itself (see `live-socket.ts`) nor for events' payloads.
 */
import { create } from "zustand";
import type { ConnectionStatus } from "@/lib/live-socket";

type ConnectionState = {
  status: ConnectionStatus;
  /** Set by whoever owns the socket; the indicator's "retry now" calls it. */
  reconnectNow: (() => void) | null;
  setStatus: (status: ConnectionStatus) => void;
  setReconnectNow: (reconnect: (() => void) | null) => void;
};

export const useConnectionStore = create<ConnectionState>()((set) => ({
  status: { state: "idle" },
  reconnectNow: null,
  setStatus: (status) => set({ status }),
  setReconnectNow: (reconnectNow) => set({ reconnectNow }),
}));
