"""Statistics of a whole activation store: the streaming accumulators plus exact norm quantiles.

``store_statistics`` turns the per-hook ``StreamingStats`` (which cover exactly the shards the
manifest lists) into the ``stats.json`` document, reading the per-row norm side files
(``norms/<hook>/shard_*.npy``) shard by shard so that norm quantiles are exact and memory stays
flat, except for shards whose norms the caller still holds (``HeldShard``: the writer keeps what
it just wrote, and a 90-point summary then reads no file back); ``fold_shard`` folds one stored
shard into the accumulators (decoding bfloat16 chunk by chunk). This module is NOT responsible
for what is measured (``stats``) or for writing files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from interpstudio.ml.npy_load import load_npy
from interpstudio.ml.stats import NormChunk, NormSource, StatsConfig, StreamingStats
from interpstudio.ml.store import decode


class HeldShard(NamedTuple):
    """A shard's row norms per hook point (each (rows,) float64, as in its norm files) and BOS
    flags (rows,), held in memory by whoever just wrote them."""

    norms: dict[str, np.ndarray]
    is_bos: np.ndarray


def norm_source(
    directory: Path,
    manifest: dict[str, Any],
    hook: str,
    config: StatsConfig,
    bos_masks: dict[str, np.ndarray] | None = None,
    held: Mapping[str, HeldShard] | None = None,
) -> NormSource:
    """A pass (per call) over one hook point's stored row norms with their BOS flags, taken
    from ``held`` (shard name -> ``HeldShard``) where it has the shard, else from the files.
    ``bos_masks`` (shard name -> BOS flags) is filled as shards are read, so that hook points
    sharing it read each token shard once."""
    masks = {} if bos_masks is None else bos_masks
    kept = held or {}

    def one_pass() -> Any:
        for shard in manifest["shards"]:
            in_memory = kept.get(shard["name"])
            if in_memory is not None:
                yield (in_memory.norms[hook], in_memory.is_bos)
                continue
            norms: np.ndarray = load_npy(directory / "norms" / hook / shard["name"])
            is_bos = masks.get(shard["name"])
            if is_bos is None:
                tokens = load_npy(directory / "tokens" / shard["name"])  # (rows, 3)
                is_bos = masks[shard["name"]] = config.bos_mask(tokens[:, 0], tokens[:, 2],
                                                                len(tokens))
            chunk: NormChunk = (np.asarray(norms), is_bos)
            yield chunk

    return one_pass


def store_statistics(
    directory: Path,
    manifest: dict[str, Any],
    stats: dict[str, StreamingStats],
    map_hooks: Callable[..., Iterable[Any]] = map,
    held: Mapping[str, HeldShard] | None = None,
) -> dict[str, Any]:
    """The ``stats.json`` document for the shards ``manifest`` lists. ``map_hooks`` (e.g. a thread
    pool's ``map``) finalizes the hook points, in order; ``held``: see ``norm_source``."""
    masks: dict[str, np.ndarray] = {}

    def finalize(hook: str) -> dict[str, Any]:
        s = stats[hook]
        return s.finalize(norm_source(directory, manifest, hook, s.config, masks, held))

    return {
        "config_hash": manifest["config_hash"],
        "rows": manifest["counts"]["rows"],
        "shards": len(manifest["shards"]),
        "hooks": dict(zip(stats, map_hooks(finalize, list(stats)), strict=True)),
    }


def fold_shard(
    stats: StreamingStats, raw: np.ndarray, tokens: np.ndarray, dtype: str
) -> np.ndarray:
    """Update ``stats`` with stored rows ``raw`` (rows, d), decoding in chunks; return the norms."""
    norms = np.empty(raw.shape[0], np.float64)
    step = max(1, (1 << 20) // raw.shape[1])
    for a in range(0, raw.shape[0], step):
        b = min(a + step, raw.shape[0])
        norms[a:b] = stats.update(
            decode(raw[a:b], dtype),
            token_ids=tokens[a:b, 0],
            sequence_index=tokens[a:b, 1],
            position=tokens[a:b, 2],
        )
    return norms
