"""A quick look at source files before reading them: formats, columns, the text column
(chosen or detected), and a fast row estimate for progress.

``inspect_sources`` reads only the first records of each file (decoding leniently: the full read
reports bad bytes with their positions; of a parquet file, only its string columns) and refuses
what can be refused early (empty file, not parquet, missing text column, a text column of lists,
objects or numbers). This module is NOT responsible for reading every row
(``text_sources.iter_texts``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interpstudio.core.errors import InvalidInput
from interpstudio.ml.text_sources import (
    READ_CHUNK,
    DecodeReport,
    EmptySource,
    MissingTextColumn,
    ReadOptions,
    check_parquet_values,
    csv_rows,
    decoded_lines,
    file_format,
    is_empty_file,
    is_text_type,
    json_kind,
    load_json_records,
    not_text,
    open_parquet,
)

TEXT_COLUMN_NAMES = ("text", "content", "document", "body", "sentence", "story", "article",
                     "passage", "prompt", "question", "input")


@dataclass(frozen=True)
class SourceInfo:
    """What a quick look at the files found: format, columns, the detected text column."""

    files: list[str]
    formats: list[str]
    columns: list[str]
    text_column: str | None
    detected_text_column: str | None


# -- columns and detection ----------------------------------------------------------------------
def _sample_records(path: Path, fmt: str, options: ReadOptions,
                    limit: int = 50) -> list[dict[str, Any]]:
    scratch = DecodeReport()
    relaxed = ReadOptions(decode="replace", max_record_bytes=options.max_record_bytes,
                          max_json_bytes=options.max_json_bytes)
    records: list[dict[str, Any]] = []
    if fmt == "jsonl":
        for line, text in decoded_lines(path, relaxed, scratch):
            if text.strip():
                try:
                    value = json.loads(text)
                except json.JSONDecodeError:
                    continue  # the full read reports it with its line number
                if isinstance(value, dict):
                    records.append(value)
            if len(records) >= limit or line > 10 * limit:
                break
    elif fmt == "json":
        records = [r for r in load_json_records(path, relaxed, scratch)[:limit]
                   if isinstance(r, dict)]
    elif fmt == "csv":
        rows = csv_rows(path, relaxed, scratch)
        header = next(rows, None) or []
        for row in rows:
            records.append(dict(zip(header, row, strict=False)))
            if len(records) >= limit:
                break
        if not records and header:
            records = [dict.fromkeys(header, "")]
    elif fmt == "parquet":
        records = _sample_parquet(path, options, limit)
    return records


@dataclass(frozen=True)
class NotDecoded:
    """A sampled value of a parquet column that cannot be the text (binary, numbers, lists):
    left in the file. A binary value can be of any size, and no rule reads more than its type,
    which is never a string: the column is never detected, and is refused by its schema when
    chosen."""

    arrow_type: str


def _sample_parquet(path: Path, options: ReadOptions, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` rows of the string columns, never the whole first row group (a
    parquet bomb decodes to gigabytes, and the API inspects an upload in its own process); a
    value over the record limit is refused before it becomes a str. The other columns are not
    read: their values are ``NotDecoded``."""
    parquet = open_parquet(path)
    schema = parquet.schema_arrow
    texts = [field.name for field in schema if is_text_type(field.type)]
    first = (next(parquet.iter_batches(batch_size=limit, columns=texts), None)
             if texts else None)
    rows = first.num_rows if first is not None else 0
    sampled: dict[str, list[Any]] = {}
    if rows:
        for name, values in zip(texts, first.columns, strict=True):
            check_parquet_values(path, values, 1, options.max_record_bytes)
            sampled[name] = values.to_pylist()
    return [{field.name: (sampled[field.name][row] if field.name in sampled
                          else None if field.name in texts else NotDecoded(str(field.type)))
             for field in schema} for row in range(max(rows, 1))]


def _first_non_text(records: list[dict[str, Any]], column: str) -> tuple[int, Any] | None:
    """The first sampled value of ``column`` that is neither a string nor null."""
    for index, record in enumerate(records):
        value = record.get(column)
        if value is not None and not isinstance(value, str):
            return index, value
    return None


def detect_text_column(records: list[dict[str, Any]]) -> str | None:
    """A well-known text column name whose values are strings if present, else the string
    column with longest values (a list, object or number column is never detected, nor one
    whose every value reads as a number: a CSV's numbers are strings)."""
    if not records:
        return None
    columns = list(records[0])
    lowered = {c.lower(): c for c in columns}
    for name in TEXT_COLUMN_NAMES:
        if name in lowered and _first_non_text(records, lowered[name]) is None:
            return lowered[name]
    lengths = {c: 0.0 for c in columns}
    for record in records:
        for c in columns:
            value = record.get(c)
            lengths[c] += len(value) if isinstance(value, str) else -1e9
    texts = [c for c in columns if lengths[c] > 0 and not _all_numbers(records, c)]
    return max(texts, key=lambda c: lengths[c]) if texts else None


def _all_numbers(records: list[dict[str, Any]], column: str) -> bool:
    """Whether every sampled value of ``column`` reads as a number ("12", "-0.5", "1e3")."""
    for record in records:
        try:
            float(record.get(column) or "")
        except ValueError:
            return False
    return True


def inspect_sources(paths: list[Path], options: ReadOptions) -> SourceInfo:
    """Formats, columns and the text column (chosen or detected) of ``paths``; refuses empties
    and a text column whose first values are not strings."""
    if not paths:
        raise InvalidInput("no files given; add at least one file")
    formats = [file_format(p) for p in paths]
    columns: list[str] = []
    detected: str | None = None
    sampled: tuple[Path, list[dict[str, Any]]] | None = None  # the file the columns come from
    for path, fmt in zip(paths, formats, strict=True):
        if is_empty_file(path):
            raise EmptySource(f"{path.name}: the file is empty; remove it or give a file with "
                              "text", file=path.name)
        if fmt == "txt" or columns:
            continue
        records = _sample_records(path, fmt, options)
        if records:
            columns = list(map(str, records[0]))
            detected = detect_text_column(records)
            sampled = path, records
    chosen = options.text_column or detected
    if columns and chosen is None:
        raise MissingTextColumn(
            f"{paths[0].name}: no text column could be detected among {', '.join(columns)}; "
            "choose one", file=paths[0].name, columns=columns)
    if columns and chosen not in columns:
        raise MissingTextColumn(
            f"{paths[0].name}: no column {chosen!r} (columns: {', '.join(columns)}); choose "
            "one of them as the text column", file=paths[0].name, column=chosen, columns=columns)
    if sampled is not None and chosen is not None:
        _refuse_non_text(*sampled, chosen)
    return SourceInfo(files=[p.name for p in paths], formats=formats, columns=columns,
                      text_column=chosen if columns else None, detected_text_column=detected)


def _refuse_non_text(path: Path, records: list[dict[str, Any]], column: str) -> None:
    """Refuse, before any copy, a chosen column whose first values are not strings."""
    if file_format(path) == "parquet":
        arrow_type = open_parquet(path).schema_arrow.field(column).type
        if not is_text_type(arrow_type):
            raise not_text(path.name, "the parquet schema", column,
                           f"values of type {arrow_type}")
    found = _first_non_text(records, column)
    if found is not None:
        index, value = found
        raise not_text(path.name, f"record {index + 1}", column, json_kind(value))


def estimate_rows(paths: Iterable[Path], options: ReadOptions) -> int | None:
    """A fast row estimate for progress: exact for parquet and whole-file txt, newline counts
    for line formats (blank lines and multi-line CSV fields make it an upper bound); None where
    a file is a .json document, whose records are known only once it is parsed (its lines say
    nothing: a pretty-printed list of 2 records has 8, one written on one line has 1)."""
    total = 0
    for path in paths:
        fmt = file_format(path)
        if fmt == "json":
            return None
        if fmt == "parquet":
            total += int(open_parquet(path).metadata.num_rows)
        elif fmt == "txt" and options.txt_mode == "file":
            total += 1
        else:
            newlines, last = 0, b""
            with open(path, "rb") as handle:
                while chunk := handle.read(READ_CHUNK):
                    newlines += chunk.count(b"\n")
                    last = chunk
            total += newlines + (1 if last and not last.endswith(b"\n") else 0)
            total -= 1 if fmt == "csv" else 0  # the header
    return max(total, 0)
