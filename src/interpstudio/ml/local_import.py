"""Bring a model from the local disk into the data dir: a checkpoint folder, one
``.safetensors`` file with its ``config.json``, or a ``.gguf`` file.

``plan_import(path, config_path=None)`` works out what the source is and which files it needs,
refusing a source without config (``MissingConfig``), of an architecture we cannot work with
(``model_support.check_supported`` on its ``config.json``, the hub preflight's check, so nothing is
copied first), without weights (``NoWeightFiles``), with a corrupt or truncated safetensors file
(``CorruptCheckpoint``: the header is checked against the file size, so a cut-off copy is caught
before anything is loaded) or a GGUF file that is corrupt, truncated or of an architecture
transformers cannot convert (``gguf_check.check_gguf``). ``ImportPlan.fingerprint()``
is a sha256 over the files' names, sizes and contents: the identity of a local model.

A checkpoint folder is read from its top level only, as transformers reads one: files in its
subfolders (``original/``, ``onnx/``, a second checkpoint) are never merged into it, since two
files of one name would shadow each other in the flat copy. What a folder plan leaves out is listed
(``ImportPlan.skipped``, like the hub preflight's ``skipped_files``) for the model's record and the
job's result; of a folder holding both ``.safetensors`` and ``.bin`` weights only one format is
taken, by the hub download's rule (``hub_preflight.weight_suffix``), the other listed with why;
a folder whose only config.json lies in a subfolder is refused naming that subfolder
(``MissingConfig``), and a single ``.safetensors`` imported with another ``config.json`` takes
that one, never its folder's own of the same name.
``copy_checkpoint`` copies a folder / single-file plan into a destination folder (a temporary
sibling renamed when whole); a GGUF plan is converted instead with
``loading.convert_gguf_to_safetensors`` so later loads take seconds, not a dequantization.

This module is NOT responsible for deciding which paths a user may read (the service checks the
configured roots with ``core.paths.ensure_within`` before calling this) or for recording anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interpstudio.core.errors import InvalidInput, JobCancelled, NotFound
from interpstudio.ml.gguf_check import check_gguf, read_conversion_record
from interpstudio.ml.hub_errors import MissingConfig, NoWeightFiles
from interpstudio.ml.hub_preflight import WEIGHT_SUFFIXES, weight_file_endings, weight_suffix

CHECKPOINT_SUFFIXES = (".json", ".safetensors", ".bin", ".model", ".txt", ".tiktoken", ".jinja")
_ALL_WEIGHT_ENDINGS = tuple(end for s in WEIGHT_SUFFIXES for end in weight_file_endings(s))
COPY_BLOCK = 8 * 1024 * 1024
MAX_HEADER_BYTES = 100 * 1024 * 1024


class CorruptCheckpoint(InvalidInput):
    code = "corrupt_checkpoint"

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"{path.name} is not a valid safetensors file ({reason}); it may be truncated or "
            "corrupt: copy or download it again",
            details={"file": str(path), "reason": reason},
        )


class UnreadableConfig(InvalidInput):
    code = "unreadable_config"

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"{path} is not a readable config.json ({reason}); give the checkpoint's own "
            "config.json",
            details={"file": str(path), "reason": reason},
        )


@dataclass(frozen=True)
class ImportPlan:
    kind: str  # "folder" | "safetensors" | "gguf"
    source: Path
    files: tuple[tuple[Path, str], ...]  # (source file, name in the checkpoint folder)
    # files of a folder source not imported, relative to it (subfolders' files, other formats);
    # hidden ones (.git, .cache) are not listed
    skipped: tuple[str, ...] = ()
    # a GGUF's stored weights (``GGUFSummary.source_quantization``: Q4_1 for the bundled model),
    # which the conversion dequantizes to float32; None for a float32 GGUF and other sources
    source_quantization: dict[str, Any] | None = None

    @property
    def total_bytes(self) -> int:
        return sum(path.stat().st_size for path, _ in self.files)

    def fingerprint(self) -> str:
        """sha256 over (name, size, sha256 of content) of every file, in name order."""
        outer = hashlib.sha256()
        for path, name in sorted(self.files, key=lambda item: item[1]):
            inner = hashlib.sha256()
            with path.open("rb") as handle:
                while block := handle.read(COPY_BLOCK):
                    inner.update(block)
            outer.update(f"{name}\0{path.stat().st_size}\0{inner.hexdigest()}\n".encode())
        return outer.hexdigest()


def check_safetensors(path: Path) -> None:
    """Raise ``CorruptCheckpoint`` unless ``path``'s header parses and covers the file exactly."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise CorruptCheckpoint(path, f"only {size} bytes, shorter than the 8-byte header")
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > min(size - 8, MAX_HEADER_BYTES):
            raise CorruptCheckpoint(path, f"header claims {header_len:,} bytes, file has {size:,}")
        try:
            header = json.loads(handle.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CorruptCheckpoint(path, f"header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise CorruptCheckpoint(path, "header is not a JSON object")
    ends = [entry["data_offsets"][1] for name, entry in header.items()
            if name != "__metadata__" and isinstance(entry, dict) and "data_offsets" in entry]
    expected = 8 + header_len + max(ends, default=0)
    if expected != size:
        state = "truncated" if expected > size else "longer than its tensors"
        raise CorruptCheckpoint(path, f"{state}: tensors end at byte {expected:,}, file has "
                                f"{size:,}")


def plan_import(path: Path, config_path: Path | None = None) -> ImportPlan:
    """What to import from ``path`` (already checked to lie inside the allowed roots)."""
    if not path.exists():
        raise NotFound("path", path, f"{path} does not exist; give an existing folder or file")
    if path.is_dir():
        return _plan_folder(path)
    if path.suffix == ".gguf":
        return _plan_gguf(path)
    if path.suffix == ".safetensors":
        config = config_path or path.parent / "config.json"
        if not config.is_file():
            raise MissingConfig(f"{path.name} (looked for {config})")
        check_config(config)
        check_safetensors(path)
        # the config given stands in for the folder's own (a second "config.json" in the plan
        # was copied after it, over it)
        extras = tuple((p, p.name) for p in _side_files(path.parent) if p.name != "config.json")
        return ImportPlan("safetensors", path,
                          ((path, "model.safetensors"), (config, "config.json"), *extras))
    raise InvalidInput(
        f"{path.name} is neither a folder, a .safetensors nor a .gguf file; import a "
        "transformers checkpoint folder, one .safetensors file with its config.json, or a .gguf",
        details={"path": str(path)},
    )


def check_config(config: Path) -> str:
    """Raise unless ``config`` is a JSON object describing a supported architecture (the same
    check and message as the hub preflight's); returns its ``model_type``."""
    from interpstudio.ml.model_support import check_supported

    try:
        data = json.loads(config.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnreadableConfig(config, f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UnreadableConfig(config, "not a JSON object")
    return check_supported(data)


def _plan_gguf(path: Path) -> ImportPlan:
    summary = check_gguf(path)
    return ImportPlan("gguf", path, ((path, path.name),),
                      source_quantization=summary.source_quantization())


def _side_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file()
                  and (p.suffix == ".json" or p.name in ("tokenizer.model", "merges.txt",
                                                         "vocab.txt")))


def _plan_folder(folder: Path) -> ImportPlan:
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and not p.name.startswith(".")
                   and p.name.endswith(CHECKPOINT_SUFFIXES))
    names = [p.name for p in files]
    below = _files_in_subfolders(folder)
    if "config.json" not in names:
        ggufs = sorted(folder.glob("*.gguf"))
        if len(ggufs) == 1:
            return _plan_gguf(ggufs[0])
        nested = [path.removesuffix("/config.json") for path in below
                  if path.endswith("/config.json")]
        raise MissingConfig(str(folder), nested)
    check_config(folder / "config.json")
    weights = [p for p in files if p.name.endswith(WEIGHT_SUFFIXES)]
    if not weights:
        raise NoWeightFiles(str(folder), names + below)
    # one weight format, as the hub download takes it (a folder holding both holds the same
    # weights twice, and the copy and the fingerprint would count them twice)
    suffix = weight_suffix(names)
    not_taken = [p for p in files if p.name.endswith(_ALL_WEIGHT_ENDINGS)
                 and not p.name.endswith(weight_file_endings(suffix))]
    files = [p for p in files if p not in not_taken]
    for weight in files:
        if weight.suffix == ".safetensors":
            check_safetensors(weight)
    why = f"its {suffix} weights are imported instead, as a hub download takes them"
    others = sorted(p.name for p in folder.iterdir()
                    if p.is_file() and not p.name.startswith(".") and p.name not in names)
    return ImportPlan("folder", folder, tuple((p, p.name) for p in files),
                      skipped=(*(f"{p.name} ({why})" for p in not_taken), *others, *below),
                      source_quantization=read_conversion_record(folder))


def _files_in_subfolders(folder: Path) -> list[str]:
    """Files below ``folder``'s top level, as relative POSIX paths in walk order (sorted at each
    level); hidden files and folders left out, links to folders not followed."""
    found: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(root).relative_to(folder)
        if here != Path("."):
            found += [(here / name).as_posix() for name in sorted(files)
                      if not name.startswith(".")]
    return found


def copy_checkpoint(plan: ImportPlan, dest: Path, *,
                    progress: Callable[[int, int], None] | None = None,
                    should_stop: Callable[[], bool] | None = None) -> Path:
    """Copy a folder or single-file plan into ``dest`` (must not exist); bytes reported."""
    if dest.exists():
        shutil.rmtree(dest)
    partial = dest.parent / f".{dest.name}.partial-{uuid.uuid4().hex[:8]}"
    partial.mkdir(parents=True)
    total, done = plan.total_bytes, 0
    try:
        for source, name in plan.files:
            with source.open("rb") as reader, (partial / name).open("wb") as writer:
                while block := reader.read(COPY_BLOCK):
                    writer.write(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
                    if should_stop is not None and should_stop():
                        raise JobCancelled("import stopped")
        os.rename(partial, dest)
    finally:
        if partial.exists():
            shutil.rmtree(partial)
    return dest
