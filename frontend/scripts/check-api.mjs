/**
 * `npm run check:api`: fails when `src/api/schema.d.ts` is stale against `openapi.json`.
 *
 * Regenerates the types into a temp file with the same openapi-typescript command as
 * `npm run gen:api` and compares bytes. Not responsible for `openapi.json` being current with the
 * backend: the Python test suite compares it with `interpstudio openapi`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const specPath = join(root, "openapi.json");
const committedPath = join(root, "src", "api", "schema.d.ts");
const generator = join(root, "node_modules", ".bin", "openapi-typescript");

function fail(message) {
  console.error(`check:api: ${message}`);
  process.exit(1);
}

if (!existsSync(specPath)) {
  fail(
    "frontend/openapi.json is missing. Create it with " +
      "`.venv/bin/interpstudio openapi --out frontend/openapi.json`, then `npm run gen:api`.",
  );
}
if (!existsSync(committedPath)) {
  fail("src/api/schema.d.ts is missing. Run `npm run gen:api` and commit the result.");
}

const tempDir = mkdtempSync(join(tmpdir(), "interpstudio-check-api-"));
try {
  const freshPath = join(tempDir, "schema.d.ts");
  const result = spawnSync(generator, ["openapi.json", "-o", freshPath], {
    cwd: root,
    encoding: "utf8",
  });
  if (result.status !== 0) {
    fail(`openapi-typescript failed (exit ${result.status}):\n${result.stderr || result.stdout}`);
  }
  const fresh = readFileSync(freshPath, "utf8");
  const committed = readFileSync(committedPath, "utf8");
  if (fresh !== committed) {
    const freshLines = fresh.split("\n");
    const committedLines = committed.split("\n");
    const line = freshLines.findIndex((text, i) => text !== committedLines[i]);
    fail(
      "src/api/schema.d.ts is stale: it differs from what openapi.json generates " +
        `(first difference at line ${line + 1}).\n` +
        "Run `.venv/bin/interpstudio openapi --out frontend/openapi.json` (repo root), then " +
        "`npm run gen:api` in frontend/, and commit both files.",
    );
  }
  console.log("check:api: src/api/schema.d.ts matches openapi.json.");
} finally {
  rmSync(tempDir, { recursive: true, force: true });
}
