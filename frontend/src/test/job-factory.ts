/**
 * Builds `Job` objects for tests, with every field present and sensible defaults.
 * Not responsible for any server behaviour.
 */
import type { Job } from "@/api/types";

export function makeJob(overrides: Partial<Job> = {}): Job {
  return {
    id: 1,
    kind: "selftest",
    params: { iterations: 20, step_delay_s: 0 },
    state: "queued",
    stage: null,
    progress: null,
    done: null,
    total: null,
    unit: null,
    rate: null,
    eta_s: null,
    message: null,
    stages: null,
    error_code: null,
    error_message: null,
    result: null,
    cancel_requested: false,
    attempt: 1,
    has_checkpoint: false,
    worker_id: null,
    created_at: "2026-01-01T12:00:00Z",
    started_at: null,
    finished_at: null,
    updated_at: "2026-01-01T12:00:00Z",
    heartbeat_at: null,
    owner: null,
    ...overrides,
  };
}
