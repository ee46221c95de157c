/**
 * Vite + Vitest configuration for the Interp Studio web UI.
 *
 * Builds into the Python package (`src/interpstudio/api/ui_dist`) so the backend serves the UI at
 * `/`; the dev server proxies `/api` (HTTP and WebSocket) to a backend on 127.0.0.1:8000.
 * Not responsible for the Playwright browser test (see playwright.config.ts).
 */
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

const backendUrl = process.env.INTERPSTUDIO_BACKEND_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  resolve: {
    alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) },
  },
  build: {
    outDir: "../src/interpstudio/api/ui_dist",
    emptyOutDir: true,
    sourcemap: false,
  },
  server: {
    proxy: {
      "/api": { target: backendUrl, ws: true },
    },
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
