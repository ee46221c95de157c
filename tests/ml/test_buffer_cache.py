"""``buffer_cache.BufferCache``: exact-size reuse, a bound on what it keeps, and letting go when
idle."""

from __future__ import annotations

import mmap
import time

from interpstudio.ml.buffer_cache import BufferCache
from interpstudio.ml.direct_io import anonymous_memory

PAGE = mmap.PAGESIZE


def test_mappings_come_back_at_their_exact_size_and_keep_what_is_written() -> None:
    cache = BufferCache(limit=10 * PAGE)
    first = cache.take(4 * PAGE)
    first[:5] = b"stale"
    cache.give_back(first)
    assert cache.cached_bytes == 4 * PAGE
    assert cache.take(3 * PAGE) is not first  # another size: a fresh mapping
    again = cache.take(4 * PAGE)
    assert again is first and cache.reused == 1 and cache.cached_bytes == 0
    assert again[:5] == b"stale"  # resident: the pages were not handed back to the kernel
    assert len(cache.take(1)) == PAGE  # at least a page
    cache.clear()


def test_it_keeps_at_most_its_limit_dropping_the_oldest() -> None:
    cache = BufferCache(limit=10 * PAGE)
    oldest, *others = (anonymous_memory(4 * PAGE) for _ in range(3))
    for memory in (oldest, *others):
        cache.give_back(memory)
    assert cache.cached_bytes == 8 * PAGE  # 12 pages offered, 10 allowed: the oldest went
    assert [cache.take(4 * PAGE) for _ in range(2)] == others
    cache.give_back(anonymous_memory(11 * PAGE))  # larger than the limit: not kept
    assert cache.cached_bytes == 0


def test_an_idle_cache_lets_its_memory_go() -> None:
    cache = BufferCache(limit=10 * PAGE, idle_s=0.2)
    cache.give_back(cache.take(4 * PAGE))
    time.sleep(0.1)
    cache.give_back(cache.take(2 * PAGE))  # a new give_back restarts the idle clock
    assert cache.cached_bytes == 6 * PAGE
    deadline = time.monotonic() + 10
    while cache.cached_bytes and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.cached_bytes == 0


def test_resident_counts_the_pages_written_not_the_mapping() -> None:
    """A short run touches only the start of its shard sets: the preflight counts what a cached
    mapping really holds in RAM."""
    cache = BufferCache()
    touched, untouched = anonymous_memory(8 << 20), mmap.mmap(-1, 8 << 20)
    touched[: 3 << 20] = b"x" * (3 << 20)
    cache.give_back(touched)
    cache.give_back(untouched)
    (size, written), (_, nothing) = cache.resident()
    assert size == 8 << 20 and nothing == 0
    assert 3 << 20 <= written <= 4 << 20  # whole huge pages, where the kernel backs it by them
    cache.clear()
