import { modelKeys } from "../api/model-keys";
import { createTestQueryClient } from "@/test/render";
import type { ModelList } from "../types";
import { applyModelJobUpdate, removeModel, upsertIntoList, upsertModel } from "./model-cache";
import { makeModel, makeModelJob } from "./model-factory";

describe("model cache", () => {
  it("test_job_event_updates_the_owning_models_progress", () => {
    const client = createTestQueryClient();
    client.setQueryData<ModelList>(modelKeys.list(""), { items: [makeModel()], total: 1 });
    applyModelJobUpdate(client, makeModelJob({ done: 5_000_000, updated_at: "2026-01-01T12:00:09Z" }));
    const page = client.getQueryData<ModelList>(modelKeys.list(""));
    expect(page?.items[0]?.job?.done).toBe(5_000_000);
  });

  it("test_other_kinds_and_older_events_are_ignored", () => {
    const client = createTestQueryClient();
    client.setQueryData<ModelList>(modelKeys.list(""), { items: [makeModel()], total: 1 });
    applyModelJobUpdate(client, makeModelJob({ kind: "selftest", done: 1 }));
    applyModelJobUpdate(client, makeModelJob({ done: 2, updated_at: "2026-01-01T11:00:00Z" }));
    expect(client.getQueryData<ModelList>(modelKeys.list(""))?.items[0]?.job?.done).toBe(2_621_440);
  });

  it("test_finished_job_marks_models_stale_once", () => {
    const client = createTestQueryClient();
    client.setQueryData<ModelList>(modelKeys.list(""), { items: [makeModel()], total: 1 });
    applyModelJobUpdate(client, makeModelJob({ state: "succeeded", updated_at: "2026-01-01T12:01:00Z" }));
    expect(client.getQueryState(modelKeys.list(""))?.isInvalidated).toBe(true);
  });

  it("test_upsert_adds_new_models_first_and_respects_search", () => {
    const page: ModelList = { items: [makeModel({ id: 1 })], total: 1 };
    const added = upsertIntoList(page, makeModel({ id: 2, name: "other", repo_id: "x/y" }), "");
    expect(added.items.map((m) => m.id)).toEqual([2, 1]);
    expect(upsertIntoList(page, makeModel({ id: 3, name: "zzz", repo_id: null }), "tiny")).toBe(page);
  });

  it("test_remove_drops_the_model_from_lists", () => {
    const client = createTestQueryClient();
    client.setQueryData<ModelList>(modelKeys.list(""), { items: [makeModel()], total: 1 });
    upsertModel(client, makeModel({ name: "renamed" }));
    expect(client.getQueryData<ModelList>(modelKeys.list(""))?.items[0]?.name).toBe("renamed");
    removeModel(client, 1);
    expect(client.getQueryData<ModelList>(modelKeys.list(""))).toEqual({ items: [], total: 0 });
  });
});
