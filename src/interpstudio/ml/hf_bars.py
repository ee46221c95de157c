"""Transformers' own tqdm bars, left undrawn in one thread while a block runs.

``quiet()`` is a context manager: while it is active in this thread, the bars transformers makes
through ``transformers.utils.logging.tqdm`` ("Loading weights", "Writing model shards") are made
disabled. Every other thread, and this one once the block ends, sees transformers as before: its
global switch (``is_progress_bar_enabled``) is never touched, and a ``set_tqdm_hook`` hook the
user set before is still called for every bar. It works through that hook (installed once per
process, in front of whatever hook was there); a hook set later replaces it, which only brings
the bars back.

Why: ``load_model`` in a notebook drew transformers' "Loading weights" bar, counted over the
weights' name mapping (a GGUF's is done in a blink, after the dequantizing that took the time),
in the cell above the ``LoadedModel`` it returns; the CLI turns Hugging Face's bars off for its
whole process (``HF_HUB_DISABLE_PROGRESS_BARS``), which a library call must not do to the
user's later ``from_pretrained`` calls. The GGUF tensor loop's bar is ``gguf_progress``'s.

This module is NOT responsible for loading (``loading.py``) or for reporting progress.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from interpstudio.ml.patch_once import once, set_in_thread

_local = threading.local()


def quiet() -> AbstractContextManager[None]:
    """Draw none of transformers' ``logging.tqdm`` bars made in this thread while the block runs."""
    _install()
    return set_in_thread(_local, "quiet", True)


def _patch() -> bool:
    try:
        from transformers.utils import logging
    except ImportError:
        return False
    set_hook = getattr(logging, "set_tqdm_hook", None)
    if set_hook is None:
        return False
    previous: list[Callable[..., Any] | None] = [None]

    def hook(factory: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if getattr(_local, "quiet", False):
            kwargs = {**kwargs, "disable": True}  # transformers' EmptyTqdm takes it too
        if previous[0] is not None:
            return previous[0](factory, args, kwargs)
        return factory(*args, **kwargs)

    previous[0] = set_hook(hook)
    return True


_install = once(_patch)
