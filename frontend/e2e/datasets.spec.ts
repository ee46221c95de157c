/**
 * The datasets browser test: the real backend (`interpstudio serve`, fresh data dir) and the
 * system Chromium. A tiny model (built by the tests' hub_server helpers, imported through the real
 * `/models/import` API) provides the tokenizer. Upload a file with the upload progress bar ->
 * the import finishes live -> preview rows (pages, random sample) -> preview tokens for a policy ->
 * tokenize -> the tokenization's counts and its sequences beside their text.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "@playwright/test";
import { type Backend, startBackend } from "./backend-server";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const python = process.env.INTERPSTUDIO_PYTHON ?? join(repoRoot, ".venv", "bin", "python");

let backend: Backend;

/** `fetch`, retried once: building the model blocks Node for seconds, long enough for the server
 * to close the pooled keep-alive connection, which the next request would otherwise reuse. */
async function fetchRetried(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch {
    return await fetch(url, init);
  }
}

async function importTinyModel(): Promise<number> {
  const folder = join(backend.dataDir, "incoming", "tiny-llama");
  mkdirSync(dirname(folder), { recursive: true });
  const built = spawnSync(
    python,
    [
      "-c",
      "import sys; sys.path.insert(0, sys.argv[1]); " +
        "from hub_server.tiny_models import build_tiny_model; build_tiny_model(sys.argv[2], 'llama')",
      join(repoRoot, "tests"),
      folder,
    ],
    { encoding: "utf-8" },
  );
  expect(built.status, built.stderr).toBe(0);
  const created = await fetchRetried(`${backend.url}/api/v1/models/import`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ path: folder, name: "tiny-llama" }),
  });
  expect(created.status).toBeLessThan(300);
  const model = (await created.json()) as { id: number };
  await expect
    .poll(
      async () => {
        const response = await fetchRetried(`${backend.url}/api/v1/models/${model.id}`);
        return ((await response.json()) as { status: string }).status;
      },
      { timeout: 120_000 },
    )
    .toBe("ready");
  return model.id;
}

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

test("upload -> preview -> tokenize", async ({ page }) => {
  await importTinyModel();
  const lines = Array.from({ length: 60 }, (_, i) => `Line ${i}: the attention head copies token ${i}.`);
  await page.goto(`${backend.url}/datasets`);
  await page.getByLabel("Files", { exact: true }).setInputFiles({
    name: "lines.txt",
    mimeType: "text/plain",
    buffer: Buffer.from(`${lines.join("\n")}\n`),
  });
  await page.getByLabel("Name (empty: first file's name)").fill("e2e lines");
  await page.getByRole("button", { name: "Upload" }).click();
  await expect(page.getByRole("progressbar", { name: "Upload progress" })).toBeVisible();
  await expect(page).toHaveURL(/\/datasets\/\d+$/);
  const card = page.getByRole("article", { name: "Dataset e2e lines" });
  await expect(card.getByText("ready", { exact: true }).first()).toBeVisible({ timeout: 60_000 });

  const rows = page.getByRole("region", { name: "Rows" });
  await expect(rows.getByText(lines[0] as string)).toBeVisible();
  await rows.getByRole("button", { name: "Next →" }).click();  // rows in file order
  await expect(rows.getByText(lines[10] as string)).toBeVisible();
  await rows.getByRole("button", { name: "Random sample" }).click();
  await expect(rows.locator("tbody tr")).toHaveCount(10);

  const form = page.getByRole("region", { name: "Tokenize" });
  await form.getByLabel("Max length", { exact: true }).fill("8");
  await form.getByRole("button", { name: "Preview tokens" }).click();
  await expect(form.getByText("BOS: <s> prepended (tokenizer default)")).toBeVisible();
  await expect(form.getByLabel("Token pieces").first()).toContainText("<s>");
  await expect(form.getByText("truncated").first()).toBeVisible();
  await form.getByRole("button", { name: "Tokenize" }).click();

  const tokenization = page.getByRole("article", { name: /Tokenization \d+/ });
  await expect(tokenization.getByText("ready", { exact: true })).toBeVisible({ timeout: 60_000 });
  await expect(tokenization.getByText("sequences", { exact: true })).toBeVisible();
  // top tokens read as text ("Ġthe" shows "␣the"), the raw piece on hover
  await expect(tokenization.locator('.piece[title*="piece \\"Ġ"]').first()).toContainText("␣");
  await tokenization.getByRole("button", { name: "Show sequences beside their text" }).click();
  // each sequence beside its own text: 8 tokens of line 0, not the whole line
  await expect(tokenization.getByText(/Line 0: the$/).first()).toBeVisible();
  await expect(tokenization.getByText(lines[0] as string)).toHaveCount(0);
  await expect(tokenization.getByLabel("Token pieces").first()).toContainText("<s>");
});

test("names without spaces wrap or are cut, never widen the page", async ({ page }) => {
  // found by a tester: a 150-character dataset name made /datasets 1,568 px wide at 1,400 px, a
  // 200-character model name /models 2,412 px, and the extraction form's Dataset select spanned it
  const models = (await (await fetchRetried(`${backend.url}/api/v1/models`)).json()) as {
    items: { id: number }[];
  };
  const modelId = models.items[0]?.id ?? (await importTinyModel());
  await fetchRetried(`${backend.url}/api/v1/models/${modelId}`, {
    method: "PATCH",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: "Z".repeat(200) }),
  });
  const form = new FormData();
  form.append("name", "D".repeat(150));
  form.append("file", new Blob(["one line\nanother line\n"]), "long.txt");
  const uploaded = await fetchRetried(`${backend.url}/api/v1/datasets/upload`, {
    method: "POST",
    body: form,
  });
  expect(uploaded.status).toBeLessThan(300);
  const dataset = (await uploaded.json()) as { id: number };
  await expect.poll(async () => {
    const response = await fetchRetried(`${backend.url}/api/v1/datasets/${dataset.id}`);
    return ((await response.json()) as { status: string }).status;
  }).toBe("ready");  // the form offers ready datasets only

  await page.setViewportSize({ width: 1400, height: 900 });
  const pageWidth = () => page.evaluate(() => document.documentElement.scrollWidth);
  await page.goto(`${backend.url}/datasets/${dataset.id}`);
  await expect(page.getByRole("article", { name: /^Dataset D+$/ })).toBeVisible();
  expect(await pageWidth()).toBeLessThanOrEqual(1400);
  // every choice in a row of fields reads whole (the 200-character model name above is cut on
  // purpose): at 7rem a field, the 380 px upload column cut "one document per
  // line" and the Tokenize row "truncate (one sequence per row)" (found in a walk-through)
  await expect(page.getByLabel("Long rows")).toBeVisible();
  const cut = await page.evaluate(() => [...document.querySelectorAll("main .form-row select")].flatMap((s) => {
    const select = s as HTMLSelectElement;
    const probe = document.createElement("span");
    probe.style.font = getComputedStyle(select).font;
    probe.style.whiteSpace = "pre";
    probe.style.position = "absolute";
    probe.textContent = select.options[select.selectedIndex]?.text ?? "";
    document.body.appendChild(probe);
    const needed = probe.getBoundingClientRect().width + 24;  // + padding and the arrow
    probe.remove();
    return select.clientWidth < needed ? [probe.textContent] : [];
  }));
  expect(cut).toEqual([]);
  await page.goto(`${backend.url}/models`);
  await expect(page.getByRole("article", { name: /^Model Z+$/ })).toBeVisible();
  expect(await pageWidth()).toBeLessThanOrEqual(1400);
  await page.goto(`${backend.url}/extractions`);
  const picker = page.getByLabel("Dataset", { exact: true });
  await picker.selectOption(String(dataset.id));
  expect((await picker.boundingBox())?.width ?? 0).toBeLessThan(400);
  expect(await pageWidth()).toBeLessThanOrEqual(1400);

  // a narrow window: the navigation becomes a bar above the page, and a tokenization's tokenizer
  // (its model's 200-character name; the key, local:<sha256>, on hover) wraps in its card. Found
  // by a tester:
  // /datasets/<id> was 768 px wide at 640 px, and every page wider than a 420 px window (the
  // 200 px navigation kept its column)
  const tokenized = await fetchRetried(`${backend.url}/api/v1/datasets/${dataset.id}/tokenizations`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model_id: modelId }),
  });
  expect(tokenized.status).toBeLessThan(300);
  await page.setViewportSize({ width: 420, height: 800 });
  await page.goto(`${backend.url}/datasets/${dataset.id}`);
  const card = page.getByRole("article", { name: /Tokenization \d+/ });
  await expect(card.getByText("ready", { exact: true })).toBeVisible({ timeout: 60_000 });
  await expect(card.getByTitle(/^local:/)).toHaveText(`tokenizer of ${"Z".repeat(200)}`);
  expect(await pageWidth()).toBeLessThanOrEqual(420);
  for (const [path, title] of [["/models", "Models"], ["/extractions", "Extractions"],
    ["/jobs", "Jobs"], ["/system", "System"]] as const) {
    await page.goto(`${backend.url}${path}`);
    await expect(page.getByRole("heading", { level: 1, name: title })).toBeVisible();
    expect(await pageWidth(), path).toBeLessThanOrEqual(420);
  }
  const nav = await page.getByRole("navigation", { name: "Main" }).boundingBox();
  expect(nav?.width ?? 0).toBeGreaterThan(400);  // a bar across the top, not a column
});
