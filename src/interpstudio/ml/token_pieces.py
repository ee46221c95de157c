"""A torch-free view of a model's tokenizer (``tokenizer.json`` via the ``tokenizers`` library).

``PieceTokenizer`` answers what previews need without importing transformers (which imports
torch): token ids -> pieces and per-token text, and batched encoding for a dry-run preview. It has
the small part of the Hugging Face tokenizer interface that ``tokenize.resolve_policy`` uses
(``__call__`` returning ``input_ids``, ``bos_token(_id)``, ``eos_token(_id)``, ``len``), so the
preview states the same resolved policy as the job. The job itself uses the real fast tokenizer
(``tokenize.load_tokenizer``). ``piece_text`` is what a piece reads as (``Ġthe`` -> " the"),
for previews and for the top tokens a tokenize job stores. ``text_around`` is a token with the
text before and after it, as the whole span reads (the top-norm rows of an extraction's
``samples.json``). This module is NOT responsible for writing token stores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interpstudio.core.errors import InvalidInput

if TYPE_CHECKING:
    from tokenizers import Tokenizer


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


def piece_text(tokenizer: Tokenizer, token_id: int) -> str:
    """What one token spells where it stands after other text, by the tokenizer's own decoder
    (exact, never guessed from the piece): ``Ġthe`` -> " the", ``Ċ`` -> "\\n", ``▁the`` -> " the",
    specials kept. A decoder may drop what opens a text (a Metaspace decoder strips the first
    token's space: ``▁the`` alone decodes to "the"), so the token is decoded twice and the second
    copy is what it reads mid-text. A byte of a longer character decodes to U+FFFD."""
    once = tokenizer.decode([token_id], skip_special_tokens=False)
    twice = tokenizer.decode([token_id, token_id], skip_special_tokens=False)
    return twice[len(once):] if twice.startswith(once) else once


def text_around(tokenizer: Any, ids: Sequence[int], position: int, before: int,
                after: int) -> tuple[str, str, str]:
    """(text before, token, text after) of ``ids[position]`` with up to ``before`` / ``after``
    tokens around it, cut out of the span's one decode, so the three parts always read as the
    span does. Decoding the parts apart lost what a decoder drops at a text's start: with a
    Metaspace decoder (Llama-2, Mistral, Gemma) '▁brown' alone reads "brown", and the top-tokens
    table showed "The quickbrownfox jumps".

    Where the cuts fall: the text of the first ``i`` tokens is the longest start that their
    decode shares with the span's (a prefix ending inside a character split over byte tokens
    decodes to a U+FFFD there, which is not the span's text). The token reads from where the text
    of the tokens before it ends to where the text first grows past that point: a byte-level
    token holding part of a character ('Ã' of "é", one of an emoji's four bytes) reads as that
    whole character (it read "�" with a second "�" in the text after it, or "" where its prefix
    decoded like the one before). A character the span's own edges cut stays U+FFFD.
    ``tokenizer``: anything with ``decode(ids, skip_special_tokens=...)``."""
    start = max(0, position - before)
    span = [int(i) for i in ids[start : position + 1 + after]]
    k = position - start

    def decode(part: list[int]) -> str:
        return str(tokenizer.decode(part, skip_special_tokens=False))

    whole = decode(span)

    def settled(i: int) -> int:
        """Characters of the span's text that its first ``i`` tokens decode to."""
        head = decode(span[:i])
        n = min(len(head), len(whole))
        return next((c for c in range(n) if head[c] != whole[c]), n)

    cut = settled(k)
    end = next((e for e in (settled(i) for i in range(k + 1, len(span) + 1)) if e > cut),
               len(whole))
    return whole[:cut], whole[cut:end], whole[end:]


class PieceTokenizer:
    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        path = folder / "tokenizer.json"
        if not path.exists():
            raise InvalidInput(f"{folder.name} has no tokenizer.json; previews need a fast "
                               "tokenizer file", details={"folder": str(folder)})
        self._tokenizer = Tokenizer.from_file(str(path))
        # as transformers does for ``tokenizer(texts)``: padding or truncation saved in the file
        # would put pad ids and cut rows in a preview that the tokenization job never stores
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        config_path = folder / "tokenizer_config.json"
        config = json.loads(config_path.read_text()) if config_path.exists() else {}
        self.bos_token = _token_text(config.get("bos_token"))
        self.eos_token = _token_text(config.get("eos_token"))
        self.bos_token_id = self._id(self.bos_token)
        self.eos_token_id = self._id(self.eos_token)

    def _id(self, token: str | None) -> int | None:
        return None if token is None else self._tokenizer.token_to_id(token)

    def __len__(self) -> int:
        return int(self._tokenizer.get_vocab_size(with_added_tokens=True))

    def __call__(self, texts: str | list[str], *, add_special_tokens: bool = True,
                 split_special_tokens: bool = False, **_ignored: Any) -> dict[str, Any]:
        """``input_ids`` as a transformers tokenizer gives them (``split_special_tokens``: a
        special token's text inside ``texts`` is encoded as ordinary text)."""
        self._tokenizer.encode_special_tokens = split_special_tokens
        if isinstance(texts, str):
            return {"input_ids": self._tokenizer.encode(
                texts, add_special_tokens=add_special_tokens).ids}
        encoded = self._tokenizer.encode_batch(texts, add_special_tokens=add_special_tokens)
        return {"input_ids": [e.ids for e in encoded]}

    def pieces(self, ids: list[int]) -> list[str | None]:
        return [self._tokenizer.id_to_token(int(i)) for i in ids]

    def texts(self, ids: list[int]) -> list[str]:
        """Each token's text as ``piece_text`` reads it (what it spells mid-text), specials kept."""
        return [piece_text(self._tokenizer, int(i)) for i in ids]

    def decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)
