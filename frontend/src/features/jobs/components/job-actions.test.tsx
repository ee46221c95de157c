import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { JobState } from "@/api/types";
import { makeJob } from "@/test/job-factory";
import { renderWithProviders } from "@/test/render";
import { availableJobActions } from "../lib/job-state";
import { JobActions } from "./job-actions";

const EXPECTED: Record<JobState, string[]> = {
  queued: ["Cancel"],
  running: ["Cancel"],
  interrupted: ["Resume", "Retry", "Delete"],  // the server deletes it as any finished job
  failed: ["Resume", "Retry", "Delete"],
  cancelled: ["Resume", "Retry", "Delete"],
  succeeded: ["Delete"],  // a succeeded job is not retried (the server refuses it: 409)
};

describe("JobActions", () => {
  it.each(Object.entries(EXPECTED))("test_shows_buttons_for_%s_job", (state, labels) => {
    renderWithProviders(<JobActions job={makeJob({ state: state as JobState })} />);
    const shown = screen.queryAllByRole("button").map((button) => button.textContent);
    expect(shown).toEqual(labels);
  });

  it("test_disables_cancel_while_cancel_requested", () => {
    renderWithProviders(<JobActions job={makeJob({ state: "running", cancel_requested: true })} />);
    expect(screen.getByRole("button", { name: "Cancelling…" })).toBeDisabled();
  });

  it("test_a_job_a_record_made_offers_no_delete_but_links_the_record", () => {
    // the server refuses it (409 job_has_owner): the record would point at nothing
    renderWithProviders(<JobActions job={makeJob({ state: "cancelled", kind: "extract",
      params: { extraction_id: 3 }, owner: { kind: "extraction", id: 3 } })} />);
    const shown = screen.queryAllByRole("button").map((button) => button.textContent);
    expect(shown).toEqual(["Resume", "Retry"]);
    expect(screen.getByRole("link", { name: "extraction #3" })).toHaveAttribute(
      "href", "/extractions/3");
    expect(availableJobActions({ state: "succeeded", owner: { kind: "dataset", id: 2 } }))
      .toEqual([]);
  });

  it("test_a_job_no_record_points_at_offers_delete_whatever_its_params_say", () => {
    // the owner is the server's rule, not a guess from the params: an extraction's job that
    // the extraction no longer points at is deleted alone, so Delete shows and nothing links
    renderWithProviders(<JobActions job={makeJob({ state: "failed", kind: "extract",
      params: { extraction_id: 3, model_id: 1 }, owner: null })} />);
    const shown = screen.queryAllByRole("button").map((button) => button.textContent);
    expect(shown).toEqual(["Resume", "Retry", "Delete"]);
    expect(screen.queryByRole("link")).toBeNull();
  });

  it("test_the_owner_link_goes_to_the_record_the_server_names", () => {
    // a tokenize job's params name its dataset too: the link follows the server's owner
    renderWithProviders(<JobActions job={makeJob({ state: "succeeded", kind: "tokenize",
      params: { dataset_id: 4, tokenization_id: 9 }, owner: { kind: "model", id: 5 } })} />);
    expect(screen.getByRole("link", { name: "model #5" })).toHaveAttribute("href", "/models");
  });

  it("test_an_export_job_links_the_extraction_it_exports", () => {
    // found by a walk: an extraction_export job (no owner: it makes no record) had no link
    renderWithProviders(<JobActions job={makeJob({ state: "running", kind: "extraction_export",
      params: { extraction_id: 6, column_names: "hook_points" }, owner: null })} />);
    expect(screen.getByRole("link", { name: "extraction #6" }))
      .toHaveAttribute("href", "/extractions/6");
  });

  it("test_a_succeeded_job_offers_no_retry", () => {
    // found by a browser walk: Retry on a succeeded extraction's job deleted its complete
    // results to compute the same again; a retry is for a job that stopped
    renderWithProviders(<JobActions job={makeJob({ id: 14, state: "succeeded", kind: "extract",
      params: { extraction_id: 2 }, owner: { kind: "extraction", id: 2 }, has_checkpoint: true })} />);
    expect(screen.queryByRole("button", { name: "Retry" })).toBeNull();
    expect(screen.queryAllByRole("button")).toHaveLength(0);  // its extraction deletes it
    expect(screen.getByRole("link", { name: "extraction #2" })).toBeInTheDocument();
  });

  it("test_retry_of_a_stopped_job_that_kept_work_asks_first", async () => {
    // its checkpoint is what Resume continues from; a retry drops it
    const confirm = vi.spyOn(window, "confirm").mockReturnValue(false);
    const fetchSpy = vi.spyOn(globalThis, "fetch");
    renderWithProviders(<JobActions job={makeJob({ id: 14, state: "cancelled", kind: "extract",
      params: { extraction_id: 2 }, owner: { kind: "extraction", id: 2 }, has_checkpoint: true })} />);
    await userEvent.click(screen.getByRole("button", { name: "Retry" }));
    expect(confirm).toHaveBeenCalledWith(expect.stringMatching(/job 14 .*Resume continues/));
    expect(fetchSpy).not.toHaveBeenCalled();
    confirm.mockRestore();
    fetchSpy.mockRestore();
  });

  it("test_retry_of_a_stopped_job_that_kept_nothing_does_not_ask", async () => {
    const confirm = vi.spyOn(window, "confirm").mockReturnValue(false);
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockResolvedValue(new Response(
      JSON.stringify(makeJob({ id: 15, state: "queued" })),
      { status: 200, headers: { "content-type": "application/json" } }));
    renderWithProviders(<JobActions job={makeJob({ id: 15, state: "failed", has_checkpoint: false })} />);
    await userEvent.click(screen.getByRole("button", { name: "Retry" }));
    expect(confirm).not.toHaveBeenCalled();
    expect(String(fetchSpy.mock.calls[0]?.[0])).toContain("/api/v1/jobs/15/retry");
    confirm.mockRestore();
    fetchSpy.mockRestore();
  });

  it("test_action_rules_match_buttons", () => {
    expect(availableJobActions({ state: "failed", owner: null }))
      .toEqual(["resume", "retry", "delete"]);
    expect(availableJobActions({ state: "running", owner: null })).toEqual(["cancel"]);
    // the server deletes an interrupted job as any finished one (services/jobs.ALLOWED)
    expect(availableJobActions({ state: "interrupted", owner: null }))
      .toEqual(["resume", "retry", "delete"]);
  });
});
