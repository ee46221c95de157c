/**
 * The extractions feature's names for the backend's `/extractions` schemas (generated in
 * `schema.d.ts`), plus the few other resources its pickers read. Not responsible for fetching.
 */
import type { components } from "@/api/schema";

type Schemas = components["schemas"];

export type Extraction = Schemas["ExtractionRead"];
export type ExtractionList = Schemas["ExtractionList"];
export type ExtractionCreate = Schemas["ExtractionCreate"];
export type ExtractionPreflightRequest = Schemas["ExtractionPreflightRequest"];
export type ExtractionPreflight = Schemas["PreflightRead"];
export type PreflightPlacement = Schemas["PreflightPlacementRead"];
export type ExtractionStats = Schemas["StatsRead"];
export type ExtractionSamples = Schemas["SamplesRead"];
export type ExtractionSample = Schemas["SampleRead"];
export type ExportCreate = Schemas["ExportCreate"];
export type ExportResult = Schemas["ExportRead"];
export type ModelOption = Schemas["ModelRead"];
export type DatasetOption = Schemas["DatasetRead"];
export type TokenizationOption = Schemas["TokenizationRead"];

export const HOOK_KINDS = ["resid_pre", "attn_out", "mlp_act", "mlp_out", "resid_post"] as const;
export type HookKind = (typeof HOOK_KINDS)[number];
/** What each kind captures, as the model's architecture page describes it (`ml/hook_points.py`). */
export const HOOK_KIND_DESCRIPTIONS: Record<HookKind, string> = {
  resid_pre: "residual stream entering the block (HF hidden_states[i])",
  attn_out: "raw output of the attention sub-module",
  mlp_act: "MLP hidden activation (input of the down-projection)",
  mlp_out: "raw output of the MLP sub-module",
  resid_post: "residual stream leaving the block (HF hidden_states[i+1], before final norm)",
};

/** The row groups the statistics are kept for (`stats.json`), with what the UI calls them. */
export type RowGroup = ExtractionStats["group"];
export const ROW_GROUPS: readonly { value: RowGroup; label: string }[] = [
  { value: "non_bos", label: "past the first position (no BOS)" },
  { value: "bos", label: "first position / BOS only" },
  { value: "all", label: "all rows" },
];

export const POSITION_MODES = ["all", "last", "every_k", "exclude_bos"] as const;
export const STORAGE_DTYPES = ["float16", "bfloat16", "float32"] as const;
