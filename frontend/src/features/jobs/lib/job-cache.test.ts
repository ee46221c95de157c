import { makeJob } from "@/test/job-factory";
import type { JobListFilters } from "../api/job-keys";
import { PAGE_SHIFTED, updateJobList } from "./job-cache";

const all: JobListFilters = { states: [], kind: null, limit: 3, offset: 0 };

describe("updateJobList", () => {
  it("test_removes_job_that_leaves_the_filter", () => {
    const running = { ...all, states: ["running" as const] };
    const page = { items: [makeJob({ id: 2, state: "running" })], total: 1 };
    const next = updateJobList(page, makeJob({ id: 2, state: "succeeded" }), running);
    expect(next).toEqual({ items: [], total: 0 });
  });

  it("test_ignores_job_of_another_kind", () => {
    const page = { items: [], total: 0 };
    expect(updateJobList(page, makeJob({ id: 1, kind: "download" }), { ...all, kind: "selftest" })).toBe(page);
  });

  it("test_new_job_trims_full_first_page", () => {
    const page = { items: [3, 2, 1].map((id) => makeJob({ id })), total: 3 };
    const next = updateJobList(page, makeJob({ id: 4 }), all);
    expect(next !== PAGE_SHIFTED && next.items.map((j) => j.id)).toEqual([4, 3, 2]);
    expect(next !== PAGE_SHIFTED && next.total).toBe(4);
  });

  it("test_new_job_on_later_page_marks_it_shifted", () => {
    const page = { items: [3, 2, 1].map((id) => makeJob({ id })), total: 6 };
    expect(updateJobList(page, makeJob({ id: 7 }), { ...all, offset: 3 })).toBe(PAGE_SHIFTED);
  });
});
