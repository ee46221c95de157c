import { describe, expect, it } from "vitest";
import { jobKeys } from "@/features/jobs/api/job-keys";
import { liveJobKey } from "./live-job";

describe("liveJobKey", () => {
  it("is the key the live-update wiring writes pushed jobs under", () => {
    expect(liveJobKey(7)).toEqual(jobKeys.detail(7));
  });
});
