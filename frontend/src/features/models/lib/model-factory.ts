/**
 * Builds `Model` objects for this feature's tests, with every field present.
 * Not responsible for any server behaviour.
 */
import type { Model, ModelJob } from "../types";

export function makeModelJob(overrides: Partial<ModelJob> = {}): ModelJob {
  return {
    id: 7, kind: "model_download", state: "running", stage: "download", progress: 0.25,
    done: 2_621_440, total: 10_485_760, unit: "bytes", rate: 1_048_576, eta_s: 8,
    message: "file 3/5 model.safetensors", stages: null, error_code: null, error_message: null, attempt: 1,
    updated_at: "2026-01-01T12:00:05Z", ...overrides,
  };
}

export function makeModel(overrides: Partial<Model> = {}): Model {
  return {
    id: 1, key: "org/tiny@abc", name: "org/tiny", source: "hub", repo_id: "org/tiny",
    revision: "main", commit_sha: "abcdef0123456789", status: "downloading", path: null,
    model_type: "llama", architecture: "LlamaForCausalLM", n_layers: 2, d_model: 64,
    vocab_size: 1000, param_count: 226_624, precision_requested: "q4", precision_used: null,
    precision_reason: null, disk_bytes: null, files: [], fidelity: null, info: {},
    positions: null, positions_source: null, tokenizer_sha256: null, source_quantization: null,
    error_message: null, job_id: 7, job: makeModelJob(), created_at: "2026-01-01T12:00:00Z",
    updated_at: "2026-01-01T12:00:00Z", ...overrides,
  };
}
