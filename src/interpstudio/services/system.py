"""Machine metrics for the System page: CPU, RAM, disk of the data dir, GPUs.

Torch-free on purpose: the API process answers this without importing torch. GPUs are read through
NVML (``nvidia-ml-py``) when a driver is present, otherwise the list is empty. This module is NOT
responsible for publishing metrics periodically (``api/feeds.py`` does).
"""

from __future__ import annotations

import platform
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil


def gpu_metrics() -> list[dict[str, Any]]:
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return []
    gpus = []
    try:
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            try:
                utilization: float | None = float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except pynvml.NVMLError:
                utilization = None
            name = pynvml.nvmlDeviceGetName(handle)
            gpus.append({
                "index": index,
                "name": name.decode() if isinstance(name, bytes) else str(name),
                "memory_total": int(memory.total),
                "memory_used": int(memory.used),
                "utilization_percent": utilization,
            })
    finally:
        pynvml.nvmlShutdown()
    return gpus


class CpuSampler:
    """System-wide CPU use since the previous reading, 0..100, one sample shared by every thread
    (psutil's own ``cpu_percent(interval=None)`` keeps its previous sample per thread and says
    0.0 without one: each request thread's first reading was 0 % on a busy machine). Readings
    closer together than ``MIN_WINDOW_S`` of wall time repeat the last value instead of measuring
    a window too short to mean anything (the feed and a request a moment apart)."""

    MIN_WINDOW_S = 0.1

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sample: Any = psutil.cpu_times()
        self._last = 0.0

    def percent(self) -> float:
        now = psutil.cpu_times()
        with self._lock:
            busy_now, total_now = _busy_and_total(now)
            busy_before, total_before = _busy_and_total(self._sample)
            elapsed = total_now - total_before  # CPU-seconds over every core
            if elapsed < self.MIN_WINDOW_S * (psutil.cpu_count() or 1):
                return self._last
            self._sample = now
            self._last = round(min(100.0, max(0.0, 100.0 * (busy_now - busy_before) / elapsed)),
                               1)
            return self._last


def _busy_and_total(times: Any) -> tuple[float, float]:
    """psutil's formula: on Linux ``user`` already counts guest time, so it is left out of the
    total once; busy is all but idle and iowait."""
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    return total - times.idle - getattr(times, "iowait", 0.0), total


def system_metrics(*, data_dir: Path, cpu: CpuSampler) -> dict[str, Any]:
    memory = psutil.virtual_memory()
    disk_path = data_dir if data_dir.exists() else _existing_parent(data_dir)
    disk = shutil.disk_usage(disk_path)
    return {
        "timestamp": datetime.now(UTC).isoformat(),
        # with several API processes on several machines, the page says whose metrics these are
        "host": platform.node(),
        "cpu": {"percent": cpu.percent(),
                "count": psutil.cpu_count() or 1},
        "memory": {"total": int(memory.total), "available": int(memory.available),
                   "used": int(memory.total - memory.available), "percent": float(memory.percent)},
        # percent as df computes it: of the space we can use (used + free), not of the total,
        # which counts blocks reserved for root or otherwise unavailable (on this project's VM,
        # 162 of 270 GB: used / total said 12 % where df said 29 %)
        "disk": {"path": str(data_dir), "total": int(disk.total), "used": int(disk.used),
                 "free": int(disk.free),
                 "percent": round(100.0 * disk.used / max(1, disk.used + disk.free), 2)},
        "gpus": gpu_metrics(),
    }


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
