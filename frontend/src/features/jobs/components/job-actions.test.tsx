import { screen } from "@testing-library/react";
import type { JobState } from "@/api/types";
import { makeJob } from "@/test/job-factory";
import { renderWithProviders } from "@/test/render";
import { availableJobActions } from "../lib/job-state";
import { JobActions } from "./job-actions";

const EXPECTED: Record<JobState, string[]> = {
  queued: ["Cancel"],
  running: ["Cancel"],
  interrupted: ["Resume"],
  failed: ["Resume", "Retry", "Delete"],
  cancelled: ["Resume", "Retry", "Delete"],
  succeeded: ["Retry", "Delete"],
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

  it("test_action_rules_match_buttons", () => {
    expect(availableJobActions({ state: "failed" })).toEqual(["resume", "retry", "delete"]);
    expect(availableJobActions({ state: "running" })).toEqual(["cancel"]);
  });
});
