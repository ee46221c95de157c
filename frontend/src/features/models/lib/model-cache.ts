/**
 * Keeps the cached models current from pushed data: mutation responses (`upsertModel`,
 * `removeModel`) and the jobs' WebSocket events (`applyModelJobUpdate` copies a job's live
 * progress onto the model that owns it; when the job ends, the models are refetched once, since
 * the job wrote the model row). No polling. Not responsible for receiving events (the app layer).
 */
import type { QueryClient } from "@tanstack/react-query";
import { modelKeys } from "../api/model-keys";
import { type Model, MODEL_JOB_KINDS, type ModelJob, type ModelList } from "../types";

const FINAL_JOB_STATES = new Set(["succeeded", "failed", "cancelled", "interrupted"]);

function listSearch(key: readonly unknown[]): string {
  const filters = key[2] as { search?: string } | undefined;
  return filters?.search ?? "";
}

function matchesSearch(model: Model, search: string): boolean {
  if (!search) return true;
  const needle = search.toLowerCase();
  return [model.name, model.repo_id ?? ""].some((text) => text.toLowerCase().includes(needle));
}

/** The list page after `model` changed: replaced in place, or added first when it is new. */
export function upsertIntoList(page: ModelList, model: Model, search: string): ModelList {
  const index = page.items.findIndex((item) => item.id === model.id);
  if (index >= 0) return { ...page, items: page.items.with(index, model) };
  if (!matchesSearch(model, search)) return page;
  return { items: [model, ...page.items], total: page.total + 1 };
}

export function upsertModel(queryClient: QueryClient, model: Model): void {
  queryClient.setQueryData(modelKeys.detail(model.id), model);
  for (const [key, page] of queryClient.getQueriesData<ModelList>({
    queryKey: modelKeys.lists(),
  })) {
    if (page) queryClient.setQueryData(key, upsertIntoList(page, model, listSearch(key)));
  }
}

export function removeModel(queryClient: QueryClient, id: number): void {
  queryClient.removeQueries({ queryKey: modelKeys.detail(id), exact: true });
  for (const [key, page] of queryClient.getQueriesData<ModelList>({
    queryKey: modelKeys.lists(),
  })) {
    if (!page?.items.some((item) => item.id === id)) continue;
    queryClient.setQueryData<ModelList>(key, {
      items: page.items.filter((item) => item.id !== id),
      total: Math.max(0, page.total - 1),
    });
  }
}

type JobEvent = ModelJob & { kind: string };

function toModelJob(job: JobEvent): ModelJob {
  const { id, kind, state, stage, progress, done, total, unit, rate, eta_s, message } = job;
  const { stages, error_code, error_message, attempt, updated_at } = job;
  return {
    id, kind, state, stage, progress, done, total, unit, rate, eta_s, message, stages,
    error_code, error_message, attempt, updated_at,
  };
}

/** A job event: if a cached model owns the job, show its live progress on that model. */
export function applyModelJobUpdate(queryClient: QueryClient, job: JobEvent): void {
  if (!MODEL_JOB_KINDS.has(job.kind)) return;
  let owned = false;
  for (const [key, page] of queryClient.getQueriesData<ModelList>({
    queryKey: modelKeys.lists(),
  })) {
    const index = page?.items.findIndex((model) => model.job_id === job.id) ?? -1;
    if (!page || index < 0) continue;
    owned = true;
    const model = page.items[index] as Model;
    if (model.job && Date.parse(model.job.updated_at) > Date.parse(job.updated_at)) continue;
    queryClient.setQueryData(key, {
      ...page,
      items: page.items.with(index, { ...model, job: toModelJob(job) }),
    });
  }
  if (owned && FINAL_JOB_STATES.has(job.state)) {
    void queryClient.invalidateQueries({ queryKey: modelKeys.all });
  }
}
