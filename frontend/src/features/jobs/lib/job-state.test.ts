import { makeJob } from "@/test/job-factory";
import { checkpointText } from "./job-state";

describe("checkpointText", () => {
  it("test_a_succeeded_jobs_checkpoint_does_not_say_resume_continues_from_it", () => {
    // a tester: the drawer of a finished extraction said "yes (resume continues from it)"
    expect(checkpointText(makeJob({ state: "succeeded", has_checkpoint: true }))).toBe("yes");
    expect(checkpointText(makeJob({ state: "cancelled", has_checkpoint: true })))
      .toBe("yes (resume continues from it)");
    expect(checkpointText(makeJob({ state: "failed", has_checkpoint: false }))).toBe("none");
  });
});
