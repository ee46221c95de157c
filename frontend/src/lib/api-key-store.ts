/**
 * The API key the user typed, kept in localStorage, plus whether the server asked for one.
 *
 * The HTTP client reads the key for the `X-API-Key` header and the WebSocket client for
 * `?api_key=`; a 401 flips `keyRequired` so the prompt appears. Not responsible for rendering
 * the prompt (see `features/auth`) nor for validating keys (only the server can).
 */
import { create } from "zustand";

export const API_KEY_STORAGE_KEY = "interpstudio.apiKey";

function readStoredKey(): string | null {
  try {
    return globalThis.localStorage?.getItem(API_KEY_STORAGE_KEY) || null;
  } catch {
    return null; // storage disabled (private mode, sandboxed frame): the key lives for this tab only
  }
}

function writeStoredKey(key: string | null): void {
  try {
    if (key) globalThis.localStorage?.setItem(API_KEY_STORAGE_KEY, key);
    else globalThis.localStorage?.removeItem(API_KEY_STORAGE_KEY);
  } catch {
    // see readStoredKey
  }
}

type ApiKeyState = {
  apiKey: string | null;
  /** True once the server answered 401: the stored key (if any) is missing or wrong. */
  keyRequired: boolean;
  /** Bumped on every key change so long-lived connections know to reconnect. */
  revision: number;
  saveApiKey: (key: string) => void;
  markKeyRequired: () => void;
};

export const useApiKeyStore = create<ApiKeyState>()((set) => ({
  apiKey: readStoredKey(),
  keyRequired: false,
  revision: 0,
  saveApiKey: (key) => {
    const trimmed = key.trim();
    writeStoredKey(trimmed || null);
    set((s) => ({ apiKey: trimmed || null, keyRequired: false, revision: s.revision + 1 }));
  },
  markKeyRequired: () => set({ keyRequired: true }),
}));

/** Re-reads localStorage; for tests that start from a known storage state. */
export function reloadApiKeyFromStorage(): void {
  useApiKeyStore.setState({ apiKey: readStoredKey(), keyRequired: false });
}
