"""Anonymous mappings that one extraction hands back for the next one in the process to reuse.

Why: an extraction's rows in flight live in fresh anonymous memory (the writer's two shard sets,
256 MB each by default, and the engine's stagings, ~100 MB at 90 points), and the first write to a
fresh page is a page fault. On a VM whose balloon reports free pages to the host (Firecracker,
and the 2-core VM this was built on: ``virtio_balloon`` with free page reporting), every page
freed by one run goes back to the host, and the next run's first touch of it is a fault in the
host as well: copying rows into a fresh shard set ran at 0.1-0.4 GB/s against ~11 GB/s into
memory already touched. The app runs jobs in its own process and a notebook runs extraction
after extraction, so a run of the same shapes takes the previous run's memory back. A/B in one
process on that VM (SmolLM2-135M, 90 points, medians of 5, ratio to the plain forward): 0.70
with fresh memory, 0.76 with reuse. The process's first run still pays.

``BufferCache.take(size)`` returns a cached mapping of exactly ``size`` bytes, else a fresh one
(``direct_io.anonymous_memory``); ``give_back(memory)`` keeps it, its pages resident (not
``MADV_FREE``: pages the kernel may take back are fresh again), up to ``limit`` bytes (the oldest
go first). Content is undefined (stale bytes): every user writes rows before it reads or writes
them out. An idle cache lets its memory go after ``idle_s`` seconds without a ``give_back``, so
an idle server does not hold it. The cost: a run of other shapes within that time finds memory it
cannot use still held beside its own (``limit`` at most; preflight's RAM figure counts it, as the
pages each mapping has in RAM: ``resident()``, from ``mincore``). Letting go of everything on a
miss was tried: a run takes its shard sets before its staging, so it then dropped the staging its
own preflight had left for it. Thread-safe.

This module is NOT responsible for what the memory holds or for page-aligned carving
(``direct_io.NpyBuffer``).
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import threading
from collections.abc import Callable

from interpstudio.ml.direct_io import anonymous_memory

DEFAULT_LIMIT = 1 << 30  # bytes kept at most (two 256 MB shard sets and stagings fit)
DEFAULT_IDLE_S = 60.0  # a cache not given memory for this long lets it all go


class BufferCache:
    """See the module docstring."""

    def __init__(self, limit: int = DEFAULT_LIMIT, idle_s: float = DEFAULT_IDLE_S) -> None:
        self.limit = limit
        self.idle_s = idle_s
        self.reused = 0  # mappings handed out again (for tests and benchmarks)
        self._free: list[mmap.mmap] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def take(self, size: int) -> mmap.mmap:
        """A mapping of ``size`` bytes (at least a page): a cached one of exactly that size, else
        a fresh one. Its content is undefined."""
        size = max(mmap.PAGESIZE, size)
        with self._lock:
            for i, memory in enumerate(self._free):
                if len(memory) == size:
                    self.reused += 1
                    return self._free.pop(i)
        return anonymous_memory(size)

    def give_back(self, memory: mmap.mmap) -> None:
        """Keep ``memory`` for a later ``take`` (the caller must not touch it again)."""
        if len(memory) > self.limit:
            return
        with self._lock:
            self._free.append(memory)
            while sum(len(m) for m in self._free) > self.limit:
                self._free.pop(0)  # unmapped once nothing refers to it
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.idle_s, self.clear)
            self._timer.daemon = True
            self._timer.start()

    def resident(self) -> list[tuple[int, int]]:
        """(size, bytes of it in RAM now) of every cached mapping, oldest first: a short run
        touched only the start of its shard sets."""
        with self._lock:
            return [(len(m), resident_bytes(m)) for m in self._free]

    @property
    def cached_bytes(self) -> int:
        with self._lock:
            return sum(len(m) for m in self._free)

    def clear(self) -> None:
        """Let every cached mapping go (unmapped once nothing refers to it)."""
        with self._lock:
            self._free.clear()
            if self._timer is not None and self._timer is not threading.current_thread():
                self._timer.cancel()
            self._timer = None


def resident_bytes(memory: mmap.mmap) -> int:
    """Bytes of ``memory`` in RAM now (``mincore``: the pages ever written to, for an anonymous
    mapping); its whole length where ``mincore`` is not available."""
    pages = -(-len(memory) // mmap.PAGESIZE)
    flags = (ctypes.c_ubyte * pages)()
    view = ctypes.c_char.from_buffer(memory)  # an export: released below, so ``memory`` can close
    try:
        mincore = _mincore()
        failed = mincore is None or mincore(ctypes.addressof(view), len(memory), flags) != 0
    finally:
        del view
    return len(memory) if failed else (pages - bytes(flags).count(0)) * mmap.PAGESIZE


@functools.cache
def _mincore() -> Callable[..., int] | None:
    """libc's ``mincore`` (Linux, macOS), None where there is none."""
    try:
        function = ctypes.CDLL(None, use_errno=True).mincore
    except (AttributeError, OSError, TypeError):  # no such call (Windows)
        return None
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
    function.restype = ctypes.c_int
    return function


buffer_cache = BufferCache()
