"""Keep a model's HQQ-packed decoder layers on disk, so that the next load at the same precision
reads them instead of quantizing again.

Why: quantizing is the slow part of a q4 / q2 load (HQQ's optimiser: 6.9 / 11.4 s for
SmolLM2-135M on 2 CPU cores, read back in 0.9 / 0.7 s; it grows with the parameter count), and the
app loads a model at its precision for the import's probe and then twice per extraction
(preflight, run). ``quantize`` keeps only plans that run the optimiser: q8 quantizes as fast as it
reads back, and its file would be half the fp16 checkpoint's size again on disk.

What: one safetensors file per plan, ``<dir>/<precision>-<hash>.safetensors``, holding for every
packed linear ``<block>.<module>.<key>`` the tensors of HQQ's own (safetensors-encoded) state
dict, and in its metadata the key it was made under: the plan (precision, bits, group size, axis,
optimisation, compute dtype), the HQQ version and ``source_key`` (what identifies the
checkpoint's weights; ``loading`` passes the weight files' names, sizes and modification times).
Each block's tensors carry a sha256 in the metadata, checked as the block is read: bytes damaged on
disk (same size and time, so the source key still matches) are quantized again, never used as
weights. A file made under another key is never read: it is replaced on the next save. Files are
written to a temp name and renamed, so a reader never sees half a file; a file that cannot be
written (a full or read-only disk) is skipped with a warning, never an error of the load.

This module is NOT responsible for choosing what is quantized (``quantize.block_targets``) or
where the cache lives (the caller: the app keeps it in ``models/<id>/quantized``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from interpstudio.ml.memory import StoragePlan
from interpstudio.ml.quantize import (
    block_targets,
    find_decoder_layers,
    hqq_config,
    is_hqq_linear,
    replace_module,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: a sha256 per block, checked as the block is read
_METADATA_KEY = "interpstudio_quantized_key"
_DIGESTS_KEY = "interpstudio_block_sha256"


def block_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over one block's packed tensors (names, dtypes, shapes and bytes, in name order):
    a file damaged on disk (same size, same modification time) is never read as weights."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class QuantizedCache:
    """The cache file of one plan and source in ``directory``."""

    def __init__(self, directory: Path, plan: StoragePlan, source_key: str,
                 backend_version: str | None, device_type: str) -> None:
        self.directory = directory
        self.plan = plan
        # the device type too: HQQ's optimiser runs in float16 on CUDA and float32 on the CPU, so
        # q4 / q2 codes differ (2.2 % / 0.5 % of the packed bytes on an H200, same reconstruction
        # error; tests/ml/test_cuda.py): each device type quantizes once for itself
        self.key = json.dumps({"format": FORMAT_VERSION, "plan": asdict(plan),
                               "backend_version": backend_version, "source": source_key,
                               "device_type": device_type}, sort_keys=True)
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:16]
        self.path = directory / f"{plan.precision}-{digest}.safetensors"

    def load_into(self, model: nn.Module, device: torch.device, info: Any,
                  hqq_linear_class: type[nn.Module]) -> int:
        """Replace the model's decoder-block linears by the cached packed layers, block by block
        (one block's packed layers beside its originals at a time: no more memory than
        quantizing); returns how many blocks were read. 0 (the model untouched): no file for this
        key, or one that does not fit the model. A block that fails to load stops the reading
        there (the file is removed): the caller quantizes the blocks from that one on."""
        from safetensors import safe_open

        if not self.path.is_file():
            return 0
        try:
            handle = safe_open(str(self.path), framework="pt", device="cpu")
        except Exception as exc:  # a damaged file: quantize again (and replace it)
            log.warning("quantized cache %s unreadable (%s); quantizing again", self.path, exc)
            return 0
        layers = find_decoder_layers(model)
        dtype = getattr(torch, self.plan.compute_dtype)
        with handle as cached:
            if (cached.metadata() or {}).get(_METADATA_KEY) != self.key:
                return 0
            names = set(cached.keys())
            if not all(f"{i}.{name}.W_q" in names for i, block in enumerate(layers)
                       for name in block_targets(i, block, self.plan, [])):
                return 0
            digests = json.loads((cached.metadata() or {}).get(_DIGESTS_KEY, "{}"))
            for index, block in enumerate(layers):
                kept: list[str] = []
                targets = block_targets(index, block, self.plan, kept)
                try:
                    tensors = {k: cached.get_tensor(k) for k in names
                               if k.startswith(f"{index}.")}
                    if block_digest(tensors) != digests.get(str(index)):
                        raise ValueError("its bytes are not the ones written (damaged on disk)")
                    packed = []
                    for name in targets:
                        prefix = f"{index}.{name}."
                        state = {k[len(prefix):]: v for k, v in tensors.items()
                                 if k.startswith(prefix)}
                        layer = hqq_linear_class(None, hqq_config(self.plan),
                                                 compute_dtype=dtype, device=str(device),
                                                 initialize=False)
                        layer.load_state_dict(state)
                        packed.append((name, layer))
                except Exception as exc:  # not what this HQQ wrote: quantize from here on
                    log.warning("quantized cache %s: block %d unreadable (%s); quantizing it "
                                "and the rest", self.path, index, exc)
                    self.path.unlink(missing_ok=True)
                    return index
                for name, layer in packed:
                    replace_module(block, name, layer)
                    info.quantized_modules += 1
                info.kept_modules.extend(kept)
                block.to(device)
        info.settings = dict(hqq_config(self.plan)["weight_quant_params"])
        return len(layers)

    def save(self, model: nn.Module) -> None:
        """Write the model's packed layers under this key (replacing older keys' files)."""
        from safetensors.torch import save_file

        tensors: dict[str, torch.Tensor] = {}
        digests: dict[str, str] = {}
        for index, block in enumerate(find_decoder_layers(model)):
            block_tensors = {}
            for name, module in block.named_modules():
                if is_hqq_linear(module):
                    for key, value in module.state_dict().items():
                        if isinstance(value, torch.Tensor):
                            block_tensors[f"{index}.{name}.{key}"] = (
                                value.detach().cpu().contiguous())
            digests[str(index)] = block_digest(block_tensors)
            tensors.update(block_tensors)
        # a name of its own: a preflight and a run may save the same file at once
        partial = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.partial")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            save_file(tensors, str(partial), metadata={_METADATA_KEY: self.key,
                                                       _DIGESTS_KEY: json.dumps(digests)})
            os.replace(partial, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):  # e.g. the folder is a file: no partial either
                partial.unlink(missing_ok=True)
            log.warning("quantized cache %s not written (%s)", self.path, exc)
            return
        for old in self.directory.glob(f"{self.plan.precision}-*.safetensors"):
            if old != self.path:
                old.unlink(missing_ok=True)


def source_fingerprint(directory: Path, gguf_file: str | None = None) -> str:
    """What identifies a checkpoint's weights cheaply: names, sizes and modification times of its
    weight files (``*.safetensors``, ``*.bin``, the GGUF file)."""
    files = sorted(p for pattern in ("*.safetensors", "*.bin", "*.gguf")
                   for p in directory.glob(pattern)
                   if gguf_file is None or p.suffix != ".gguf" or p.name == Path(gguf_file).name)
    return json.dumps([[p.name, (s := p.stat()).st_size, s.st_mtime_ns] for p in files])
