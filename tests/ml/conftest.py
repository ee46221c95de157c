"""Fixtures shared by the engine's tests: ``allocated``, the fresh mappings ``buffer_cache``
makes during a test (what a run or a preflight really maps, recorded around the real allocator)."""

from __future__ import annotations

import mmap
from collections.abc import Iterator

import pytest

from interpstudio.ml import buffer_cache, direct_io


@pytest.fixture
def allocated(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The size of every fresh mapping ``buffer_cache`` makes (shard sets, stagings), starting
    from an empty cache (a recorder around the real ``anonymous_memory``)."""
    sizes: list[int] = []

    def recording(size: int) -> mmap.mmap:
        sizes.append(size)
        return direct_io.anonymous_memory(size)

    monkeypatch.setattr(buffer_cache, "anonymous_memory", recording)
    buffer_cache.buffer_cache.clear()
    yield sizes
    buffer_cache.buffer_cache.clear()
