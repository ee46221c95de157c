/**
 * Starts the real Interp Studio backend for the browser test: `interpstudio serve` on a free port
 * with a fresh data dir (it applies migrations and starts an embedded worker), then waits for
 * `/api/v1/health`. Not responsible for building the UI (`npm run e2e` does that first).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const frontendRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const defaultExecutable = resolve(frontendRoot, "..", ".venv", "bin", "interpstudio");

export type Backend = { url: string; dataDir: string; logs: () => string; stop: () => Promise<void> };

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolvePort(port));
    });
  });
}

async function waitForHealth(
  url: string,
  headers: Record<string, string>,
  child: ChildProcess,
  logs: () => string,
  timeoutMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`interpstudio serve exited with code ${child.exitCode}:\n${logs()}`);
    }
    try {
      const response = await fetch(`${url}/api/v1/health`, { headers });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `interpstudio serve did not answer /api/v1/health within ${timeoutMs} ms:\n${logs()}`,
  );
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((done) => {
    const timer = setTimeout(() => done(false), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      done(true);
    });
  });
}

/** `apiKey` starts the server with INTERPSTUDIO_API_KEY set (every /api request then needs it). */
export async function startBackend({ apiKey }: { apiKey?: string } = {}): Promise<Backend> {
  const executable = process.env.INTERPSTUDIO_BIN ?? defaultExecutable;
  if (!existsSync(executable)) {
    throw new Error(
      `${executable} not found: create the Python environment first (pip install -e . in .venv), ` +
        "or point INTERPSTUDIO_BIN at the interpstudio command.",
    );
  }
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "interpstudio-e2e-"));
  const env: NodeJS.ProcessEnv = { ...process.env, INTERPSTUDIO_DATA_DIR: dataDir };
  for (const name of ["INTERPSTUDIO_API_KEY", "INTERPSTUDIO_DATABASE_URL", "INTERPSTUDIO_BROKER_URL",
    "INTERPSTUDIO_HOST", "INTERPSTUDIO_PORT", "INTERPSTUDIO_WORKERS"]) {
    delete env[name];
  }
  if (apiKey) env.INTERPSTUDIO_API_KEY = apiKey;
  const child = spawn(executable, ["serve", "--port", String(port)], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const logs = () => output;
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      if (!(await waitForExit(child, 15_000))) {
        child.kill("SIGKILL");
        await waitForExit(child, 5_000);
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    await waitForHealth(url, apiKey ? { "X-API-Key": apiKey } : {}, child, logs, 90_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, dataDir, logs, stop };
}
