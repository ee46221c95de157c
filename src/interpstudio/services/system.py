"""Machine metrics for the System page: CPU, RAM, disk of the data dir, GPUs.

Torch-free on purpose: the API process answers this without importing torch. GPUs are read through
NVML (``nvidia-ml-py``) when a driver is present, otherwise the list is empty. This module is NOT
responsible for publishing metrics periodically (``api/feeds.py`` does).
"""

from __future__ import annotations

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


_cpu_lock = threading.Lock()
_cpu_last: list[Any] = []  # the previous sample of psutil.cpu_times(), shared by every thread


def start_cpu_sampling() -> None:
    """Take the first sample now, so the first reading is a real one. psutil's own
    ``cpu_percent(interval=None)`` keeps its previous sample per thread and says 0.0 without one:
    a busy machine read 0 % on the first page load (each request may run on a new thread)."""
    cpu_percent()


def cpu_percent() -> float:
    """System-wide CPU use since the previous call from any thread, 0..100 (psutil's formula:
    all time but idle and iowait)."""
    now = psutil.cpu_times()
    with _cpu_lock:
        before = _cpu_last[0] if _cpu_last else None
        _cpu_last[:] = [now]
    if before is None:
        return 0.0

    def busy_and_total(times: Any) -> tuple[float, float]:
        total = sum(times)
        return total - times.idle - getattr(times, "iowait", 0.0), total

    busy_now, total_now = busy_and_total(now)
    busy_before, total_before = busy_and_total(before)
    elapsed = total_now - total_before
    if elapsed <= 0:
        return 0.0
    return round(min(100.0, max(0.0, 100.0 * (busy_now - busy_before) / elapsed)), 1)


def system_metrics(*, data_dir: Path) -> dict[str, Any]:
    memory = psutil.virtual_memory()
    disk_path = data_dir if data_dir.exists() else _existing_parent(data_dir)
    disk = shutil.disk_usage(disk_path)
    return {
        "timestamp": datetime.now(UTC).isoformat(),
        "cpu": {"percent": cpu_percent(),
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
