/**
 * The models feature's names for the backend's `/models` schemas (generated in `schema.d.ts`).
 * Not responsible for fetching.
 */
import type { components } from "@/api/schema";

type Schemas = components["schemas"];

export type Model = Schemas["ModelRead"];
export type ModelList = Schemas["ModelList"];
export type ModelJob = NonNullable<Model["job"]>;
export type ModelCreate = Schemas["ModelCreate"];
export type ModelImportCreate = Schemas["ModelImportCreate"];
export type ModelBundledCreate = Schemas["ModelBundledCreate"];
export type ModelPreflightRequest = Schemas["ModelPreflightRequest"];
export type ModelPreflight = Schemas["ModelPreflightRead"];
export type ModelArchitecture = Schemas["ModelArchitectureRead"];
export type ModuleNode = Schemas["ModuleNodeRead"];
export type ModelLayer = Schemas["LayerRead"];
export type Precision = NonNullable<ModelCreate["precision"]>;

export const PRECISIONS: readonly Precision[] = ["fp32", "fp16", "bf16", "q8", "q4", "q2"];

/** The job kinds whose progress belongs to a model. */
export const MODEL_JOB_KINDS = new Set(["model_download", "model_import"]);
