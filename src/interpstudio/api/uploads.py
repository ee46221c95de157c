"""Streaming multipart uploads: file parts go to disk chunk by chunk, never whole in memory.

``receive_upload`` parses a ``multipart/form-data`` request body as it arrives (python-multipart's
push parser), writes each file part into a staging folder under its sanitised base name, keeps
small text fields (at most ``MAX_FIELDS``, each ``MAX_FIELD_BYTES``: held in memory; a part
header is capped by python-multipart), and stops with ``UploadTooLarge`` (413) as soon as
the file bytes pass the limit (or at once when ``Content-Length`` already says so). On any error
the staging folder is removed. This module is NOT responsible for what the files become
(``services/datasets.py``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import IO, Any

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from interpstudio.api.nul_guard import refuse_nul
from interpstudio.core.errors import InvalidInput
from interpstudio.ml.text_sources import file_format
from interpstudio.services.dataset_errors import UploadTooLarge

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 32  # the form sends a handful; each is held in memory, and names were unbounded
MAX_FILES = 100
MULTIPART_OVERHEAD = 64 * 1024  # headers and boundaries on top of the file bytes


class _UploadState:
    def __init__(self, staging: Path, limit: int) -> None:
        self.staging, self.limit = staging, limit
        self.received = 0
        self.files: list[str] = []
        self.fields: dict[str, str] = {}
        self._headers: dict[str, bytes] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._handle: IO[bytes] | None = None
        self._field: tuple[str, bytearray] | None = None

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin, "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }  # fmt: skip

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._header_name).lower().decode("latin-1")] = bytes(
            self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _disposition, options = parse_options_header(self._headers.get("content-disposition",
                                                                       b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is None:
            if len(self.fields) >= MAX_FIELDS:
                raise InvalidInput(f"at most {MAX_FIELDS} form fields per upload",
                                   details={"max_fields": MAX_FIELDS})
            self._field = (name, bytearray())
            return
        base = Path(filename.decode("utf-8", "replace").replace("\\", "/")).name
        refuse_nul("an upload file name", base)
        if not base or base.startswith(".") or base in self.files:
            raise InvalidInput(f"upload file name {base!r} is empty, hidden or repeated; "
                               "rename the file", details={"filename": base})
        file_format(Path(base))  # unsupported types are refused before any byte is kept
        if len(self.files) >= MAX_FILES:
            raise InvalidInput(f"at most {MAX_FILES} files per upload",
                               details={"max_files": MAX_FILES})
        self.files.append(base)
        self._handle = open(self.staging / base, "xb")  # noqa: SIM115 (closed in _part_end)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._handle is not None:
            self.received += end - start
            if self.received > self.limit:
                raise UploadTooLarge(self.limit, self.received)
            self._handle.write(data[start:end])
        elif self._field is not None:
            self._field[1].extend(data[start:end])
            if len(self._field[1]) > MAX_FIELD_BYTES:
                raise InvalidInput(f"form field {self._field[0]!r} is too long",
                                   details={"field": self._field[0]})

    def _part_end(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None
        if self._field is not None:
            value = self._field[1].decode("utf-8", "replace")
            refuse_nul(f"form field {self._field[0]}", value)
            self.fields[self._field[0]] = value
            self._field = None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


async def receive_upload(request: Request, staging: Path,
                         limit: int) -> tuple[list[str], dict[str, str]]:
    """Stream the body's files into ``staging``; return (file names in order, text fields)."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise InvalidInput("send the files as multipart/form-data (field name 'files')",
                           details={"content_type": content_type.decode("latin-1")})
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise UploadTooLarge(limit, int(declared))
    staging.mkdir(parents=True)
    state = _UploadState(staging, limit)
    complete = False
    try:
        parser = MultipartParser(boundary, state.callbacks())
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        complete = True
    except MultipartParseError as exc:
        raise InvalidInput(f"the multipart body is malformed ({exc}); send the files as "
                           "multipart/form-data with the field name 'files'") from None
    finally:
        if not complete:  # refused, disconnected or cancelled: keep nothing
            state.close()
            shutil.rmtree(staging, ignore_errors=True)
    if not state.files:
        shutil.rmtree(staging, ignore_errors=True)
        raise InvalidInput("the upload holds no files; attach at least one file as 'files'")
    return state.files, state.fields
