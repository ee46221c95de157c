"""The on-disk layout of an activation store, and the small pieces its writer and reader share.

One folder per extraction::

    manifest.json                       spec, config hash, layout, status, counts and the shard
                                        list with the sha256 of every file (rewritten only when
                                        the status changes: the list it holds may lag while the
                                        run is "running")
    shards.jsonl                        the shard journal: one appended line per committed shard,
                                        the source of truth while running (``store_journal``)
    hooks/<hook name>/shard_00000.npy   (rows, d) activations of one hook point, storage dtype
    tokens/shard_00000.npy              (rows, 3) int64: token_id, sequence_index, position
    norms/<hook name>/shard_00000.npy   (rows,) float64 L2 norm of each row (NaN: non-finite row),
                                        kept so that norm quantiles are exact
    stats/state_00000.npz               float64 accumulators of the statistics after that shard
    stats.json                          final statistics (written when the run stops)

Why ``.npy``: ``np.load(path, mmap_mode="r")`` maps a shard with no copy and no dependency beyond
numpy, so SAE trainers and plain numpy code read shards directly; the format is a 128-byte-aligned
header plus raw rows, so a shard can be hashed as it is written. safetensors would name bfloat16
natively, but numpy cannot hold bfloat16 either way, so it buys nothing here. bfloat16 is therefore
stored as its raw bits in ``uint16`` ``.npy`` files, with ``"dtype": "bfloat16"`` in the manifest;
the reader converts to float32 on read (exact: bfloat16 is the top half of a float32), and
``read_raw`` gives the stored bits. float16 and float32 are stored as themselves.

Crash safety: every file is written to ``.<name>.tmp-<pid>`` in its folder, fsynced, then renamed.
(The writer's shards instead go through one ``syncfs`` per shard where Linux offers it: all of a
shard's files, renames and new folders durable at once, instead of an fsync of each file and of its
folder: ~360 syncs per shard of a 90-point run.)
A shard is committed only when its line is appended to ``shards.jsonl`` (after all its files), so
the journal always describes whole shards; anything on disk that it does not list is debris from an
interrupted write and is removed on resume. ``manifest.json`` is rewritten (whole, with the full
shard list) only when the status changes, so a commit costs the same with 10 or 10,000 shards
before it, and a finished store's ``manifest.json`` alone describes it. ``read_manifest`` is the
one way to read a manifest: ``manifest.json`` merged with the journal's committed lines;
``write_manifest`` writes one, taking its shard entries one at a time (a writer's come from the
journal, and are never all in memory).

The store's modules: ``store`` (this one: layout, names, hashing, atomic writes, dtype conversion,
errors, reading the manifest), ``store_journal`` (the shard journal's lines), ``store_writer`` (the
background writer), ``store_manifest`` (manifest versions, resume checks), ``store_stats``
(statistics over the stored shards), ``store_reader`` (lazy reading), ``export`` (SAELens layout).
This module is NOT responsible for any of the others' work.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import importlib.metadata
import io
import json
import math
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import orjson

from interpstudio.core.errors import (
    AppError,
    Conflict,
    InsufficientDisk,
    InvalidInput,
    NotFound,
)
from interpstudio.ml import direct_io
from interpstudio.ml.store_journal import JOURNAL_NAME, StoreJournalCorrupted, read_journal

FORMAT = "interpstudio.activations"
FORMAT_VERSION = 2  # 2: shard list in shards.jsonl while running (1: in manifest.json)
READABLE_VERSIONS = (1, FORMAT_VERSION)  # a version-1 manifest.json is always self-contained
MANIFEST_NAME = "manifest.json"
STATS_NAME = "stats.json"
LOCK_NAME = ".lock"
STORE_DIRS = ("hooks", "tokens", "norms", "stats")
APP_STORE_DIR = "store"  # the store in the app's extraction folder, <data dir>/extractions/<id>
TOKEN_COLUMNS = ("token_id", "sequence_index", "position")
STATUSES = ("running", "partial", "complete", "failed")
STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "float16": np.dtype(np.float16),
    "float32": np.dtype(np.float32),
    "bfloat16": np.dtype(np.uint16),  # raw bits; see the module docstring
}
_HOOK_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
_HASH_BLOCK = 8 << 20


# ---------------------------------------------------------------------------------------- errors
class StoreNotFound(NotFound):
    code = "activation_store_not_found"

    def __init__(self, path: Path) -> None:
        super().__init__(
            "activation store",
            str(path),
            f"no activation store at {path} (no {MANIFEST_NAME}); check the path or run the "
            "extraction first",
        )


class StoreExists(Conflict):
    code = "activation_store_exists"

    def __init__(self, path: Path, status: str) -> None:
        # a complete store has nothing to continue: resume=True returned it as it was
        todo = ("it is whole: open it with open_activations, or choose another folder (or "
                "delete this one) to extract again" if status == "complete" else
                "pass resume=True to continue it, or choose another folder")
        super().__init__(
            f"an activation store ({status}) already exists at {path}; {todo}",
            details={"path": str(path), "status": status},
        )


class NotAStoreFolder(Conflict):
    code = "not_an_activation_store_folder"

    def __init__(self, path: Path, entries: list[str]) -> None:
        super().__init__(
            f"{path} is not empty ({', '.join(entries[:3])}{', ...' if len(entries) > 3 else ''}) "
            "and holds no activation store; give a new or empty folder for the store",
            details={"path": str(path), "entries": entries[:20]},
        )


def store_folder(path: Path) -> Path:
    """``path`` made ready to hold a store: created if missing; a file, or a folder under a file,
    refused with what to do (the OS says only "File exists" / "Not a directory")."""
    if path.exists() and not path.is_dir():
        raise InvalidInput(f"{path} is a file; a store needs a folder: give a new folder's path",
                           details={"path": str(path)})
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise InvalidInput(
            f"cannot make the folder {path}: a part of the path above it is a file "
            f"({exc.strerror}); give a path whose folders are folders",
            details={"path": str(path)}) from exc
    return path


class StoreConfigMismatch(Conflict):
    code = "activation_store_config_mismatch"

    def __init__(self, path: Path, what: str, stored: Any, requested: Any, *,
                 values: str = "") -> None:
        """``values``: the differing values a reader can compare (``precision_used: fp32
        stored, bf16 in this run``), said after ``what``."""
        super().__init__(
            f"cannot resume the store at {path}: its {what} differs from this run's"
            f"{f' ({values})' if values else ''}; resume with the same configuration or write "
            "to a new folder",
            details={"path": str(path), "what": what, "stored": stored, "requested": requested},
        )


class StoreLocked(Conflict):
    code = "activation_store_locked"

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"another writer holds the activation store at {path}; wait for it to finish or "
            "stop it first",
            details={"path": str(path)},
        )


class StoreClosed(Conflict):
    code = "activation_store_closed"

    def __init__(self, path: Path, state: str) -> None:
        super().__init__(
            f"the writer for {path} is {state}; open a new writer with resume=True to add rows",
            details={"path": str(path), "state": state},
        )


class StoreCorrupted(AppError):
    code = "activation_store_corrupted"

    def __init__(self, path: Path, problems: list[dict[str, str]]) -> None:
        super().__init__(
            f"{len(problems)} file(s) of the activation store at {path} are missing or do not "
            "match their sha256 in the manifest; re-run the extraction for the affected shards",
            details={"path": str(path), "problems": problems},
        )


class StoreDiskFull(InsufficientDisk):
    """The disk filled up while a shard was written; the store is left as a valid partial."""

    code = "activation_store_disk_full"

    def __init__(self, *, path: Path, needed: int | None, free: int, shards: int,
                 summary: bool = False) -> None:
        if summary:  # every shard is in; its statistics (stats.json) did not fit
            what = (f"disk full while writing the statistics of the activation store at {path} "
                    f"({free:,} bytes free); all {shards} shard(s) are kept")
        else:
            what = (f"disk full while writing shard {shards} of the activation store at {path} "
                    f"({needed:,} bytes needed, {free:,} free); the {shards} whole shard(s) "
                    "before it are kept")
        AppError.__init__(
            self,
            f"{what}: free space, then resume",
            details={
                "path": str(path),
                "needed_bytes": needed,
                "free_bytes": free,
                "whole_shards": shards,
                "step": "statistics" if summary else "shard",
            },
        )
        self.errno = 28  # ENOSPC, so callers that check OSError.errno see it


class StoreWriteFailed(AppError):
    code = "activation_store_write_failed"

    def __init__(self, path: Path, cause: BaseException) -> None:
        super().__init__(
            f"writing the activation store at {path} failed: {type(cause).__name__}: {cause}; "
            "the whole shards already written are kept, resume once the cause is fixed",
            details={"path": str(path), "cause": type(cause).__name__},
        )


class InvalidActivationBatch(InvalidInput):
    code = "invalid_activation_batch"


class HookPointNotStored(NotFound, KeyError):
    code = "hook_point_not_stored"

    def __init__(self, name: str, stored: list[str]) -> None:
        NotFound.__init__(
            self,
            "hook point",
            name,
            f"hook point {name!r} is not in this store; stored: {', '.join(stored)}",
        )
        self.details["stored"] = stored

    def __str__(self) -> str:
        return self.message


# ------------------------------------------------------------------------------- names, hashing
def canonical_json(value: Any) -> str:
    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"the extraction spec must be plain JSON (str, numbers, lists, dicts): {exc}",
            details={"error": str(exc)},
        ) from exc


def config_hash(spec: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``spec`` (sorted keys, no spaces)."""
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()


def validate_hook_name(name: str) -> str:
    """Hook names become folder names: letters, digits, ``_ . -``, not starting with a dot."""
    if not isinstance(name, str) or not _HOOK_NAME.match(name):
        raise InvalidInput(
            f"hook point name {name!r} cannot be stored: use letters, digits, '_', '.', '-' "
            "(e.g. 'blocks.3.resid_post')",
            details={"name": str(name)},
        )
    return name


def shard_name(index: int) -> str:
    """The name shard ``index`` has in the manifest and in every folder: ``shard_00003.npy``."""
    return f"shard_{index:05d}.npy"


def shard_path(kind: str, index: int, hook: str | None = None) -> str:
    """Store-relative path of a shard file: ``hooks/<hook>/shard_00003.npy`` etc."""
    if kind == "tokens":
        return f"tokens/{shard_name(index)}"
    if kind == "stats":
        return f"stats/state_{index:05d}.npz"
    return f"{kind}/{hook}/{shard_name(index)}"


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"numpy": np.__version__}
    for dist in ("interpstudio", "torch"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- atomic file writes
class _HashingWriter:
    """File wrapper that hashes what passes through it."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.digest.update(view)
        self.size += len(view)
        return self.f.write(view)


def write_atomic(
    path: Path, write: Callable[[_HashingWriter], None], *, durable: bool, sync_dir: bool = True
) -> dict[str, Any]:
    """Write ``path`` through a temp name in the same folder, then rename. Returns its record
    ``{"sha256", "bytes"}``. On any error the temp file is removed and the error propagates.
    ``durable`` fsyncs the file before the rename (and the folder after it, if ``sync_dir``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        with open(tmp, "wb") as f:
            hashing = _HashingWriter(f)
            write(hashing)
            f.flush()
            if durable:
                os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _publish(tmp, path, durable=durable, sync_dir=sync_dir)
    return {"sha256": hashing.digest.hexdigest(), "bytes": hashing.size}


def write_npy_atomic(path: Path, array: np.ndarray, *, durable: bool) -> dict[str, Any]:
    """Save ``array`` as ``.npy`` (same bytes as ``np.save``) atomically, hashing as it writes.
    Large arrays bypass the page cache (``direct_io``) where the filesystem allows it."""
    array = np.ascontiguousarray(array)
    header = direct_io.npy_header(array.shape, array.dtype)
    if array.nbytes >= direct_io.MIN_BYTES:
        parts = (np.frombuffer(header, np.uint8), array.reshape(-1).view(np.uint8))
        record = _write_direct(path, lambda tmp: direct_io.write_direct(tmp, parts,
                                                                        durable=durable), durable)
        if record is not None:
            return record

    def write(f: _HashingWriter) -> None:
        f.write(header)
        if array.size:
            f.write(array.reshape(-1).view(np.uint8))

    return write_atomic(path, write, durable=durable)


def write_buffer_atomic(
    path: Path, buffer: direct_io.NpyBuffer, rows: int, *, durable: bool, digest: bool = True
) -> dict[str, Any]:
    """``write_npy_atomic`` of the first ``rows`` rows of ``buffer``, written from where they lie
    (no copy) where the filesystem allows O_DIRECT. ``digest=False``: the caller hashes it with
    ``buffer.digest`` (in parallel); the record may then lack ``sha256``."""
    record = _write_direct(
        path, lambda tmp: buffer.write(tmp, rows, durable=durable, digest=digest), durable)
    return record if record is not None else write_npy_atomic(path, buffer.array[:rows],
                                                              durable=durable)


def _write_direct(
    path: Path, write: Callable[[Path], dict[str, Any] | None], durable: bool
) -> dict[str, Any] | None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    record = write(tmp)
    if record is not None:
        _publish(tmp, path, durable=durable, sync_dir=True)
    return record


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _publish(tmp: Path, path: Path, *, durable: bool, sync_dir: bool) -> None:
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable and sync_dir:
        fsync_dir(path.parent)


def dump_json(value: Any, *, indent: bool = False) -> bytes:
    """``value`` as one JSON document ending in a newline (orjson: ~20x faster than ``json`` on
    the tens of MB of a 90-point ``stats.json``; numpy scalars and arrays allowed; float repr
    round-trips exactly). NaN / Inf, which JSON cannot hold, are refused like ``json``'s
    ``allow_nan=False`` would."""
    option = orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_INDENT_2 if indent else 0)
    data = orjson.dumps(value, option=option | orjson.OPT_APPEND_NEWLINE)
    if b"null" in data and _has_nonfinite(value):
        raise ValueError("NaN or Inf cannot be written as JSON")
    return data


def _has_nonfinite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_nonfinite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        try:  # a list of numbers (the bulk of stats.json): one C-level sum; NaN / Inf propagate
            if math.isfinite(sum(value)):
                return False
        except TypeError:  # not all numbers
            pass
        return any(_has_nonfinite(v) for v in value)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return not bool(np.isfinite(value).all())
    return False


def write_json_atomic(path: Path, value: Any, *, durable: bool, sync_dir: bool = True,
                      indent: bool = True) -> None:
    """``value`` as JSON at ``path`` (temp name + rename); ``indent=False`` for a big document
    nobody reads by eye (a 90-point ``stats.json``: 14 MB on one line, 26 MB indented)."""
    data = dump_json(value, indent=indent)
    write_atomic(path, lambda f: f.write(data), durable=durable, sync_dir=sync_dir)


def write_manifest(directory: Path, manifest: dict[str, Any], *, durable: bool) -> None:
    """``manifest.json``: the same bytes as ``write_json_atomic`` of ``manifest``, but the entries
    of ``manifest["shards"]`` (any sequence: a writer's ``JournalShards`` reads them from the
    journal) are turned into JSON and written one at a time, never all in memory (~90 KB a shard
    at 90 hook points)."""
    head = dump_json(dict(manifest, shards=[]), indent=True)
    # top-level keys are the only ones indented by 2, and JSON strings hold no raw newline
    before, after = head.split(_EMPTY_SHARDS)

    def write(f: _HashingWriter) -> None:
        f.write(before + b'\n  "shards": [')
        written = 0
        for entry in manifest["shards"]:
            # the entry as it sits two levels down in the indented document
            entry_json = dump_json(entry, indent=True)[:-1].replace(b"\n", b"\n    ")
            f.write((b",\n    " if written else b"\n    ") + entry_json)
            written += 1
        f.write((b"\n  ]" if written else b"]") + after)

    write_atomic(directory / MANIFEST_NAME, write, durable=durable)


_EMPTY_SHARDS = b'\n  "shards": []'


def write_npz_atomic(path: Path, arrays: dict[str, np.ndarray], *, durable: bool) -> dict[str, Any]:
    """Save small arrays as ``.npz`` atomically (built in memory: zip needs a seekable file)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    data = buffer.getvalue()
    return write_atomic(path, lambda f: f.write(data), durable=durable)


def _find_syncfs() -> Callable[[int], int] | None:
    if sys.platform != "linux":
        return None
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):  # a libc without it
        return None
    syncfs.argtypes = [ctypes.c_int]
    syncfs.restype = ctypes.c_int
    return syncfs  # type: ignore[no-any-return]


_SYNCFS = _find_syncfs()


def can_sync_filesystem() -> bool:
    """Whether ``sync_filesystem`` is offered here (Linux)."""
    return _SYNCFS is not None


def sync_filesystem(fd: int) -> None:
    """Make everything written to the filesystem holding ``fd`` durable: file data, renames and
    new folders, and the disk's cache, in one call (Linux ``syncfs``). A writeback error seen
    since ``fd`` was opened is raised as ``OSError`` (Linux >= 5.8), like ``fsync`` would.
    Cheaper than an fsync per file and per folder when a commit writes hundreds of files."""
    if _SYNCFS is None:
        raise OSError(errno.ENOSYS, "syncfs is not available on this system")
    if _SYNCFS(fd) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_temp_name(name: str) -> bool:
    return name.startswith(".") and ".tmp-" in name


def read_manifest(path: Path) -> dict[str, Any]:
    """The store's manifest: ``manifest.json``, with ``shards`` as the journal lists them and, when
    the journal holds shards committed after ``manifest.json`` was written, ``counts``,
    ``stats_state`` and ``updated_at`` of the last one. A complete store's ``manifest.json`` is
    read alone (its list is whole); a torn last journal line is ignored (never committed)."""
    directory = Path(path)
    manifest_path = directory / MANIFEST_NAME
    if not manifest_path.is_file():
        raise StoreNotFound(directory)
    manifest: dict[str, Any] = orjson.loads(manifest_path.read_bytes())
    version = manifest.get("format_version")
    if manifest.get("format") is None and (directory / "tokens.npy").is_file():
        raise InvalidInput(  # arguments swapped: the message said "a newer or different tool"
            f"{directory} is a tokenization, not an activation store: open it with "
            "open_tokenized, or give extract a new folder as out_dir",
            details={"format": None, "path": str(directory)})
    if manifest.get("format") != FORMAT or version not in READABLE_VERSIONS:
        raise InvalidInput(
            f"{manifest_path} is not an interpstudio activation store that this version reads "
            f"(format {manifest.get('format')!r}, version {version!r}; this version reads "
            f"{FORMAT!r} versions {', '.join(map(str, READABLE_VERSIONS))}); it may come from a "
            "newer or different tool",
            details={"format": manifest.get("format"), "version": version},
        )
    if version != FORMAT_VERSION or manifest["status"] == "complete":
        return manifest
    journal_path = directory / JOURNAL_NAME
    journal = read_journal(journal_path)
    if journal is None:
        return manifest
    lines, listed = journal.lines, manifest["shards"]
    for index, shard in enumerate(listed):
        if index >= len(lines) or lines[index]["shard"] != shard:
            raise StoreJournalCorrupted(
                journal_path, index, f"it does not hold shard {index} as {MANIFEST_NAME} lists it"
            )
    if len(lines) > len(listed):
        last = lines[-1]
        manifest.update(
            shards=[line["shard"] for line in lines],
            counts=last["counts"],
            stats_state=last["stats_state"],
            updated_at=last["updated_at"],
        )
    return manifest


def listed_files(manifest: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(store-relative path, {"path", "sha256", "bytes"}) of every data file the manifest lists."""
    for shard in manifest["shards"]:
        files = shard["files"]
        for record in (*files["hooks"].values(), files["tokens"], *files["norms"].values()):
            yield record["path"], record


# ------------------------------------------------------------------------------ dtype handling
def decode(raw: np.ndarray, dtype: str) -> np.ndarray:
    """Stored rows -> a numpy float array: bfloat16 bits become float32 (exactly)."""
    if dtype == "bfloat16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return np.asarray(raw)


def encode(values: np.ndarray, dtype: str) -> np.ndarray:
    """Rows -> their stored form: float rows of a bfloat16 store become its uint16 bits (rows
    already in bits, and every other dtype, pass through)."""
    if dtype == "bfloat16" and values.dtype != np.uint16:
        return encode_bfloat16(values)
    return values


def encode_bfloat16(values: np.ndarray) -> np.ndarray:
    """float32/float64 -> bfloat16 bits (uint16), rounding to nearest even as torch does.

    NaN stays a quiet NaN with its sign (torch's CPU kernels may pick another NaN pattern)."""
    f32 = np.asarray(values, dtype=np.float32)
    bits = f32.view(np.uint32)
    rounded = ((bits + (((bits >> 16) & 1) + 0x7FFF)) >> 16).astype(np.uint16)
    nan = np.isnan(f32)
    if nan.any():
        rounded[nan] = ((bits[nan] >> 16) | 0x40).astype(np.uint16)
    return rounded


def as_numpy(value: Any, *, what: str) -> np.ndarray:
    """A CPU numpy view of ``value`` (numpy array or CPU torch tensor), without copying.

    A torch bfloat16 tensor comes back as its uint16 bits. torch is never imported here: a tensor
    can only exist if the caller already imported it.
    """
    if type(value).__module__.startswith("torch"):
        if value.device.type != "cpu":
            raise InvalidActivationBatch(
                f"{what} is on {value.device}; move it to the CPU (.cpu()) before appending",
                details={"what": what, "device": str(value.device)},
            )
        value = value.detach()
        if str(value.dtype) == "torch.bfloat16":
            import sys

            return value.view(sys.modules["torch"].int16).numpy().view(np.uint16)
        return value.numpy()
    array = np.asarray(value)
    if array.dtype.name == "bfloat16":  # ml_dtypes / jax arrays
        return array.view(np.uint16)
    return array


@contextlib.contextmanager
def removing_on_error(paths: list[Path]) -> Iterator[None]:
    """Delete ``paths`` (those that exist) if the block raises."""
    try:
        yield
    except BaseException:
        for p in paths:
            p.unlink(missing_ok=True)
        raise
