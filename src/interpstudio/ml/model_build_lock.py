"""One lock around every transformers model construction in this process.

transformers builds a model inside context managers that swap process-wide functions
(``PreTrainedModel.tie_weights`` and ``init_weights``, the ``torch.nn.init`` functions) and put
back, on exit, what they found on entry. Two constructions at once in one process can each put
back the other's stand-in: ``tie_weights`` then stays a no-op for the life of the process, and
every later model with tied embeddings loads with its ``lm_head`` left on the meta device
("Cannot copy out of meta tensor"). Measured with transformers 5.23: three threads each loading a
tiny tied llama five times left it so on every run. Our workers run one job at a time, but the
API answers requests on a thread pool (hub preflights build models on the meta device), and
tests run workers in threads: every ``from_pretrained`` / ``from_config`` of ours holds
``MODEL_BUILD``.

This module is NOT responsible for loading (``loading.py``) or for anything else transformers
may share between threads (tokenizers are not built under it).
"""

from __future__ import annotations

import threading

MODEL_BUILD = threading.RLock()
