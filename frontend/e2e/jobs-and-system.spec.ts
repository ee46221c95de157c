/**
 * The browser test: the real backend (`interpstudio serve`, fresh data dir) serving the built UI,
 * driven in the system Chromium. A slow selftest's progress bar must move at least twice with no
 * reload (WebSocket push), a second slow selftest must end "cancelled" after clicking Cancel (the
 * table fitting an 800 px window on the way), and the System page must show CPU %.
 */
import { expect, type Locator, type Page, test } from "@playwright/test";
import { type Backend, startBackend } from "./backend-server";

let backend: Backend;

test.beforeAll(async () => {
  backend = await startBackend();
});

test.afterAll(async () => {
  await backend?.stop();
});

test.afterEach(async ({}, testInfo) => {
  if (testInfo.status !== testInfo.expectedStatus) {
    await testInfo.attach("backend-log", { body: backend.logs(), contentType: "text/plain" });
  }
});

async function runSelftest(page: Page, iterations: number, stepDelayS: number): Promise<number> {
  await page.getByLabel("Iterations").fill(String(iterations));
  await page.getByLabel("Step delay (s)").fill(String(stepDelayS));
  const [response] = await Promise.all([
    page.waitForResponse(
      (r) => r.url().endsWith("/api/v1/selftest") && r.request().method() === "POST",
    ),
    page.getByRole("button", { name: "Run selftest" }).click(),
  ]);
  expect(response.status()).toBe(201);
  const job = (await response.json()) as { id: number };
  return job.id;
}

async function progressValue(row: Locator): Promise<number | null> {
  const value = await row.getByRole("progressbar").getAttribute("aria-valuenow");
  return value === null ? null : Number(value);
}

/** Watches the bar (DOM only, no requests) until it has moved up `increases` times. */
async function watchProgressIncrease(row: Locator, increases: number, timeoutMs: number) {
  const seen: number[] = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await progressValue(row);
    const last = seen.at(-1);
    if (value !== null && (last === undefined || value > last)) seen.push(value);
    if (seen.length > increases) return seen;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`progress bar moved ${seen.length - 1} times (values ${seen.join(", ")})`);
}

test("selftest progress is live, cancel works, system shows CPU", async ({ page }) => {
  let documentLoads = 0;
  page.on("load", () => {
    documentLoads += 1;
  });

  await page.goto(backend.url);
  await expect(page.getByRole("heading", { name: "Welcome to Interp Studio" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Run the demo" })).toBeVisible();
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Jobs" }).click();
  await expect(page).toHaveURL(/\/jobs$/);
  await expect(page.getByRole("heading", { name: "Jobs" })).toBeVisible();
  await expect(page.getByTestId("connection-state")).toHaveText("Live");

  // 1. A slow selftest: its bar must move at least twice, pushed over the WebSocket.
  const slowId = await runSelftest(page, 40, 0.1);
  const slowRow = page.getByTestId(`job-row-${slowId}`);
  await expect(slowRow).toBeVisible();
  const values = await watchProgressIncrease(slowRow, 2, 90_000);
  expect(values.length).toBeGreaterThanOrEqual(3);
  await expect(slowRow.getByTestId("job-state")).toHaveAttribute("data-state", "succeeded", {
    timeout: 90_000,
  });
  await expect(slowRow.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "100");

  // 2. Another slow selftest, cancelled while it runs.
  const cancelId = await runSelftest(page, 400, 0.1);
  const cancelRow = page.getByTestId(`job-row-${cancelId}`);
  await expect(cancelRow.getByTestId("job-state")).toHaveAttribute("data-state", "running", {
    timeout: 60_000,
  });
  // at a small laptop's width the button is on screen, not past the wide columns (found by a
  // tester: at 1280 px the Actions column was scrolled out of the table's box)
  await page.setViewportSize({ width: 1024, height: 720 });
  await expect(cancelRow.getByRole("button", { name: "Cancel" })).toBeInViewport();
  // at an 800 px window the table fits its box: no sideways scroll, in the box or the page
  // (found by a walk), the least telling columns left out, never the kind, state, progress and
  // actions
  await page.setViewportSize({ width: 800, height: 720 });
  await expect.poll(() => page.evaluate(() => {
    const box = document.querySelector(".jobs-table .table-scroll") as HTMLElement;
    const doc = document.scrollingElement as HTMLElement;
    return [box.scrollWidth - box.clientWidth, doc.scrollWidth - doc.clientWidth];
  })).toEqual([0, 0]);
  await expect(page.getByTestId("jobs-table-note")).toBeVisible();  // says where the rest is
  for (const part of [cancelRow.locator(".cell-kind"), cancelRow.getByTestId("job-state"),
    cancelRow.getByRole("progressbar"), cancelRow.getByRole("button", { name: "Cancel" })]) {
    await expect(part).toBeInViewport();
  }
  await expect(cancelRow.locator(".cell-kind")).toContainText("selftest");
  await page.setViewportSize({ width: 1280, height: 720 });
  await cancelRow.getByRole("button", { name: "Cancel" }).click();
  await expect(cancelRow.getByTestId("job-state")).toHaveAttribute("data-state", "cancelled", {
    timeout: 30_000,
  });
  await expect(cancelRow.getByRole("button", { name: "Resume" })).toBeVisible();

  // 3. The detail drawer shows the cancelled job's params.
  await cancelRow.getByRole("link", { name: `Open job ${cancelId}` }).click();
  const drawer = page.getByRole("dialog", { name: "Details" });
  await expect(drawer.getByLabel("Job params")).toContainText('"iterations": 400');
  await drawer.getByRole("button", { name: "Close details" }).click();

  // 4. System page: CPU % from the initial GET and live metrics.
  await page.getByRole("link", { name: "System" }).click();
  await expect(page.getByTestId("cpu-percent")).toHaveText(/^\d+(\.\d)? %$/);

  expect(documentLoads).toBe(1); // everything above arrived without a reload
});

test("the API docs render offline from the build's own Swagger UI", async ({ page }) => {
  const outside: string[] = [];
  page.on("request", (request) => {
    if (!request.url().startsWith(backend.url) && !request.url().startsWith("data:")) {
      outside.push(request.url());
    }
  });
  await page.goto(`${backend.url}/docs`);
  await expect(page.getByRole("heading", { name: /Interp Studio/ })).toBeVisible();
  await expect(page.getByText("/api/v1/jobs", { exact: true }).first()).toBeVisible();
  expect(outside).toEqual([]); // no CDN: the page works on a machine without internet
});
