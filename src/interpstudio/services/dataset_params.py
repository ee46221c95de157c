"""Job parameter schemas for datasets (import, tokenization); gathered by ``job_kinds.py``.

Also the two value objects requests and jobs share: ``ReadOptionsSpec`` (how source files are
read) and ``TokenizationPolicySpec`` (the tokenization policy, every field explicit). This module
is NOT responsible for running the jobs (``jobs/tasks/``) or for the use cases (``services/``); it
must stay torch-free.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from interpstudio.services.job_params import JobParams


class ReadOptionsSpec(BaseModel):
    """How to read the source files (the defaults are stated, not guessed)."""

    model_config = ConfigDict(extra="forbid")

    text_column: str | None = Field(
        default=None, max_length=256,
        description="Column holding the text (jsonl/json/csv/parquet); default: detected.")
    txt_mode: Literal["line", "file"] = Field(
        default="line", description=".txt files: one document per line, or the whole file.")
    decode: Literal["strict", "replace"] = Field(
        default="strict",
        description="Bytes that are not UTF-8: refuse (strict) or substitute U+FFFD (replace).")
    max_record_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, le=2**31,
                                  description="A longer line or record is refused.")


class TokenizationPolicySpec(BaseModel):
    """The tokenization policy; ``add_bos`` null means "what the model's tokenizer does"."""

    model_config = ConfigDict(extra="forbid")

    max_length: int = Field(default=1024, ge=1, le=1_048_576,
                            description="Tokens per sequence (truncate) or window (pack); "
                                        "left out: 1024, or the model's positions where fewer "
                                        "(said in the policy's max_length_note). Past the "
                                        "model's positions: refused.")
    mode: Literal["truncate", "pack"] = Field(
        default="truncate",
        description="truncate: one sequence per row, cut at max_length; pack: rows joined with "
                    "EOS into full max_length windows (last partial window dropped). No padding.")
    add_bos: bool | None = Field(
        default=None, description="Prepend BOS; null = the tokenizer's own default (recorded).")
    min_tokens: int = Field(default=1, ge=0, le=1_048_576,
                            description="Rows with fewer tokens are dropped (and counted).")


class DatasetImportParams(JobParams):
    dataset_id: int = Field(ge=1)
    source_paths: list[str] = Field(
        default_factory=list, description="Local files to copy in (local/bundled imports).")
    read: ReadOptionsSpec = Field(default_factory=ReadOptionsSpec)


class TokenizeParams(JobParams):
    tokenization_id: int = Field(ge=1)
    batch_rows: int = Field(default=1024, ge=1, le=65_536,
                            description="Rows per tokenizer call (and per commit).")


KINDS: dict[str, type[JobParams]] = {
    "dataset_import": DatasetImportParams,
    "tokenize": TokenizeParams,
}
