"""Check a ``.gguf`` file from its header alone, before anything is converted or copied.

``check_gguf(path)`` reads the header (magic, version, metadata, tensor table) with ``struct``,
without building a ``gguf.GGUFReader`` or importing torch, and raises:

- ``CorruptGGUF`` when the file is not GGUF, its header is cut off or malformed, a tensor has an
  unknown ggml type, or a tensor's data would end past the end of the file (a truncated copy:
  the message names the tensor, the byte it needs and the file's size);
- ``UnsupportedGGUFArchitecture`` when ``general.architecture`` is not one transformers' GGUF
  loader can read (its ``GGUF_CONFIG_MAPPING``), with the list of those it can;
- ``model_support.UnsupportedArchitecture`` when transformers reads it but not as a causal LM
  (``t5``).

It returns a ``GGUFSummary`` (architecture, the transformers ``model_type`` it maps to, tensor
count, ``general.file_type`` and the ggml type of every tensor). Without this, transformers raised a
bare ``ValueError`` (``cannot reshape array of size ...`` for a truncated file) in the middle of
the import job.

``GGUFSummary.source_quantization()``: what the file's weights were stored as, for the model row
(``Q4_1`` for the bundled SmolLM2): the import dequantizes them to float32, so "fp32" there means a
float32 copy of 4-bit weights, not the original model's, and drift "vs fp32" is measured against
that copy. None for a file of float32 tensors only. A conversion leaves it beside the float32
checkpoint it writes (``write_conversion_record``, ``CONVERSION_RECORD``), so that a later load of
that folder (a notebook's ``load_model``, the app's folder import) still says what the weights
came from (``read_conversion_record``).

``UnconvertibleGGUF`` is what ``loading.convert_gguf_to_safetensors`` raises when transformers
still refuses a file that passed (an unsupported ggml type, a tokenizer it cannot read).

This module is NOT responsible for converting (``loading.convert_gguf_to_safetensors``) or for
deciding what to import (``local_import.py``).
"""

from __future__ import annotations

import json
import logging
import mmap
import re
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interpstudio.core.errors import InvalidInput

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
# what a GGUF conversion leaves beside the float32 checkpoint it writes (a .json: the folder
# import copies it with the checkpoint)
CONVERSION_RECORD = "interpstudio_gguf_source.json"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
# GGUF metadata value types -> size in bytes of the fixed-size ones (8 string, 9 array)
_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_SCALAR_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q",
                   11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9
# llama.cpp architecture names transformers renames before its lookup (modeling_gguf_pytorch_utils)
_RENAMED = {"qwen2moe": "qwen2_moe", "gpt-oss": "gpt_oss", "qwen3moe": "qwen3_moe",
            "minimax-m2": "minimax_m2"}
_NOT_ARCHITECTURES = ("general", "tokenizer")  # keys of the mapping that name no model


class CorruptGGUF(InvalidInput):
    code = "corrupt_gguf"

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"{path.name} is not a valid GGUF file ({reason}); it may be truncated or corrupt: "
            "copy or download it again",
            details={"file": str(path), "reason": reason},
        )


class UnsupportedGGUFArchitecture(InvalidInput):
    code = "unsupported_gguf_architecture"

    def __init__(self, path: Path, architecture: str, supported: list[str]) -> None:
        super().__init__(
            f"{path.name}: GGUF architecture {architecture!r} is not supported by transformers' "
            f"GGUF loader (supported: {', '.join(supported)}); import a transformers checkpoint "
            "of the model (a folder with config.json and .safetensors) instead",
            details={"file": str(path), "architecture": architecture, "supported": supported},
        )


class UnconvertibleGGUF(InvalidInput):
    """A GGUF that passed ``check_gguf`` but that transformers still refused to convert."""

    code = "unconvertible_gguf"

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"transformers could not convert {path.name} ({reason}); import a transformers "
            "checkpoint of the model (a folder with config.json and .safetensors) instead",
            details={"file": str(path), "reason": reason},
        )


_UNQUANTIZED = ("F32", "F64")  # tensor types whose float32 copy holds every value as it is


@dataclass(frozen=True)
class GGUFSummary:
    architecture: str  # general.architecture as written in the file
    model_type: str  # the transformers model type it loads as
    tensor_count: int
    file_type: int | None = None  # general.file_type (a llama.cpp LlamaFileType), if written
    tensor_types: dict[str, int] = field(default_factory=dict)  # ggml type name -> tensors
    type_elements: dict[str, int] = field(default_factory=dict)  # ggml type name -> weights

    def source_quantization(self) -> dict[str, Any] | None:
        """What the weights are stored as, JSON-ready, or None when every tensor is float32.

        ``type``: the file type as llama.cpp names it (``Q4_1``, ``Q4_K_M``), else the ggml type
        holding most of the weights; ``bits``: its nominal bits per weight (4 for ``Q4_1``, 16
        for ``F16``); ``tensor_types``: how many tensors of each ggml type (norms stay F32);
        ``note``: one line for a model card."""
        if not self.tensor_types or all(t in _UNQUANTIZED for t in self.tensor_types):
            return None
        kind = _file_type_name(self.file_type) or max(self.type_elements,
                                                     key=self.type_elements.__getitem__)
        digits = re.match(r"^[A-Z]*?(\d+)", kind)
        bits = int(digits.group(1)) if digits else None
        width = f"{bits}-bit " if bits else ""
        return {"format": "gguf", "type": kind, "bits": bits,
                "tensor_types": dict(sorted(self.tensor_types.items())),
                "note": f"weights dequantized from a {width}GGUF ({kind}) to float32: not the "
                        "original model's weights, and drift vs fp32 is measured against this "
                        "copy"}


def _file_type_name(value: int | None) -> str | None:
    """``general.file_type`` as llama.cpp names it, without ``MOSTLY_`` (``Q4_1``); None when
    absent, unknown or ``GUESSED``."""
    import gguf

    try:
        name = gguf.LlamaFileType(value).name if value is not None else None
    except ValueError:
        return None
    if name is None or name == "GUESSED":
        return None
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


class _Header:
    """A cursor over the mapped file; any read past the end is a truncated header."""

    def __init__(self, path: Path, data: mmap.mmap | bytes, order: str) -> None:
        self.path, self.data, self.order, self.pos = path, data, order, 0

    def take(self, fmt: str) -> int | float | bool:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise CorruptGGUF(self.path, f"truncated in its header at byte {self.pos:,}, file has "
                              f"{len(self.data):,}")
        (value,) = struct.unpack_from(self.order + fmt, self.data, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        length = int(self.take("Q"))
        if self.pos + length > len(self.data):
            raise CorruptGGUF(self.path, f"truncated in its header at byte {self.pos:,}, file has "
                              f"{len(self.data):,}")
        raw = bytes(self.data[self.pos:self.pos + length])
        self.pos += length
        return raw.decode("utf-8", errors="replace")

    def skip_value(self, kind: int) -> None:
        if kind == _STRING:
            self.string()
        elif kind == _ARRAY:
            item_kind, count = int(self.take("I")), int(self.take("Q"))
            if item_kind in _SCALAR_SIZES:
                self.pos += _SCALAR_SIZES[item_kind] * count
                if self.pos > len(self.data):
                    raise CorruptGGUF(self.path, "truncated in its metadata")
            else:
                for _ in range(count):
                    self.skip_value(item_kind)
        elif kind in _SCALAR_SIZES:
            self.take(_SCALAR_FORMATS[kind])
        else:
            raise CorruptGGUF(self.path, f"unknown metadata value type {kind} at byte "
                              f"{self.pos:,}")


def check_gguf(path: Path) -> GGUFSummary:
    """Raise unless ``path`` is a whole GGUF file of an architecture we can convert and load."""
    with path.open("rb") as handle:
        size = path.stat().st_size
        if size < 24:
            raise CorruptGGUF(path, f"only {size} bytes, shorter than a GGUF header")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _check(path, data)


def _check(path: Path, data: mmap.mmap) -> GGUFSummary:
    import gguf

    if data[:4] != GGUF_MAGIC:
        raise CorruptGGUF(path, f"it starts with {bytes(data[:4])!r}, not {GGUF_MAGIC!r}")
    order = "<" if struct.unpack_from("<I", data, 4)[0] < 0x10000 else ">"
    header = _Header(path, data, order)
    header.pos = 4
    version = int(header.take("I"))
    if version not in SUPPORTED_VERSIONS:
        raise CorruptGGUF(path, f"GGUF version {version}; versions "
                          f"{', '.join(map(str, SUPPORTED_VERSIONS))} are read")
    tensor_count, kv_count = int(header.take("Q")), int(header.take("Q"))
    architecture, name, alignment, file_type = None, "", DEFAULT_ALIGNMENT, None
    for _ in range(kv_count):
        key, kind = header.string(), int(header.take("I"))
        if key in ("general.architecture", "general.name") and kind == _STRING:
            value = header.string()
            architecture, name = ((value, name) if key == "general.architecture"
                                  else (architecture, value))
        elif key == "general.alignment" and kind in _SCALAR_FORMATS:
            alignment = int(header.take(_SCALAR_FORMATS[kind])) or DEFAULT_ALIGNMENT
        elif key == "general.file_type" and kind in _SCALAR_FORMATS:
            file_type = int(header.take(_SCALAR_FORMATS[kind]))
        else:
            header.skip_value(kind)
    tensors: list[tuple[str, int, int]] = []  # (name, offset in the data section, bytes)
    types: Counter[str] = Counter()  # ggml type name -> tensors
    elements_of: Counter[str] = Counter()  # ggml type name -> weights
    for _ in range(tensor_count):
        tensor = header.string()
        dims = [int(header.take("Q")) for _ in range(int(header.take("I")))]
        ggml_type, offset = int(header.take("I")), int(header.take("Q"))
        try:
            quant_type = gguf.GGMLQuantizationType(ggml_type)
            block, type_size = gguf.GGML_QUANT_SIZES[quant_type]
        except (ValueError, KeyError):
            raise CorruptGGUF(path, f"tensor {tensor} has unknown ggml type {ggml_type}") from None
        elements = 1
        for dim in dims:
            elements *= dim
        tensors.append((tensor, offset, elements // block * type_size))
        types[quant_type.name] += 1
        elements_of[quant_type.name] += elements
    data_start = -(-header.pos // alignment) * alignment
    if tensors:
        tensor, offset, nbytes = max(tensors, key=lambda t: t[1] + t[2])
        end = data_start + offset + nbytes
        if end > len(data):
            raise CorruptGGUF(path, f"truncated: tensor {tensor} ends at byte {end:,}, file has "
                              f"{len(data):,}")
    if architecture is None:
        raise CorruptGGUF(path, "its metadata has no general.architecture")
    model_type = _model_type(path, architecture, name)
    return GGUFSummary(architecture=architecture, model_type=model_type,
                       tensor_count=tensor_count, file_type=file_type, tensor_types=dict(types),
                       type_elements=dict(elements_of))


def _model_type(path: Path, architecture: str, name: str) -> str:
    """The transformers model type of a GGUF architecture, as its GGUF loader maps it."""
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    from interpstudio.ml.model_support import check_supported

    known = [arch for arch in GGUF_CONFIG_MAPPING if arch not in _NOT_ARCHITECTURES]
    model_type = _RENAMED.get(architecture, architecture)
    if architecture == "llama" and "mistral" in name.lower():
        model_type = "mistral"
    if architecture not in known and model_type not in known:
        raise UnsupportedGGUFArchitecture(path, architecture, known)
    return check_supported({"model_type": model_type})


def write_conversion_record(folder: Path, gguf: Path,
                            source_quantization: dict[str, Any] | None) -> None:
    """Say in ``folder`` (a checkpoint converted from ``gguf``) how the GGUF stored the weights:
    nothing is written for a float32 GGUF (None), whose copy holds the weights as they were."""
    if source_quantization is None:
        return
    record = {"converted_from": gguf.name, "source_quantization": source_quantization}
    (folder / CONVERSION_RECORD).write_text(json.dumps(record, indent=2) + "\n")


def read_conversion_record(folder: Path) -> dict[str, Any] | None:
    """The ``source_quantization`` a conversion recorded in checkpoint ``folder``; None where it
    recorded none (not converted from a GGUF, or from a float32 one). A record that cannot be
    read is logged and taken as none: it describes the weights, it is not needed to load them."""
    path = folder / CONVERSION_RECORD
    if not path.is_file():
        return None
    try:
        found = json.loads(path.read_bytes()).get("source_quantization")
    except (OSError, ValueError, AttributeError) as exc:
        log.warning("%s could not be read (%s): the weights' GGUF source quantization is not "
                    "known for this checkpoint", path, exc)
        return None
    if not isinstance(found, dict) or not isinstance(found.get("type"), str):
        log.warning("%s holds no source quantization with a type: ignored", path)
        return None
    return found
