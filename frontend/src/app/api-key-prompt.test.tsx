/**
 * The API-key prompt, with the jobs page behind it, against a real HTTP server (node:http on a
 * random port) that answers 401 until the right `X-API-Key` arrives.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { JobsPage } from "@/features/jobs";
import { API_KEY_STORAGE_KEY, reloadApiKeyFromStorage } from "@/lib/api-key-store";
import { buildWebSocketUrl, setApiOrigin } from "@/lib/api-client";
import { makeJob } from "@/test/job-factory";
import { renderWithProviders } from "@/test/render";
import { ApiKeyPrompt } from "@/features/auth";

const KEY = "s3cret-key";

function startKeyedServer(seenKeys: (string | undefined)[]): Promise<Server> {
  const server = createServer((request, response) => {
    const key = request.headers["x-api-key"];
    seenKeys.push(typeof key === "string" ? key : undefined);
    response.setHeader("Content-Type", "application/json");
    if (key !== KEY) {
      response.statusCode = 401;
      response.end(JSON.stringify({
        error: { code: "unauthorized", message: "missing or wrong API key", details: {} },
      }));
      return;
    }
    response.end(JSON.stringify({ items: [makeJob({ id: 11, state: "succeeded" })], total: 1 }));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

describe("ApiKeyPrompt", () => {
  let server: Server | null = null;

  afterEach(async () => {
    setApiOrigin("");
    const running = server;
    server = null;
    if (running) await new Promise((resolve) => running.close(resolve));
  });

  it("test_prompts_on_401_and_retries_with_saved_key", async () => {
    reloadApiKeyFromStorage();
    const seenKeys: (string | undefined)[] = [];
    server = await startKeyedServer(seenKeys);
    setApiOrigin(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);

    renderWithProviders(
      <>
        <JobsPage />
        <ApiKeyPrompt />
      </>,
      { path: "/jobs" },
    );

    const dialog = await screen.findByRole("dialog", { name: "API key required" });
    expect(dialog).toBeInTheDocument();
    expect(await screen.findByText(/missing or wrong API key/)).toBeInTheDocument();

    await userEvent.type(screen.getByLabelText("API key"), KEY);
    await userEvent.click(screen.getByRole("button", { name: "Save key" }));

    expect(await screen.findByTestId("job-row-11")).toBeInTheDocument();
    expect(screen.queryByRole("dialog", { name: "API key required" })).toBeNull();
    expect(localStorage.getItem(API_KEY_STORAGE_KEY)).toBe(KEY);
    expect(seenKeys[0]).toBeUndefined();
    expect(seenKeys.at(-1)).toBe(KEY);
  });

  it("test_stored_key_is_sent_on_websocket_url", () => {
    localStorage.setItem(API_KEY_STORAGE_KEY, "k/1 2");
    reloadApiKeyFromStorage();
    const location = new URL("https://studio.example:8443/jobs") as unknown as Location;
    expect(buildWebSocketUrl("/ws", location)).toBe(
      "wss://studio.example:8443/api/v1/ws?api_key=k%2F1+2",
    );
  });
});
