/**
 * The extractions browser test: the real backend (`interpstudio serve`, fresh data dir, embedded
 * worker) and the system Chromium. "Run the demo" on the Extractions page imports the bundled
 * SmolLM2-135M and the bundled text, tokenizes, extracts every layer's resid_post with live
 * progress, and lands on the results page: the per-layer norm curve, a histogram and the
 * highest-norm tokens with their text, of the rows past the first position by default (the text
 * was tokenized packed, so those are most rows); the export box hints at the first positions'
 * sink norms and exports without them when asked; the history then lists the complete extraction.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "@playwright/test";
import { type Backend, startBackend } from "./backend-server";

let backend: Backend;

test.beforeAll(async () => {
  backend = await startBackend();
});

test.afterAll(async () => {
  await backend?.stop();
});

test("run the demo -> live progress -> results charts -> history", async ({ page }) => {
  test.setTimeout(1_200_000); // the bundled model is converted and probed on a 2-core CPU
  await page.goto(`${backend.url}/extractions`);
  await expect(page.getByRole("heading", { name: "Extractions" })).toBeVisible();
  await page.getByRole("button", { name: "Run the demo" }).click();
  await expect(page.getByTestId("demo-step")).toContainText("step 1/4");
  await page.reload();  // the demo is picked up again, not lost with the page
  await expect(page.getByTestId("demo-step")).toContainText(/step [1-4]\/4/);
  await expect(page).toHaveURL(/\/extractions\/\d+$/, { timeout: 720_000 });
  const curve = page.getByRole("img", { name: "Mean L2 norm per layer" });
  await expect(curve).toBeVisible({ timeout: 420_000 });
  await expect(curve.getByTestId("series-resid_post").locator("circle")).toHaveCount(30);
  await expect(page.getByTestId("histogram-bar").first()).toBeVisible();
  await expect(page.locator("table.top-tokens mark").first()).toBeVisible();
  await expect(page.getByLabel("Row group")).toHaveValue("non_bos");
  const positions = await page.locator("table.top-tokens tbody td:nth-child(3)").allTextContents();
  expect(positions.length).toBeGreaterThan(0);
  expect(positions).not.toContain("0"); // the first positions' sink norms are left to group "bos"
  const python = page.getByTestId("open-from-python");
  await expect(python).toContainText(`open_activations("${backend.dataDir}`);
  // SmolLM2's first-position sink norms dwarf the rest's: the export box says so, and leaves
  // the rows at position 0 out when asked
  const hint = page.getByTestId("export-first-position-hint");
  await expect(hint).toContainText("Tick Leave out first positions");
  await page.getByLabel("Leave out first positions").check();
  await expect(hint).toContainText("this export leaves out the rows at position 0");
  await page.getByLabel("Context size").fill("100");
  await page.getByRole("button", { name: "Export for SAELens" }).click();
  await expect(page.getByTestId("export-result")).toContainText(
    /sequences of 100 tokens, one dataset row each .*; \d[\d,]* first-position tokens left out/,
    { timeout: 180_000 });
  const exported = JSON.parse(readFileSync(
    join(backend.dataDir, "extractions", "1", "saelens", "interpstudio_export.json"), "utf8"));
  expect(exported.exclude_first_position).toBe(true);
  expect(exported.first_positions_excluded).toBeGreaterThan(0);
  const listed = await page.request.get(`${backend.url}/api/v1/datasets/1/tokenizations`);
  expect((await listed.json()).items[0].policy.requested).toMatchObject(
    { mode: "pack", max_length: 256 });
  await page.getByRole("main").getByRole("link", { name: "Extractions" }).click();
  await expect(page.getByTestId("extraction-1")).toContainText("complete");
  // the demo again opens the finished extraction instead of making an identical one
  await page.getByRole("button", { name: "Run the demo" }).click();
  await expect(page).toHaveURL(/\/extractions\/1$/, { timeout: 60_000 });
  const all = await page.request.get(`${backend.url}/api/v1/extractions`);
  expect((await all.json()).total).toBe(1);

  // the Jobs page at an 800 px window: a long count ("4,096 / 4,096 tokens") that folds keeps
  // its lines together, the percentage after them (a walk saw "4,096 / 100.0 % / 4,096 /
  // tokens": the percentage beside the middle of the folded count)
  await page.setViewportSize({ width: 800, height: 720 });
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Jobs" }).click();
  const extractRow = page.locator('[data-testid^="job-row-"]').filter({ hasText: "extract" })
    .filter({ hasText: "4,096" }).first();
  await expect(extractRow.getByTestId("job-progress-percent")).toHaveText("100.0 %");
  const layout = await extractRow.evaluate((row) => {
    const counts = row.querySelector('[data-testid="job-progress-counts"]') as HTMLElement;
    const percent = row.querySelector('[data-testid="job-progress-percent"]') as HTMLElement;
    const range = document.createRange();
    range.selectNodeContents(counts);
    const lines = [...range.getClientRects()];
    const box = percent.getBoundingClientRect();
    return { lines: new Set(lines.map((r) => Math.round(r.top))).size,
      countsBottom: Math.max(...lines.map((r) => r.bottom)),
      countsTop: Math.min(...lines.map((r) => r.top)), percentTop: box.top };
  });
  // on the count's one line, or below all of its lines: never beside a line in the middle
  expect(layout.lines === 1 ? Math.abs(layout.percentTop - layout.countsTop) < 4
    : layout.percentTop >= layout.countsBottom - 1).toBe(true);
});
