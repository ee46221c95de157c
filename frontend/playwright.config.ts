/**
 * Playwright configuration for the one browser test (`npm run e2e`).
 *
 * Uses the system Chromium (Debian's /usr/bin/chromium, or CHROMIUM_PATH); never downloads a
 * browser. The test starts the real backend itself (see e2e/backend-server.ts). Not responsible
 * for building the UI: `npm run e2e` runs `vite build` first.
 */
import { defineConfig } from "@playwright/test";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export default defineConfig({
  testDir: "e2e",
  timeout: 180_000,
  expect: { timeout: 20_000 },
  workers: 1,
  fullyParallel: false,
  forbidOnly: true,
  retries: 0,
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    headless: true,
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: CHROMIUM_ARGS,
    },
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
});
