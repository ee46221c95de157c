/**
 * The datasets feature's names for the backend's `/datasets` and `/tokenizations` schemas
 * (generated in `schema.d.ts`). Not responsible for fetching.
 */
import type { components } from "@/api/schema";

type Schemas = components["schemas"];

export type Dataset = Schemas["DatasetRead"];
export type DatasetList = Schemas["DatasetList"];
export type DatasetCreate = Schemas["DatasetCreate"];
export type DatasetPreview = Schemas["DatasetPreview"];
export type ReadOptions = Schemas["ReadOptionsSpec"];
export type Tokenization = Schemas["TokenizationRead"];
export type TokenizationList = Schemas["TokenizationList"];
export type TokenizationCreate = Schemas["TokenizationCreate"];
export type TokenizationPolicy = Schemas["TokenizationPolicySpec"];
export type TokenizationPreview = Schemas["TokenizationPreview"];
export type PolicyPreview = Schemas["PolicyPreview"];
export type PolicyPreviewRequest = Schemas["PolicyPreviewRequest"];
/** What every token preview carries (a sequence or a dry-run row). */
export type TokenView = {
  n_tokens: number;
  ids: number[];
  pieces: (string | null)[];
  token_texts: string[];
};

/** A length-histogram bucket as the backend stores it in `stats.length_histogram`. */
export type HistogramBucket = { lo: number; hi: number; count: number };

/** Every read option spelled out (the server's defaults, stated). */
export const DEFAULT_READ_OPTIONS: ReadOptions = {
  text_column: null,
  txt_mode: "line",
  decode: "strict",
  max_record_bytes: 64 * 1024 * 1024,
};

/** The fields of a create request that only the Hub uses, at their defaults. */
export const HUB_DEFAULTS = { revision: "main", config: "default", split: "train" } as const;
