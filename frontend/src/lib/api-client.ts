/**
 * The one HTTP client for `/api/v1`: JSON in and out, the API key header, typed errors.
 *
 * Every non-2xx answer becomes an `ApiError` carrying the server's `{error: {code, message,
 * details}}`; a 401 also tells the API-key store that a key is needed. Not responsible for caching
 * or retries (TanStack Query does that) nor for the WebSocket (see `live-socket.ts`).
 */
import type { ErrorBody } from "@/api/types";
import { useApiKeyStore } from "@/lib/api-key-store";

export const API_PREFIX = "/api/v1";

let apiOrigin = "";

/** Points the client at another origin (tests run a real server on a random port). */
export function setApiOrigin(origin: string): void {
  apiOrigin = origin.replace(/\/$/, "");
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(status: number, code: string, message: string, details: Record<string, unknown>) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export type QueryValue = string | number | boolean | null | undefined | readonly (string | number)[];

export type RequestOptions = {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  query?: Record<string, QueryValue>;
  body?: unknown;
  signal?: AbortSignal;
};

/** `?a=1&state=x&state=y`, skipping null/undefined/empty values. */
export function buildQueryString(query: Record<string, QueryValue> | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === null || value === undefined || value === "") continue;
    const values = Array.isArray(value) ? value : [value];
    for (const item of values) params.append(name, String(item));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

async function readErrorBody(response: Response): Promise<ErrorBody["error"] | null> {
  try {
    const body = (await response.json()) as Partial<ErrorBody>;
    return body.error && typeof body.error.code === "string" ? body.error : null;
  } catch {
    return null;
  }
}

export async function apiRequest<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const { method = "GET", query, body, signal } = options;
  const headers: Record<string, string> = { Accept: "application/json" };
  const apiKey = useApiKeyStore.getState().apiKey;
  if (apiKey) headers["X-API-Key"] = apiKey;
  if (body !== undefined) headers["Content-Type"] = "application/json";

  const url = `${apiOrigin}${API_PREFIX}${path}${buildQueryString(query)}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (cause) {
    if (signal?.aborted) throw cause;
    throw new ApiError(
      0,
      "network_error",
      `Could not reach the Interp Studio server (${method} ${path}). ` +
        "Check that `interpstudio serve` is running and reachable.",
      { cause: String(cause) },
    );
  }

  if (response.status === 401) useApiKeyStore.getState().markKeyRequired();
  if (!response.ok) {
    const error = await readErrorBody(response);
    throw new ApiError(
      response.status,
      error?.code ?? `http_${response.status}`,
      error?.message ?? `${method} ${path} failed with HTTP ${response.status}.`,
      error?.details ?? {},
    );
  }
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/** Absolute `ws://` / `wss://` URL for an API path, with `?api_key=` when a key is set. */
export function buildWebSocketUrl(path: string, location: Location = window.location): string {
  const base = apiOrigin || location.origin;
  const url = new URL(`${API_PREFIX}${path}`, base);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const apiKey = useApiKeyStore.getState().apiKey;
  if (apiKey) url.searchParams.set("api_key", apiKey);
  return url.toString();
}
