"""Diagnostics used by the ``selftest`` job: torch facts, a disk round trip, a tiny forward pass.

Pure library code (a notebook can call it); it knows nothing about jobs. This module is NOT
responsible for progress or cancellation (the caller loops and checks).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch


def torch_info() -> dict[str, Any]:
    return {
        "version": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
        "devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        "threads": torch.get_num_threads(),
    }


def disk_roundtrip(folder: Path, size_bytes: int = 4 * 1024 * 1024) -> dict[str, Any]:
    """Write random bytes (temp name, fsync, rename), read them back, compare checksums."""
    payload = os.urandom(size_bytes)
    target = folder / "selftest.bin"
    temp = folder / "selftest.bin.tmp"
    with open(temp, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    temp.replace(target)
    ok = hashlib.sha256(target.read_bytes()).hexdigest() == hashlib.sha256(payload).hexdigest()
    target.unlink()
    if not ok:
        raise OSError(f"data read back from {target} differs from what was written")
    return {"bytes": size_bytes, "path": str(folder), "checksum_ok": ok}


def tiny_model(seed: int = 0) -> tuple[torch.nn.Module, torch.Tensor]:
    """A 2-layer random transformer encoder and a (2, 16) batch of token ids."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    layer = torch.nn.TransformerEncoderLayer(
        d_model=64, nhead=4, dim_feedforward=128, batch_first=True, dropout=0.0
    )
    model = torch.nn.Sequential(
        torch.nn.Embedding(256, 64),
        torch.nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False),
    )
    model.eval()
    input_ids = torch.randint(0, 256, (2, 16), generator=generator)  # (B, T)
    return model, input_ids


@torch.inference_mode()
def forward_pass(model: torch.nn.Module, input_ids: torch.Tensor) -> float:
    output = model(input_ids)  # (B, T, d_model)
    value = float(output.float().norm())
    if not torch.isfinite(torch.tensor(value)):
        raise FloatingPointError("tiny forward pass produced a non-finite output")
    return value
