import { act, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { liveJobKey } from "@/lib/live-job";
import { makeJob } from "@/test/job-factory";
import { createTestQueryClient, renderWithProviders } from "@/test/render";
import { DEMO_TOKENS } from "../api/demo-steps";
import { DEMO_REQUESTED_KEY, isDemoRunning, useDemoStore } from "../lib/demo-runner";
import { makeExtraction } from "../lib/extraction-factory";
import { DemoButton } from "./demo-button";

type Call = { method: string; path: string; body: unknown };

/** A stand-in for the server's demo endpoints: the model is ready, the bundled text's import is
 * still running (job 31) and the tokenization is ready; `extractions` is what GET lists. */
function fakeServer(extractions: unknown[] = [], created?: { status: number; body: unknown },
  answer?: (path: string, method: string) => Response | undefined) {
  const calls: Call[] = [];
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body),
    { status, headers: { "Content-Type": "application/json" } });
  const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const url = new URL(String(input), "http://x");
    const method = init?.method ?? "GET";
    const path = url.pathname.replace("/api/v1", "");
    calls.push({ method, path: `${path}${url.search}`,
      body: init?.body ? JSON.parse(String(init.body)) : null });
    const answered = answer?.(path, method);
    if (answered) return answered;
    if (path === "/models/import-bundled") return json({ id: 1, status: "ready", job_id: 10 });
    if (path === "/datasets" && method === "GET") return json({ total: 0, items: [] });
    if (path === "/datasets") return json({ id: 3, status: "importing", job_id: 31 });
    if (path === "/jobs/31") return json(makeJob({ id: 31, kind: "dataset_import", state: "running", progress: 0.5 }));
    if (path === "/datasets/3/tokenizations") return json({ total: 1, items: [{ id: 5, model_id: 1,
      status: "ready", job_id: 32, policy: { requested: { max_length: 256, mode: "pack" } } }] });
    if (path === "/extractions" && method === "GET") return json({ total: extractions.length, items: extractions });
    if (path === "/extractions") {
      return created ? json(created.body, created.status) : json(makeExtraction({ id: 44 }), 201);
    }
    return json({ total: 0, items: [] });
  });
  return { calls, spy };
}

/** Renders the button with the bundled text's import (job 31) finished, and clicks it. */
async function clickDemoWithTheImportDone() {
  const queryClient = createTestQueryClient();
  queryClient.setQueryData(liveJobKey(31), makeJob({ id: 31, state: "succeeded" }));
  const { router } = renderWithProviders(<DemoButton />, { queryClient });
  await userEvent.click(screen.getByRole("button", { name: "Run the demo" }));
  return router;
}

/** The answers `getDemoUnderway` asks for: `jobs` queued or running; model 1 and dataset 3 are
 * the bundled ones, model 2 a local one, tokenization 5 the demo's (bundled text, model 1). */
function underwayServer(jobs: unknown[], extractions: { id: number }[]) {
  const reply = (body: unknown) => new Response(JSON.stringify(body),
    { status: 200, headers: { "Content-Type": "application/json" } });
  return (path: string, method: string): Response | undefined => {
    if (method !== "GET") return undefined;
    if (path === "/jobs") return reply({ total: jobs.length, items: jobs });
    if (path === "/models/1") return reply({ id: 1, source: "bundled" });
    if (path === "/models/2") return reply({ id: 2, source: "local" });
    if (path === "/datasets/3") return reply({ id: 3, source: "bundled" });
    if (path === "/tokenizations/5") return reply({ id: 5, dataset_id: 3, model_id: 1,
      policy: { requested: { max_length: 256, mode: "pack" } } });
    const extraction = extractions.find((e) => path === `/extractions/${e.id}`);
    return extraction ? reply(extraction) : undefined;
  };
}

const posted = (calls: Call[], path: string) =>
  calls.filter((c) => c.method === "POST" && c.path === path);

afterEach(() => {
  useDemoStore.setState({ step: null, jobId: null, error: null, opened: null });
});

describe("Run the demo", () => {
  it("test_demo_step_names_the_jobs_stage_and_what_the_start_waits_for", async () => {
    // the bundled text's import (job 31) is in its "read" stage
    const { spy } = fakeServer([], undefined, (path) => path !== "/jobs/31" ? undefined
      : new Response(JSON.stringify(makeJob({ id: 31, kind: "dataset_import", state: "running",
        stage: "read", progress: 0.31 })), { headers: { "Content-Type": "application/json" } }));
    const base = spy.getMockImplementation()!;
    let answerCreate: (response: Response) => void = () => {};
    spy.mockImplementation(async (input, init) => {
      const path = new URL(String(input), "http://x").pathname;
      if (path === "/api/v1/extractions" && init?.method === "POST") {
        return new Promise<Response>((resolve) => { answerCreate = resolve; });
      }
      return base(input, init);
    });
    const queryClient = createTestQueryClient();
    renderWithProviders(<DemoButton />, { queryClient });
    await userEvent.click(screen.getByRole("button", { name: "Run the demo" }));
    // a stage that counts from 0 again says which stage it is ("100%" then "0%" read as going back)
    expect(await screen.findByText("step 2/4: importing the bundled text (read 31%)"))
      .toBeInTheDocument();
    await act(async () => {
      queryClient.setQueryData(liveJobKey(31), makeJob({ id: 31, state: "succeeded" }));
    });
    // the create measures a batch before it answers: the step says so while it waits
    expect(await screen.findByText(
      /step 4\/4: starting the extraction \(the server loads the model and times a batch first\)/))
      .toBeInTheDocument();
    answerCreate(new Response(JSON.stringify(makeExtraction({ id: 44 })),
      { status: 201, headers: { "Content-Type": "application/json" } }));
    await vi.waitFor(() => expect(isDemoRunning()).toBe(false));
    spy.mockRestore();
  });

  it("test_demo_step_names_a_stage_that_has_no_count_yet", async () => {
    // the model import reads its GGUF before its tensors count: the step said nothing then
    const { spy } = fakeServer([], undefined, (path) => {
      const json = (body: unknown) => new Response(JSON.stringify(body),
        { headers: { "Content-Type": "application/json" } });
      if (path === "/models/import-bundled") return json({ id: 1, status: "importing", job_id: 10 });
      if (path === "/jobs/10") return json(makeJob({ id: 10, kind: "model_import",
        state: "running", stage: "read gguf", progress: null, done: null, total: null }));
      return undefined;
    });
    const queryClient = createTestQueryClient();
    renderWithProviders(<DemoButton />, { queryClient });
    await userEvent.click(screen.getByRole("button", { name: "Run the demo" }));
    expect(await screen.findByText("step 1/4: importing the bundled model (read gguf)"))
      .toBeInTheDocument();
    await act(async () => {  // ends the demo here
      queryClient.setQueryData(liveJobKey(10), makeJob({ id: 10, state: "failed" }));
    });
    await vi.waitFor(() => expect(isDemoRunning()).toBe(false));
    spy.mockRestore();
  });

  it("test_demo_carries_on_after_the_button_unmounts_and_after_a_reload", async () => {
    const { calls, spy } = fakeServer();
    const queryClient = createTestQueryClient();
    const first = renderWithProviders(<DemoButton />, { queryClient });
    await userEvent.click(screen.getByRole("button", { name: "Run the demo" }));
    expect(await screen.findByText(/step 2\/4: importing the bundled text \(50%\)/)).toBeInTheDocument();
    expect(localStorage.getItem(DEMO_REQUESTED_KEY)).toBe("1");
    first.unmount();  // the user went to another page

    // a reload: a new page finds the request and shows the step again (no second import)
    const second = renderWithProviders(<DemoButton />, { queryClient });
    expect(await screen.findByTestId("demo-step")).toHaveTextContent("step 2/4");
    expect(screen.getByRole("button", { name: "Demo running…" })).toBeDisabled();
    second.unmount();

    // the import finishes (the WebSocket writes the job into the cache) with no button mounted
    await act(async () => {
      queryClient.setQueryData(liveJobKey(31), makeJob({ id: 31, kind: "dataset_import",
        state: "succeeded", updated_at: "2026-01-01T12:05:00Z" }));
    });
    await vi.waitFor(() => expect(isDemoRunning()).toBe(false));
    expect(posted(calls, "/datasets")).toHaveLength(1);
    const created = posted(calls, "/extractions");
    expect(created).toHaveLength(1);
    expect(created[0]?.body).toMatchObject({ model_id: 1, tokenization_id: 5,
      max_tokens: DEMO_TOKENS, name: "demo: all layers" });
    expect(DEMO_TOKENS).toBe(4096);  // as README's quickstart (the CLI demo) says
    expect(useDemoStore.getState().opened).toBe(44);
    expect(localStorage.getItem(DEMO_REQUESTED_KEY)).toBeNull();
    spy.mockRestore();
  });

  it("test_a_demo_extraction_running_from_the_cli_is_shown_with_a_link_not_offered_again", async () => {
    // found by a browser walk: while `interpstudio demo` extracted, the home page still offered
    // "Run the demo" (a click only opened that run)
    const demo = (id: number, status: string, modelId = 1) => makeExtraction({ id, status,
      name: "demo: all layers", model_id: modelId, tokenization_id: 5, job_id: 90 + id,
      spec: { hook_points: ["blocks.*.resid_post"], max_tokens: DEMO_TOKENS, positions: "all",
        dtype: "float16" } });
    const extractJob = (id: number) => makeJob({ id: 90 + id, kind: "extract", state: "running",
      stage: "extract", progress: 0.5, owner: { kind: "extraction", id } });
    // extraction 48 has the demo's name and settings on another (not bundled) model: not the demo
    const extractions = [demo(48, "running", 2), demo(47, "running"), demo(40, "complete")];
    const { calls, spy } = fakeServer(extractions, undefined, underwayServer(
      [extractJob(48), extractJob(47)], extractions));
    const queryClient = createTestQueryClient();
    const { router } = renderWithProviders(<DemoButton />, { queryClient });
    const link = await screen.findByRole("link", { name: "Follow the running demo" });
    expect(screen.queryByRole("button", { name: "Run the demo" })).toBeNull();
    expect(screen.getByTestId("demo-underway")).toHaveTextContent(
      "demo running: step 4/4: extraction #47 (extract 50%)");
    await userEvent.click(link);
    expect(router.state.location.pathname).toBe("/extractions/47");
    expect(calls.find((c) => c.path.startsWith("/jobs?"))?.path)
      .toMatch(/state=queued&state=running/);
    expect(calls.filter((c) => c.method === "POST")).toHaveLength(0);  // nothing started

    // the run ends (its job's event): the button is offered again
    await act(async () => {
      queryClient.setQueryData(liveJobKey(137), makeJob({ id: 137, kind: "extract",
        state: "succeeded" }));
    });
    expect(await screen.findByRole("button", { name: "Run the demo" })).toBeEnabled();
    spy.mockRestore();
  });

  it.each([
    ["model", makeJob({ id: 10, kind: "model_import", state: "running", stage: "convert gguf",
      progress: 0.31, owner: { kind: "model", id: 1 } }),
    "demo running: step 1/4: importing the bundled model (convert gguf 31%)"],
    ["dataset", makeJob({ id: 31, kind: "dataset_import", state: "queued", stage: null,
      progress: null, owner: { kind: "dataset", id: 3 } }),
    "demo running: step 2/4: importing the bundled text (queued)"],
    ["tokenize", makeJob({ id: 32, kind: "tokenize", state: "running", stage: "tokenize",
      progress: 0.5, owner: { kind: "tokenization", id: 5 } }),
    "demo running: step 3/4: tokenizing with the model's tokenizer (tokenize 50%)"],
  ])("test_the_cli_demos_%s_step_is_shown_with_a_link_to_its_job_not_offered_again",
    async (_step, job, text) => {
      // found by a browser walk: while `interpstudio demo` imported and tokenized, the home page
      // offered "Run the demo"; a click followed those jobs, then raced the CLI to create the
      // same extraction (the loser refused as a copy under way: the terminal's demo failed)
      const { calls, spy } = fakeServer([], undefined, underwayServer([job], []));
      const { router } = renderWithProviders(<DemoButton />, { queryClient: createTestQueryClient() });
      const link = await screen.findByRole("link", { name: "Follow the running demo" });
      expect(screen.queryByRole("button", { name: "Run the demo" })).toBeNull();
      expect(screen.getByTestId("demo-underway")).toHaveTextContent(text);
      await userEvent.click(link);
      expect(router.state.location.pathname).toBe(`/jobs/${job.id}`);
      expect(calls.filter((c) => c.method === "POST")).toHaveLength(0);  // nothing started
      spy.mockRestore();
    });

  it("test_an_import_of_another_model_is_not_taken_for_the_demo", async () => {
    const job = makeJob({ id: 11, kind: "model_import", state: "running",
      owner: { kind: "model", id: 2 } });
    const { spy } = fakeServer([], undefined, underwayServer([job], []));
    renderWithProviders(<DemoButton />, { queryClient: createTestQueryClient() });
    expect(await screen.findByRole("button", { name: "Run the demo" })).toBeEnabled();
    await vi.waitFor(() => expect(spy.mock.calls.some(([input]) =>
      String(input).includes("/models/2"))).toBe(true));
    expect(screen.queryByTestId("demo-underway")).toBeNull();
    spy.mockRestore();
  });

  it("test_a_reload_resumes_a_requested_demo_when_the_button_mounts", async () => {
    localStorage.setItem(DEMO_REQUESTED_KEY, "1");
    const { calls, spy } = fakeServer([makeExtraction({ id: 40, status: "complete",
      name: "demo: all layers", model_id: 1, tokenization_id: 5,
      spec: { hook_points: ["blocks.*.resid_post"], max_tokens: DEMO_TOKENS, positions: "all",
        dtype: "float16" } })]);
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(liveJobKey(31), makeJob({ id: 31, state: "succeeded" }));
    const { router } = renderWithProviders(<DemoButton />, { queryClient });
    await vi.waitFor(() => expect(router.state.location.pathname).toBe("/extractions/40"));
    expect(posted(calls, "/models/import-bundled")).toHaveLength(1);
    spy.mockRestore();
  });

  it("test_running_the_demo_again_opens_the_finished_one_instead_of_a_copy", async () => {
    const demo = (id: number, status: string, maxTokens: number) => makeExtraction({ id, status,
      name: "demo: all layers", model_id: 1, tokenization_id: 5,
      spec: { hook_points: ["blocks.*.resid_post"], max_tokens: maxTokens, positions: "all",
        dtype: "float16" } });
    const { calls, spy } = fakeServer([demo(42, "failed", DEMO_TOKENS), demo(41, "complete", 2048),
      demo(40, "complete", DEMO_TOKENS)]);
    const router = await clickDemoWithTheImportDone();
    await vi.waitFor(() => expect(router.state.location.pathname).toBe("/extractions/40"));
    expect(posted(calls, "/extractions")).toHaveLength(0);
    expect(calls.filter((c) => c.method === "POST" && c.path.endsWith("/resume"))).toHaveLength(0);
    const listed = calls.find((c) => c.method === "GET" && c.path.startsWith("/extractions?")
      && !c.path.includes("status="));  // the demo's find, not the look for one under way
    expect(listed?.path).toMatch(/model_id=1/);
    expect(listed?.path).toMatch(/tokenization_id=5/);
    spy.mockRestore();
  });

  it("test_running_the_demo_again_resumes_its_stopped_extraction_instead_of_a_copy", async () => {
    // as `interpstudio demo` after Ctrl-C in its step 4: the stopped run continues after its last
    // whole shard; the button made a second extraction from nothing beside it
    const demo = (id: number, status: string) => makeExtraction({ id, status,
      name: "demo: all layers", model_id: 1, tokenization_id: 5,
      spec: { hook_points: ["blocks.*.resid_post"], max_tokens: DEMO_TOKENS, positions: "all",
        dtype: "float16" } });
    const { calls, spy } = fakeServer([demo(41, "failed"), demo(43, "cancelled")], undefined,
      (path, method) => method === "POST" && path === "/extractions/43/resume"
        ? new Response(JSON.stringify(makeExtraction({ id: 43, status: "queued" })),
          { headers: { "Content-Type": "application/json" } })
        : undefined);
    const router = await clickDemoWithTheImportDone();
    await vi.waitFor(() => expect(router.state.location.pathname).toBe("/extractions/43"));
    expect(posted(calls, "/extractions/43/resume")).toHaveLength(1);  // the newest stopped one
    expect(posted(calls, "/extractions/41/resume")).toHaveLength(0);
    expect(posted(calls, "/extractions")).toHaveLength(0);
    expect(useDemoStore.getState().error).toBeNull();
    spy.mockRestore();
  });

  it("test_a_demo_another_tab_started_meanwhile_is_opened_not_reported_as_an_error", async () => {
    const { calls, spy } = fakeServer([], { status: 409, body: { error: {
      code: "extraction_already_underway", message: "extraction 47 with the same configuration",
      details: { extraction_id: 47, status: "running" } } } });
    const router = await clickDemoWithTheImportDone();
    await vi.waitFor(() => expect(router.state.location.pathname).toBe("/extractions/47"));
    expect(posted(calls, "/extractions")).toHaveLength(1);
    expect(useDemoStore.getState().error).toBeNull();
    spy.mockRestore();
  });

  it("test_a_tokenization_another_tab_made_meanwhile_is_followed_not_reported", async () => {
    // found by a tester: two tabs both listed no tokenization, one create won, the other tab
    // stopped with "already tokenized ... delete it first" though the demo was fine
    let listed = 0;
    const reply = (body: unknown, status = 200) => new Response(JSON.stringify(body),
      { status, headers: { "Content-Type": "application/json" } });
    const { spy } = fakeServer([], { status: 201, body: makeExtraction({ id: 46 }) },
      (path, method) => {
        if (path !== "/datasets/3/tokenizations") return undefined;
        if (method === "POST") return reply({ error: { code: "tokenization_exists",
          message: "already tokenized (tokenization 5, running)",
          details: { tokenization_id: 5, status: "running" } } }, 409);
        listed += 1;
        return reply(listed === 1 ? { total: 0, items: [] } : { total: 1, items: [{ id: 5,
          model_id: 1, status: "ready", job_id: 32,
          policy: { requested: { max_length: 256, mode: "pack" } } }] });
      });
    const router = await clickDemoWithTheImportDone();
    await vi.waitFor(() => expect(router.state.location.pathname).toBe("/extractions/46"));
    expect(useDemoStore.getState().error).toBeNull();
    spy.mockRestore();
  });

  it("test_a_twin_models_tokenization_is_used_not_made_again", async () => {
    // the bundled model imported twice: the server lists the other copy's tokenization as usable
    // (byte-identical tokenizer files) and refuses to make a second one
    const reply = (body: unknown) => new Response(JSON.stringify(body),
      { status: 200, headers: { "Content-Type": "application/json" } });
    const { calls, spy } = fakeServer([], { status: 201, body: makeExtraction({ id: 47 }) },
      (path, method) => path === "/datasets/3/tokenizations" && method === "GET"
        ? reply({ total: 1, items: [{ id: 8, model_id: 2, status: "ready", job_id: 33,
          policy: { requested: { max_length: 256, mode: "pack" } } }] })
        : undefined);
    const router = await clickDemoWithTheImportDone();
    await vi.waitFor(() => expect(router.state.location.pathname).toBe("/extractions/47"));
    expect(calls.find((c) => c.method === "GET" && c.path.startsWith("/datasets/3/tokenizations"))
      ?.path).toContain("usable_with_model=1");
    expect(posted(calls, "/datasets/3/tokenizations")).toHaveLength(0);
    expect(posted(calls, "/extractions")[0]?.body).toMatchObject({ tokenization_id: 8 });
    spy.mockRestore();
  });

  it("test_a_request_cut_by_a_reload_keeps_the_demo_asked_for_but_a_refusal_ends_it", async () => {
    const spy = vi.spyOn(globalThis, "fetch").mockRejectedValue(new TypeError("Failed to fetch"));
    const first = renderWithProviders(<DemoButton />);
    await userEvent.click(screen.getByRole("button", { name: "Run the demo" }));
    expect(await screen.findByText(/Could not reach the Interp Studio server/)).toBeInTheDocument();
    expect(localStorage.getItem(DEMO_REQUESTED_KEY)).toBe("1");  // the next page resumes it
    first.unmount();
    spy.mockResolvedValue(new Response(JSON.stringify({ error: { code: "model_unsupported",
      message: "no", details: {} } }), { status: 422, headers: { "Content-Type": "application/json" } }));
    useDemoStore.setState({ error: null });
    renderWithProviders(<DemoButton />);  // resumes, and is refused this time
    expect(await screen.findByText(/Demo stopped/)).toBeInTheDocument();
    await vi.waitFor(() => expect(isDemoRunning()).toBe(false));
    expect(localStorage.getItem(DEMO_REQUESTED_KEY)).toBeNull();
    spy.mockRestore();
  });

  it("test_a_step_the_server_restart_interrupted_is_resumed_when_the_demo_is_asked_again", async () => {
    // found by a tester: the server stopped during step 1; after it came back every click on
    // "Run the demo" said "importing the bundled model ended interrupted: worker shut down;
    // resume to continue" and nothing on the home page could resume it
    const reply = (body: unknown, status = 200) => new Response(JSON.stringify(body),
      { status, headers: { "Content-Type": "application/json" } });
    const { calls, spy } = fakeServer([], undefined, (path, method) => {
      if (path === "/models/import-bundled") return reply({ id: 1, status: "interrupted", job_id: 10 });
      if (path === "/jobs/10" && method === "GET") return reply(makeJob({ id: 10,
        kind: "model_import", state: "interrupted", error_message: "worker shut down; resume to continue" }));
      if (path === "/jobs/10/resume") return reply(makeJob({ id: 10, kind: "model_import", state: "queued" }));
      return undefined;
    });
    const queryClient = createTestQueryClient();
    queryClient.setQueryData(liveJobKey(31), makeJob({ id: 31, state: "succeeded" }));
    const { router } = renderWithProviders(<DemoButton />, { queryClient });
    await userEvent.click(screen.getByRole("button", { name: "Run the demo" }));
    await vi.waitFor(() => expect(posted(calls, "/jobs/10/resume")).toHaveLength(1));
    expect(screen.getByTestId("demo-step")).toHaveTextContent("step 1/4");  // waits for the resumed run
    expect(useDemoStore.getState().error).toBeNull();
    await act(async () => {  // the resumed import finishes (the WebSocket writes it into the cache)
      queryClient.setQueryData(liveJobKey(10), makeJob({ id: 10, kind: "model_import",
        state: "succeeded", updated_at: "2026-01-01T12:05:00Z" }));
    });
    await vi.waitFor(() => expect(router.state.location.pathname).toBe("/extractions/44"));
    expect(posted(calls, "/jobs/10/resume")).toHaveLength(1);
    spy.mockRestore();
  });
});
