"""Streaming readers that turn text files into rows of text, one record at a time.

Formats (chosen by extension): ``.txt`` (one document per line, or the whole file as one
document), ``.jsonl`` / ``.ndjson`` (one JSON object per line), ``.json`` (a list of objects or
strings, or ``{"data": [...]}``; read whole, so capped at ``max_json_bytes``), ``.csv`` (header
row, RFC 4180 quoting, multi-line fields) and ``.parquet`` (pyarrow, ``PARQUET_BATCH_ROWS`` rows
at a time).
Several files are read one after another as one stream of rows. A UTF-8 byte order mark at the
start of a text file (what Excel and Windows Notepad write) is dropped as the encoding marker it
is, so it never reaches the first row, a CSV column name or a JSON line; U+FEFF anywhere else
is text and kept.

Bad input raises a ``TextSourceError`` naming the file, the line or row, and what to do: bytes that
are not UTF-8 (under the ``strict`` decode policy; ``replace`` swaps them for U+FFFD and reports
their count and first positions in a ``DecodeReport``), a malformed JSONL line, a missing text
column, a text column holding lists, objects, numbers or booleans (never turned into their Python
``repr``), an empty file, a ``.parquet`` that is not parquet, a line or record above
``max_record_bytes`` (a zip-bomb-like single huge line never gets into memory whole; a parquet
value is measured from its arrow offsets, before it becomes a Python string).

This module is NOT responsible for detecting columns (``source_inspection.py``), copying files,
statistics (``dataset_stats.py``) or tokenization (``tokenize.py``); it imports only the standard
library, pyarrow (with numpy, its own dependency) and core.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from interpstudio.core.errors import InvalidInput

DecodePolicy = Literal["strict", "replace"]
TxtMode = Literal["line", "file"]
FORMATS: dict[str, str] = {
    ".txt": "txt", ".text": "txt", ".md": "txt", ".jsonl": "jsonl", ".ndjson": "jsonl",
    ".json": "json", ".csv": "csv", ".parquet": "parquet",
}  # fmt: skip
MAX_REPORTED_POSITIONS = 20
READ_CHUNK = 1 << 20  # 1 MiB
# parquet rows decoded at a time, never a whole row group: a file of a kilobyte can hold a row
# group that decodes to gigabytes (one dictionary value repeated in every row)
PARQUET_BATCH_ROWS = 256
UTF8_BOM = b"\xef\xbb\xbf"  # at byte 0: an encoding marker (Excel, Notepad), never text


class TextSourceError(InvalidInput):
    """A file cannot be read as text rows; ``details`` names the file and line/row."""

    code = "bad_text_source"

    def __init__(self, message: str, *, file: str, **details: Any) -> None:
        super().__init__(message, details={"file": file, **details})


class NotUtf8(TextSourceError):
    code = "not_utf8"


class MalformedRecord(TextSourceError):
    code = "malformed_record"


class MissingTextColumn(TextSourceError):
    code = "missing_text_column"


class EmptySource(TextSourceError):
    code = "empty_file"


class NotText(TextSourceError):
    """The text column holds lists, objects, numbers or booleans, not strings."""

    code = "not_text"


class NotParquet(TextSourceError):
    code = "not_parquet"


class RecordTooLarge(TextSourceError):
    code = "record_too_large"


class UnsupportedFormat(TextSourceError):
    code = "unsupported_format"


@dataclass(frozen=True)
class ReadOptions:
    """How to read files: all choices explicit, the defaults stated."""

    text_column: str | None = None  # None: detected (see ``detect_text_column``)
    txt_mode: TxtMode = "line"  # "line": one document per line; "file": the whole file
    decode: DecodePolicy = "strict"  # "replace": bad bytes become U+FFFD, counted and located
    max_record_bytes: int = 64 * 1024 * 1024  # a longer line/record is refused
    max_json_bytes: int = 256 * 1024 * 1024  # .json is parsed whole; bigger -> use JSONL


@dataclass
class DecodeReport:
    """Bytes that were not UTF-8: how many, and where the first ones were."""

    invalid_sequences: int = 0
    invalid_bytes: int = 0
    positions: list[dict[str, Any]] = field(default_factory=list)  # {file, line, byte_offset}

    def add(self, file: str, line: int, byte_offset: int, length: int) -> None:
        self.invalid_sequences += 1
        self.invalid_bytes += length
        if len(self.positions) < MAX_REPORTED_POSITIONS:
            self.positions.append({"file": file, "line": line, "byte_offset": byte_offset})

    def to_dict(self) -> dict[str, Any]:
        return {"invalid_sequences": self.invalid_sequences, "invalid_bytes": self.invalid_bytes,
                "positions": self.positions}


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UnsupportedFormat(
            f"{path.name}: unsupported file type {path.suffix or '(none)'!r}; use one of "
            f"{', '.join(sorted(FORMATS))}", file=path.name, supported=sorted(FORMATS))
    return fmt


# -- decoding -----------------------------------------------------------------------------------
def _decode(data: bytes, *, file: str, line: int, offset: int, policy: DecodePolicy,
            report: DecodeReport) -> str:
    """UTF-8 decode one record; record every invalid sequence (byte offset in the file)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    parts: list[str] = []
    start = 0
    while True:
        try:
            parts.append(data[start:].decode("utf-8"))
            break
        except UnicodeDecodeError as exc:
            parts.append(data[start:start + exc.start].decode("utf-8"))
            report.add(file, line, offset + start + exc.start, exc.end - exc.start)
            parts.append("\ufffd")
            start += exc.end
    if policy == "strict":
        raise NotUtf8(
            f"{file}: line {line} (byte {report.positions[0]['byte_offset']}) is not valid UTF-8 "
            f"({report.invalid_sequences} invalid sequence(s) so far); re-encode the file as "
            "UTF-8, or import with decode policy 'replace' to substitute U+FFFD",
            file=file, line=line, **report.to_dict())
    return "".join(parts)


def _finish_strict_scan(path: Path, lines: Iterator[tuple[int, int, bytes]], error: NotUtf8,
                        report: DecodeReport) -> NotUtf8:
    """After the first bad line under 'strict', count the rest so the error gives the total."""
    for line, offset, data in lines:
        _decode(data, file=path.name, line=line, offset=offset, policy="replace", report=report)
    error.details.update(report.to_dict())
    error.message = (f"{path.name}: {report.invalid_sequences} invalid UTF-8 sequence(s) "
                     f"({report.invalid_bytes} bytes), first at line "
                     f"{report.positions[0]['line']} byte {report.positions[0]['byte_offset']}; "
                     "re-encode the file as UTF-8, or import with decode policy 'replace'")
    error.args = (error.message,)
    return error


def iter_raw_lines(path: Path, max_record_bytes: int) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(line_number, byte_offset, bytes)`` without the newline; never holds a huge line.

    A UTF-8 BOM at byte 0 is skipped (line 1 then starts at byte 3): it marks the encoding and
    is not part of the first row, CSV header or JSON line. Elsewhere U+FEFF is text and kept."""
    line_number, offset, pending = 1, 0, bytearray()
    with open(path, "rb") as handle:
        if handle.read(len(UTF8_BOM)) == UTF8_BOM:
            offset = len(UTF8_BOM)
        else:
            handle.seek(0)
        while chunk := handle.read(READ_CHUNK):
            start = 0
            while (end := chunk.find(b"\n", start)) != -1:
                pending += chunk[start:end]
                _check_record_size(path, line_number, len(pending), max_record_bytes)
                yield line_number, offset, bytes(pending).removesuffix(b"\r")
                offset += len(pending) + 1
                line_number += 1
                pending.clear()
                start = end + 1
            pending += chunk[start:]
            _check_record_size(path, line_number, len(pending), max_record_bytes)
    if pending:
        yield line_number, offset, bytes(pending).removesuffix(b"\r")


def is_empty_file(path: Path) -> bool:
    """No bytes, or only a UTF-8 BOM: nothing to read."""
    size = path.stat().st_size
    if size > len(UTF8_BOM):
        return False
    with open(path, "rb") as handle:
        return handle.read() in (b"", UTF8_BOM)


def _check_record_size(path: Path, number: int, size: int, limit: int, *,
                       unit: Literal["line", "row"] = "line") -> None:
    """Refuse a record over ``limit`` bytes: a text line, or a parquet row's value."""
    if size > limit:
        raise RecordTooLarge(
            f"{path.name}: {unit} {number} is longer than {limit:,} bytes; split it into "
            f"shorter {unit}s (or raise the record size limit, max_record_bytes, if this is "
            "intended)", file=path.name, **{unit: number}, limit_bytes=limit)


def decoded_lines(path: Path, options: ReadOptions,
                   report: DecodeReport) -> Iterator[tuple[int, str]]:
    lines = iter_raw_lines(path, options.max_record_bytes)
    for line, offset, data in lines:
        try:
            yield line, _decode(data, file=path.name, line=line, offset=offset,
                                policy=options.decode, report=report)
        except NotUtf8 as error:
            raise _finish_strict_scan(path, lines, error, report) from None


# -- per-format readers -------------------------------------------------------------------------
def _read_txt(path: Path, options: ReadOptions, report: DecodeReport) -> Iterator[str]:
    if options.txt_mode == "line":
        for _line, text in decoded_lines(path, options, report):
            yield text
        return
    size = path.stat().st_size
    _check_record_size(path, 1, size, options.max_record_bytes)
    parts = [text for _line, text in decoded_lines(path, options, report)]
    yield "\n".join(parts)


def json_kind(value: Any) -> str:
    """A value's JSON type with its article, as a message shows it ("a list", "an object")."""
    return ("a boolean" if isinstance(value, bool) else "a number"
            if isinstance(value, int | float) else "a list" if isinstance(value, list)
            else "an object" if isinstance(value, dict) else f"a {type(value).__name__}")


def not_text(file: str, where: str, column: str | None, what: str) -> NotText:
    """A text column value that is not a string: refused, never turned into its repr."""
    return NotText(
        f"{file}: {where}: the column {column!r} holds {what}, not text; choose a column of "
        "strings (or convert its values to text before importing)", file=file, where=where,
        column=column, value_type=what)


def _record_text(record: Any, column: str | None, *, path: Path, where: str) -> str:
    if isinstance(record, str) and column is None:
        return record
    if not isinstance(record, dict):
        raise MalformedRecord(
            f"{path.name}: {where} is a {type(record).__name__}, not an object; each record "
            "must be a JSON object with a text field", file=path.name, where=where)
    if column is None or column not in record:
        raise MissingTextColumn(
            f"{path.name}: {where} has no column {column!r} (it has: "
            f"{', '.join(map(str, record))}); choose the text column", file=path.name,
            where=where, column=column, columns=list(map(str, record)))
    value = record[column]
    if value is None or isinstance(value, str):
        return value or ""
    raise not_text(path.name, where, column, json_kind(value))


def _read_jsonl(path: Path, options: ReadOptions, report: DecodeReport,
                column: str | None) -> Iterator[str]:
    for line, text in decoded_lines(path, options, report):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MalformedRecord(
                f"{path.name}: line {line} is not valid JSON ({exc.msg} at column {exc.colno}); "
                "fix or remove that line", file=path.name, line=line, column_number=exc.colno,
            ) from None
        yield _record_text(record, column, path=path, where=f"line {line}")


def load_json_records(path: Path, options: ReadOptions, report: DecodeReport) -> list[Any]:
    if path.stat().st_size > options.max_json_bytes:
        raise RecordTooLarge(
            f"{path.name}: a .json file is parsed whole and this one exceeds "
            f"{options.max_json_bytes:,} bytes; convert it to JSONL (one object per line)",
            file=path.name, limit_bytes=options.max_json_bytes)
    text = "\n".join(t for _line, t in decoded_lines(path, options, report))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedRecord(
            f"{path.name}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "fix the file or convert it to JSONL", file=path.name, line=exc.lineno,
        ) from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise MalformedRecord(
            f"{path.name}: expected a JSON list of records (or {{\"data\": [...]}}), found a "
            f"{type(data).__name__}", file=path.name)
    return data


def _read_json(path: Path, options: ReadOptions, report: DecodeReport,
               column: str | None) -> Iterator[str]:
    for index, record in enumerate(load_json_records(path, options, report)):
        yield _record_text(record, column, path=path, where=f"record {index}")


def csv_rows(path: Path, options: ReadOptions, report: DecodeReport) -> Iterator[list[str]]:
    lines = (text + "\n" for _line, text in decoded_lines(path, options, report))
    csv.field_size_limit(max(csv.field_size_limit(), options.max_record_bytes))
    reader = csv.reader(lines)
    try:
        yield from reader
    except csv.Error as exc:
        raise MalformedRecord(f"{path.name}: CSV line {reader.line_num}: {exc}; fix the quoting",
                              file=path.name, line=reader.line_num) from None


def _read_csv(path: Path, options: ReadOptions, report: DecodeReport,
              column: str | None) -> Iterator[str]:
    rows = csv_rows(path, options, report)
    header = next(rows, None)
    if header is None:
        raise EmptySource(f"{path.name}: the CSV file is empty; it needs a header row",
                          file=path.name)
    if column not in header:
        raise MissingTextColumn(
            f"{path.name}: the CSV has no column {column!r} (columns: {', '.join(header)}); "
            "choose one of them as the text column", file=path.name, column=column,
            columns=header)
    index = header.index(column)
    for number, row in enumerate(rows, start=1):
        if not row:
            continue
        if index >= len(row):
            raise MalformedRecord(
                f"{path.name}: row {number} has {len(row)} field(s), fewer than the header's "
                f"{len(header)}; fix that row", file=path.name, row=number)
        yield row[index]


def open_parquet(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise NotParquet(
            f"{path.name}: not a readable parquet file ({exc}); check the file or rename it "
            "to its real extension", file=path.name) from None


def is_text_type(arrow_type: Any) -> bool:
    """A parquet column type whose values are strings (or all null)."""
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
                or pa.types.is_string_view(arrow_type) or pa.types.is_null(arrow_type))


def _value_sizes(array: Any) -> Any:
    """Each value's length in bytes (a null: 0) as a numpy array, read from the arrow offsets
    or views: no value becomes a Python string to be measured."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    valid = array.is_valid().to_numpy(zero_copy_only=False)
    if pa.types.is_dictionary(array.type):
        sizes = _value_sizes(array.dictionary)
        indices = array.indices.fill_null(0).to_numpy(zero_copy_only=False)
        return np.where(valid, sizes[indices] if len(sizes) else 0, 0)
    if pa.types.is_null(array.type):
        return np.zeros(len(array), dtype=np.int64)
    if pa.types.is_string_view(array.type) or pa.types.is_binary_view(array.type):
        # 16-byte views whose first int32 is the value's length
        views = np.frombuffer(array.buffers()[1], dtype=np.int32).reshape(-1, 4)
        sizes = views[array.offset:array.offset + len(array), 0].astype(np.int64)
    else:
        sizes = pc.binary_length(array).fill_null(0).to_numpy().astype(np.int64)
    return np.where(valid, sizes, 0)


def check_parquet_values(path: Path, array: Any, first_row: int, limit: int) -> Any:
    """Refuse a value of ``array`` (a column of strings, rows ``first_row``, ``first_row + 1``,
    ...) over ``limit`` bytes, as a text line over it is; returns the values' sizes."""
    sizes = _value_sizes(array)
    over = (sizes > limit).nonzero()[0]
    if len(over):
        _check_record_size(path, first_row + int(over[0]), int(sizes[over[0]]), limit,
                           unit="row")
    return sizes


def _slices_within(sizes: Any, limit: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` runs of consecutive values whose sizes add up to at most ``limit``
    (a single value always fits: it was checked against the limit)."""
    start, total = 0, 0
    for index, size in enumerate(sizes.tolist()):
        if total + size > limit and index > start:
            yield start, index
            start, total = index, 0
        total += size
    yield start, len(sizes)


def _read_parquet(path: Path, column: str | None, max_record_bytes: int) -> Iterator[str]:
    parquet = open_parquet(path)
    names = parquet.schema_arrow.names
    if column not in names:
        raise MissingTextColumn(
            f"{path.name}: the parquet file has no column {column!r} (columns: "
            f"{', '.join(names)}); choose one of them", file=path.name, column=column,
            columns=names)
    arrow_type = parquet.schema_arrow.field(column).type
    if not is_text_type(arrow_type):
        raise not_text(path.name, "the parquet schema", column, f"values of type {arrow_type}")
    first_row = 1
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=[column],
                                      use_threads=False):
        values = batch.column(0)
        sizes = check_parquet_values(path, values, first_row, max_record_bytes)
        first_row += len(values)
        # Python strings a run at a time, a run's values together at most the record limit: a
        # batch of long values is never a list of them all (nor a repeated one many times over)
        for start, stop in _slices_within(sizes, max_record_bytes):
            for value in values.slice(start, stop - start).to_pylist():
                yield value or ""


def iter_texts(paths: Iterable[Path], options: ReadOptions,
               report: DecodeReport | None = None) -> Iterator[str]:
    """Every row's text, file after file, streaming; raises ``TextSourceError`` on bad input."""
    report = report if report is not None else DecodeReport()
    column = options.text_column
    for path in paths:
        fmt = file_format(path)
        if is_empty_file(path):
            raise EmptySource(f"{path.name}: the file is empty; remove it or give a file with "
                              "text", file=path.name)
        if fmt == "txt":
            yield from _read_txt(path, options, report)
        elif fmt == "jsonl":
            yield from _read_jsonl(path, options, report, column)
        elif fmt == "json":
            yield from _read_json(path, options, report, column)
        elif fmt == "csv":
            yield from _read_csv(path, options, report, column)
        else:
            yield from _read_parquet(path, column, options.max_record_bytes)


