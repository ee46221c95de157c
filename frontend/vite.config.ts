/**
 * Vite + Vitest configuration for the Interp Studio web UI.
 *
 * Builds into the Python package (`src/interpstudio/api/ui_dist`) so the backend serves the UI at
 * `/` (with Swagger UI's files for `/docs`); the dev server proxies `/api` (HTTP and WebSocket)
 * to a backend on 127.0.0.1:8000.
 * Not responsible for the Playwright browser test (see playwright.config.ts).
 */
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";

const backendUrl = process.env.INTERPSTUDIO_BACKEND_URL ?? "http://127.0.0.1:8000";

/** Swagger UI's script and style beside the build (`docs-assets/`), so the API's `/docs` works
 * on a machine without internet (FastAPI's default loads them from a CDN). */
function swaggerUiAssets(): Plugin {
  return {
    name: "interpstudio-swagger-ui-assets",
    apply: "build",
    writeBundle(options) {
      const from = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
      const to = join(options.dir ?? "dist", "docs-assets");
      mkdirSync(to, { recursive: true });
      for (const file of ["swagger-ui-bundle.js", "swagger-ui.css"]) {
        copyFileSync(join(from, file), join(to, file));
      }
    },
  };
}

export default defineConfig({
  plugins: [react(), swaggerUiAssets()],
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
