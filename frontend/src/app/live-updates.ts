/**
 * Wires the one WebSocket (`/api/v1/ws`) into the app: job events into the jobs cache, metrics
 * into the system feature, connection state into the indicator; reconnects when the API key
 * changes. This is the only place that knows several features, by design of the app layer.
 * Not responsible for the reconnect policy (see `lib/live-socket.ts`).
 */
import type { QueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import type { ServerMessage } from "@/api/types";
import { applyJobSnapshot, applyJobUpdate, removeJobFromCache } from "@/features/jobs";
import { applyModelJobUpdate } from "@/features/models";
import { applySystemMetrics } from "@/features/system";
import { buildWebSocketUrl } from "@/lib/api-client";
import { useApiKeyStore } from "@/lib/api-key-store";
import { useConnectionStore } from "@/lib/connection-store";
import {
  refreshListsForDeletedJob,
  refreshListsForJob,
  rememberJobs,
} from "@/lib/job-list-freshness";
import { LiveSocket, reconnectWhenBack } from "@/lib/live-socket";

/** Close codes a server uses to refuse a connection for a missing or wrong API key. */
const AUTH_CLOSE_CODES = new Set([1008, 4001, 4401, 4403]);

export function handleServerMessage(queryClient: QueryClient, message: ServerMessage): void {
  switch (message.type) {
    case "snapshot":
      applyJobSnapshot(queryClient, message.jobs);
      rememberJobs(queryClient, message.jobs);
      for (const job of message.jobs) applyModelJobUpdate(queryClient, job);
      break;
    case "job.updated":
      applyJobUpdate(queryClient, message.job);
      applyModelJobUpdate(queryClient, message.job);
      refreshListsForJob(queryClient, message.job);  // rows made or finished elsewhere
      break;
    case "job.deleted":
      removeJobFromCache(queryClient, message.job_id);
      refreshListsForDeletedJob(queryClient, message.job_id);  // and the rows it went with
      break;
    case "system.metrics":
      applySystemMetrics(queryClient, message.system);
      break;
    default:
      break; // pong, error replies to our own messages, and types a newer server may add
  }
}

export function createLiveSocket(queryClient: QueryClient): LiveSocket {
  const connection = useConnectionStore.getState();
  return new LiveSocket({
    url: () => buildWebSocketUrl("/ws"),
    onMessage: (message) => handleServerMessage(queryClient, message),
    onStatus: connection.setStatus,
    onOpen: (send) => send({ type: "subscribe", job_ids: null, system: true }),
    onClose: (code) => {
      if (AUTH_CLOSE_CODES.has(code)) useApiKeyStore.getState().markKeyRequired();
    },
  });
}

/** Keeps one live socket open for the lifetime of the component that calls it. */
export function useLiveUpdates(queryClient: QueryClient): void {
  const keyRevision = useApiKeyStore((s) => s.revision);

  useEffect(() => {
    const socket = createLiveSocket(queryClient);
    const connection = useConnectionStore.getState();
    connection.setReconnectNow(() => socket.reconnectNow());
    const stopListening = reconnectWhenBack(socket);
    socket.start();
    return () => {
      stopListening();
      connection.setReconnectNow(null);
      socket.stop();
    };
  }, [queryClient, keyRevision]);
}
