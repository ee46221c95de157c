/**
 * The models browser test: the real backend (`interpstudio serve`, fresh data dir, embedded
 * worker) and the system Chromium. Import a tiny model from disk through the Models page -> its
 * card goes live to "ready" with the fidelity badge and drift -> the architecture viewer shows
 * exactly its 2 layers and their hook points -> rename -> delete.
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

test.beforeAll(async () => {
  backend = await startBackend();
});

test.afterAll(async () => {
  await backend?.stop();
});

function buildTinyModel(folder: string): void {
  mkdirSync(dirname(folder), { recursive: true });
  const built = spawnSync(
    python,
    [
      "-c",
      "import sys; sys.path.insert(0, sys.argv[1]); " +
        "from hub_server.tiny_models import build_tiny_model; build_tiny_model(sys.argv[2], 'gpt2')",
      join(repoRoot, "tests"),
      folder,
    ],
    { encoding: "utf-8" },
  );
  expect(built.status, built.stderr).toBe(0);
}

test("import a model, watch it become ready, inspect its architecture, rename, delete", async ({
  page,
}) => {
  const folder = join(backend.dataDir, "incoming", "tiny-gpt2");
  buildTinyModel(folder);
  await page.goto(`${backend.url}/models`);
  await expect(page.getByRole("heading", { name: "Models" })).toBeVisible();

  const importForm = page.getByRole("form", { name: "Import a model" });
  await importForm.getByLabel("Folder, .safetensors or .gguf path").fill(folder);
  await importForm.getByRole("combobox").selectOption("q8");
  await importForm.getByRole("button", { name: "Import", exact: true }).click();

  const card = page.getByRole("article", { name: "Model tiny-gpt2" });
  await expect(card.getByText("ready", { exact: true })).toBeVisible({ timeout: 90_000 });
  await expect(card.getByText("hooks exact")).toBeVisible();
  await expect(card.getByText("drift q8 vs fp32")).toBeVisible();

  await card.getByRole("button", { name: "Architecture", exact: true }).click();
  const architecture = card.getByRole("region", { name: "Architecture" });
  await expect(architecture.getByText("2 layers · d_model 64")).toBeVisible();
  await architecture.getByText("layer 1", { exact: false }).first().click();
  await expect(architecture.getByText("blocks.1.resid_post")).toBeVisible();

  await card.getByRole("button", { name: "Rename" }).click();
  await card.getByLabel("Model name").fill("my gpt2");
  await card.getByRole("button", { name: "Save" }).click();
  const renamed = page.getByRole("article", { name: "Model my gpt2" });
  await expect(renamed).toBeVisible();

  page.once("dialog", (dialog) => void dialog.accept()); // the delete asks first
  await renamed.getByRole("button", { name: "Delete", exact: true }).click();
  await expect(renamed).toHaveCount(0);
  await expect(page.getByText("No models yet.")).toBeVisible();
});
