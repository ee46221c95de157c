"""Tokenize a dataset exactly as a model's tokenizer does, under an explicit, stored policy.

``TokenizationPolicy`` spells out every choice: ``max_length``; ``add_bos`` (``None`` = what the
tokenizer does on its own, resolved and recorded by ``resolve_policy``); ``mode`` ``"truncate"``
(one sequence per row, cut at ``max_length``) or ``"pack"`` (rows concatenated, each followed by
EOS, cut into full ``max_length`` windows; the last partial window is dropped and counted); and
``min_tokens`` (rows with fewer text tokens than this, and rows with none, are dropped and
counted; a BOS or EOS added by the tokenizer or the policy is never a text token, so an empty
row never becomes a BOS-only sequence and both modes keep the same rows). Padding is never
stored: the output is the flat token-id format of ``token_store.py``.

``tokenize_dataset`` calls the fast tokenizer on batches (``tokenizer(texts)``), appends whole
batches to a ``TokenStoreWriter`` whose journal carries the resume state (rows done, counters,
the packing carry), reports progress in rows and tokens through a callback, and checks
``should_stop`` between batches. ``summarize_tokens`` computes the token-length histogram,
unique-token count and top tokens from the finished store. This module is NOT responsible for
reading source files (``text_sources.py``), choosing the model, or databases and jobs.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from interpstudio.core.errors import InvalidInput, JobCancelled, whole_number
from interpstudio.ml.dataset_stats import LengthStats
from interpstudio.ml.token_store import TokenizedDataset, TokenStoreWriter

TokenMode = Literal["truncate", "pack"]
ProgressCallback = Callable[[int, int], None]  # (rows done, tokens written)
TextBatches = Callable[[int], Iterable[tuple[int, list[str]]]]  # start_row -> (first_row, texts)
TOKENIZER_BATCH_ROWS = 1024
TOP_TOKENS = 20
COUNT_KEYS = ("rows_read", "rows_kept", "dropped_rows", "truncated_sequences",
              "truncated_tokens", "tail_tokens_dropped", "text_tokens")


class EmptyTokenization(InvalidInput):
    """``tokenize_texts`` would make a tokenization without a sequence: no texts, only empty
    ones, or a policy that keeps none of them (every ``extract`` of it would be refused as
    ``EmptyExtraction``). The app refuses an empty file at its import
    (``text_sources.EmptySource``) and a dataset whose rows keep none in its tokenize job
    (``refuse_nothing_kept`` with ``APP_WORDS``)."""

    code = "empty_tokenization"

    def __init__(self, reason: str, details: dict[str, Any]) -> None:
        super().__init__(f"the tokenization would hold no sequence: {reason}", details=details)


@dataclass(frozen=True)
class TokenizationPolicy:
    max_length: int = 1024
    mode: TokenMode = "truncate"
    add_bos: bool | None = None  # None: the tokenizer's own behaviour (see resolve_policy)
    min_tokens: int = 1

    def __post_init__(self) -> None:
        for name in ("max_length", "min_tokens"):  # 128.0 was a bare TypeError when slicing
            object.__setattr__(self, name, whole_number(name, getattr(self, name)))
        if self.max_length < 1:
            raise InvalidInput("max_length must be at least 1", details={"max_length": 1})
        if self.min_tokens < 0:
            raise InvalidInput("min_tokens must be >= 0", details={"min_tokens": self.min_tokens})
        if self.mode not in ("truncate", "pack"):
            raise InvalidInput(f"mode must be 'truncate' or 'pack', not {self.mode!r}",
                               details={"mode": self.mode})


def load_tokenizer(folder: Path) -> Any:
    """The model folder's fast tokenizer (refuses slow, Python-only tokenizers)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), use_fast=True)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot load a tokenizer from {folder.name}: {exc}; the model folder "
                           "needs tokenizer.json (or tokenizer files)",
                           details={"folder": str(folder)}) from None
    if not getattr(tokenizer, "is_fast", False):
        raise InvalidInput(f"the tokenizer in {folder.name} is not a fast tokenizer; batched "
                           "tokenization needs tokenizer.json", details={"folder": str(folder)})
    return tokenizer


def tokenizer_defaults(tokenizer: Any, *, fingerprint: bool = True) -> dict[str, Any]:
    """What the tokenizer adds on its own: BOS in front, EOS at the end (probed, not assumed);
    with ``fingerprint``, its vocabulary's (~45 ms for 49k pieces: only for a stored policy)."""
    with_special = tokenizer("a", add_special_tokens=True)["input_ids"]
    without = tokenizer("a", add_special_tokens=False)["input_ids"]
    bos_id, eos_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    return {
        "bos_token": tokenizer.bos_token, "bos_token_id": bos_id,
        "eos_token": tokenizer.eos_token, "eos_token_id": eos_id,
        "tokenizer_prepends_bos": bool(bos_id is not None and len(with_special) > len(without)
                                       and with_special[0] == bos_id
                                       and (not without or without[0] != bos_id)),
        "tokenizer_appends_eos": bool(eos_id is not None and len(with_special) > len(without)
                                      and with_special[-1] == eos_id
                                      and (not without or without[-1] != eos_id)),
        "vocab_size": len(tokenizer),
        **({"vocab_sha256": vocab_fingerprint(tokenizer)} if fingerprint else {}),
    }


def vocab_fingerprint(tokenizer: Any) -> str:
    """sha256 of the tokenizer's vocabulary (every piece and its id): which tokenizer made a
    tokenization, so that an extraction with another model's tokenizer is refused even where
    every id is in range (``extract_plan.check_tokenizer``)."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    return hashlib.sha256(json.dumps(vocab, ensure_ascii=False).encode()).hexdigest()


def resolve_policy(policy: TokenizationPolicy, tokenizer: Any, *,
                   fingerprint: bool = True) -> dict[str, Any]:
    """The policy as stored: every default made explicit, with the special tokens used
    (``fingerprint=False``: without the vocabulary's, for a preview that stores nothing)."""
    defaults = tokenizer_defaults(tokenizer, fingerprint=fingerprint)
    add_bos = defaults["tokenizer_prepends_bos"] if policy.add_bos is None else policy.add_bos
    if add_bos and defaults["bos_token_id"] is None:
        raise InvalidInput("add_bos is set but this tokenizer has no BOS token; turn it off",
                           details={"add_bos": True})
    if policy.mode == "pack" and defaults["eos_token_id"] is None:
        raise InvalidInput("packing separates rows with EOS but this tokenizer has no EOS "
                           "token; use mode 'truncate'", details={"mode": "pack"})
    use_tokenizer_specials = policy.mode == "truncate" and policy.add_bos is None
    return {
        **asdict(policy),
        "add_bos": bool(add_bos),
        "bos_source": "tokenizer default" if policy.add_bos is None else "explicit",
        "special_tokens": "tokenizer's own (add_special_tokens=True)" if use_tokenizer_specials
        else ("BOS added by the policy" if add_bos else "no BOS")
        + (", EOS between rows" if policy.mode == "pack" else ""),
        "eos_separator": policy.mode == "pack",
        # a literal "</s>" or "<|endoftext|>" in a row is text, never the control token (stores
        # made before this key parsed them; the tokenize job refuses to resume such a store:
        # tokenization_begun_by_older_rules, retry it)
        "split_special_tokens": True,
        "padding": "none (lengths in offsets.npy)",
        "tokenizer": defaults,
    }


def policy_hash(resolved: dict[str, Any]) -> str:
    keys = ("max_length", "mode", "add_bos", "min_tokens")
    canonical = json.dumps({k: resolved[k] for k in keys}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class _PackState:
    carry: list[int]
    carry_rows: list[list[int]]  # [[row, position in carry], ...]


def added_specials(tokenizer: Any, use_tokenizer_specials: bool) -> tuple[int, int]:
    """How many special tokens the tokenizer adds to every row on its own, before the text and
    after it (llama: (1, 0), its BOS; a ``<s> $A </s>`` template: (1, 1))."""
    if not use_tokenizer_specials:
        return 0, 0
    probe = tokenizer(["a"], add_special_tokens=False)["input_ids"][0]
    framed = tokenizer(["a"], add_special_tokens=True)["input_ids"][0]
    before = next((k for k in range(len(framed) - len(probe) + 1)
                   if framed[k:k + len(probe)] == probe), 0)
    return before, len(framed) - len(probe) - before


def truncate_ids(full: list[int], max_length: int, specials: tuple[int, int]) -> list[int]:
    """``full`` cut to ``max_length`` as ``truncation=True`` cuts it: the text is cut, the
    tokenizer's own specials on either side are kept (an EOS it appends stays last whatever
    the row's length), unless ``max_length`` leaves no room for text."""
    if len(full) <= max_length:
        return full
    before, after = specials
    room = max_length - before - after
    if room < 1:
        return full[:max_length]
    return full[:before + room] + (full[len(full) - after:] if after else [])


def row_is_kept(text_tokens: int, min_tokens: int) -> bool:
    """The one drop rule of both modes: at least ``min_tokens`` text tokens, and at least one."""
    return text_tokens >= max(min_tokens, 1)


def _encode(tokenizer: Any, texts: list[str], use_tokenizer_specials: bool,
            split_special_tokens: bool) -> list[list[int]]:
    encoded = tokenizer(texts, add_special_tokens=use_tokenizer_specials,
                        split_special_tokens=split_special_tokens,
                        return_attention_mask=False, return_token_type_ids=False)
    return encoded["input_ids"]


def _truncate(ids_batch: list[list[int]], first_row: int, resolved: dict[str, Any],
              bos: list[int], specials: tuple[int, int],
              counts: dict[str, int]) -> tuple[list[list[int]], list[int]]:
    sequences, rows = [], []
    max_length, min_tokens = resolved["max_length"], resolved["min_tokens"]
    for offset, ids in enumerate(ids_batch):
        full = bos + ids if bos else ids
        if not row_is_kept(len(ids) - sum(specials), min_tokens):
            counts["dropped_rows"] += 1
            continue
        if len(full) > max_length:
            counts["truncated_sequences"] += 1
            counts["truncated_tokens"] += len(full) - max_length
            full = truncate_ids(full, max_length, specials)
        sequences.append(full)
        rows.append(first_row + offset)
    return sequences, rows


def _pack(ids_batch: list[list[int]], first_row: int, resolved: dict[str, Any],
          bos: list[int], eos: int, state: _PackState,
          counts: dict[str, int]) -> tuple[list[list[int]], list[int]]:
    flat, segments = state.carry, state.carry_rows
    for offset, ids in enumerate(ids_batch):
        if not row_is_kept(len(ids), resolved["min_tokens"]):
            counts["dropped_rows"] += 1
            continue
        segments.append([first_row + offset, len(flat)])
        flat.extend(bos)
        flat.extend(ids)
        flat.append(eos)
    length = resolved["max_length"]
    n_windows = len(flat) // length
    starts = [s[1] for s in segments]
    sequences, rows = [], []
    for w in range(n_windows):
        a, b = w * length, (w + 1) * length
        index = bisect.bisect_right(starts, a) - 1
        spans = index + 1 < len(starts) and starts[index + 1] < b
        sequences.append(flat[a:b])
        rows.append(-1 if spans else segments[index][0])
    cut = n_windows * length
    keep = max(bisect.bisect_right(starts, cut) - 1, 0)
    state.carry = flat[cut:]
    state.carry_rows = ([[row, max(pos - cut, 0)] for row, pos in segments[keep:]]
                        if state.carry else [])
    return sequences, rows


def tokenize_dataset(batches: TextBatches, tokenizer: Any, resolved: dict[str, Any],
                     writer: TokenStoreWriter, *, on_progress: ProgressCallback | None = None,
                     should_stop: Callable[[], bool] = lambda: False,
                     batch_rows: int = TOKENIZER_BATCH_ROWS) -> dict[str, int]:
    """Tokenize every row into ``writer`` (resuming from its committed state); return counts.

    Commits after each tokenizer batch; ``should_stop`` is checked before each (then
    ``JobCancelled``), so a stop or a crash loses at most one batch of work.
    """
    extra = writer.extra
    counts = {k: int(extra.get("counts", {}).get(k, 0)) for k in COUNT_KEYS}
    rows_done = int(extra.get("rows_done", 0))
    state = _PackState(list(extra.get("carry", [])), [list(s) for s in extra.get("carry_rows", [])])
    use_specials = resolved["mode"] == "truncate" and resolved["bos_source"] == "tokenizer default"
    bos = [] if use_specials or not resolved["add_bos"] else [resolved["tokenizer"]["bos_token_id"]]
    eos = resolved["tokenizer"]["eos_token_id"]
    specials = added_specials(tokenizer, use_specials)  # in each row's ids, not text tokens
    split = bool(resolved.get("split_special_tokens", False))
    for first_row, texts in batches(rows_done):
        for start in range(0, len(texts), batch_rows):
            if should_stop():
                raise JobCancelled()
            chunk = texts[start:start + batch_rows]
            ids_batch = _encode(tokenizer, chunk, use_specials, split)
            row0 = first_row + start
            counts["rows_read"] += len(chunk)
            counts["text_tokens"] += sum(len(ids) - sum(specials) for ids in ids_batch)
            if resolved["mode"] == "truncate":
                sequences, rows = _truncate(ids_batch, row0, resolved, bos, specials, counts)
            else:
                sequences, rows = _pack(ids_batch, row0, resolved, bos, eos, state, counts)
            counts["rows_kept"] = counts["rows_read"] - counts["dropped_rows"]
            rows_done = row0 + len(chunk)
            writer.append(sequences, rows, extra={
                "rows_done": rows_done, "counts": counts, "carry": state.carry,
                "carry_rows": state.carry_rows})
            if on_progress is not None:
                on_progress(rows_done, writer.committed_tokens)
    counts["tail_tokens_dropped"] = len(state.carry)
    counts["rows_kept"] = counts["rows_read"] - counts["dropped_rows"]
    return counts


def summarize_tokens(store: TokenizedDataset, *, vocab_size: int,
                     id_to_piece: Callable[[int], str | None] | None = None,
                     id_to_text: Callable[[int], str] | None = None,
                     chunk: int = 1 << 20) -> dict[str, Any]:
    """Token-length histogram, unique tokens and top tokens (id, count, the raw ``piece`` and the
    ``text`` it reads as, ``token_pieces.piece_text``), reading the token file in chunks (plain
    reads, not the memory map, so resident memory stays flat in the number of tokens)."""
    lengths = LengthStats()
    lengths.add_many(store.lengths)
    counts = np.zeros(max(vocab_size, 1), dtype=np.int64)  # (V,)
    offset = int(getattr(store.tokens, "offset", 0))
    itemsize = np.dtype(store.tokens.dtype).itemsize
    with open(store.folder / "tokens.npy", "rb") as handle:
        for start in range(0, store.n_tokens, chunk):
            count = min(chunk, store.n_tokens - start)
            part = np.fromfile(handle, dtype=store.tokens.dtype, count=count,
                               offset=offset + start * itemsize if start == 0 else 0)  # (chunk,)
            found = np.bincount(part, minlength=len(counts))
            if len(found) > len(counts):
                counts = np.concatenate([counts, np.zeros(len(found) - len(counts), np.int64)])
            counts += found
    order = np.argsort(-counts, kind="stable")[:TOP_TOKENS]
    top = [{"id": int(i), "count": int(counts[i]),
            "piece": id_to_piece(int(i)) if id_to_piece else None,
            "text": id_to_text(int(i)) if id_to_text else None}
           for i in order if counts[i] > 0]
    return {"sequence_lengths": lengths.to_dict(), "unique_tokens": int(np.count_nonzero(counts)),
            "top_tokens": top}


def tokenize_texts(
    texts: Iterable[str],
    tokenizer: Any,
    out_dir: str | Path,
    *,
    max_length: int = 1024,
    mode: TokenMode = "truncate",
    add_bos: bool | None = None,
    min_tokens: int = 1,
    tokenizer_key: str | None = None,
) -> TokenizedDataset:
    """Tokenize ``texts`` into a new tokenization folder ``out_dir``, for ``extract`` in a
    notebook (the app's tokenize job does the same from an imported dataset)::

        tokenized = tokenize_texts(["The cat sat.", ...], loaded.tokenizer, "tok/cats",
                                   max_length=128)
        extract(loaded, tokenized, "blocks.*.resid_post", out_dir="acts/cats")

    ``tokenizer``: a Hugging Face tokenizer, or a ``loading.LoadedModel`` (its tokenizer). The
    policy arguments are ``TokenizationPolicy``'s. ``tokenizer_key`` names the tokenizer in the
    store (default: its ``name_or_path``). Rows are the texts in order (source row = index).
    """
    from interpstudio.ml.token_store import open_tokenized

    tok = getattr(tokenizer, "tokenizer", None) if hasattr(tokenizer, "precision_used") \
        else tokenizer
    if tok is None or not callable(getattr(tok, "get_vocab", None)):
        raise InvalidInput(
            "tokenize_texts needs a Hugging Face tokenizer (or a LoadedModel that has one), "
            f"got {type(tokenizer).__name__}", details={"type": type(tokenizer).__name__})
    rows = [texts] if isinstance(texts, str) else list(texts)
    bad = next((i for i, t in enumerate(rows) if not isinstance(t, str)), None)
    if bad is not None:
        raise InvalidInput(f"text {bad} is a {type(rows[bad]).__name__}, not a string",
                           details={"index": bad, "type": type(rows[bad]).__name__})
    _refuse_unencodable(rows)
    if not any(rows):  # [] or only "": a tokenization without a sequence, refused by extract
        said = (("the text is empty" if len(rows) == 1 else f"all {len(rows)} texts are empty")
                if rows else "no texts were given")
        raise EmptyTokenization(f"{said}; give at least one text that is not empty",
                                details={"texts": len(rows)})
    folder = Path(out_dir)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidInput(f"{folder} exists and is not an empty folder; give a new folder",
                           details={"path": str(folder)})
    policy = TokenizationPolicy(max_length=max_length, mode=mode, add_bos=add_bos,
                                min_tokens=min_tokens)
    resolved = resolve_policy(policy, tok)
    key = tokenizer_key or str(getattr(tok, "name_or_path", "") or "tokenizer")
    created = not folder.exists()
    try:
        writer = TokenStoreWriter(folder, meta={"tokenizer_key": key, "policy": resolved})
        counts = tokenize_dataset(lambda start: iter([(start, rows[start:])]), tok, resolved,
                                  writer)
        if writer.committed_sequences == 0:
            refuse_nothing_kept(len(rows), counts, resolved)
        writer.finish(counts=counts)
    except BaseException:
        # a failure or a Ctrl-C left the partial files, and the retry into the same folder
        # was refused ("not an empty folder"); the folder was new or empty: it is again
        _empty_folder(folder, remove=created)
        raise
    return open_tokenized(folder)


@dataclass(frozen=True)
class PolicyWords:
    """How an ``EmptyTokenization`` names what was tokenized and the settings to change: a
    notebook's ``tokenize_texts`` arguments (the defaults), or the app's policy (``APP_WORDS``:
    the tokenize job, whichever of the form, the REST body or the CLI made it)."""

    item: str = "text"  # one of what was tokenized
    min_tokens: str = "min_tokens"
    max_length: str = "max_length"
    equals: str = "="  # between a setting's name and its value
    truncate: str = "mode='truncate'"
    blank_hint: str = ""  # said when no item has a text token at all


NOTEBOOK_WORDS = PolicyWords()
APP_WORDS = PolicyWords(item="row", min_tokens="min tokens", max_length="max length",
                        equals=" ", truncate="mode truncate",
                        blank_hint=" (blank or whitespace only): import a dataset whose text "
                                   "column holds text")


def refuse_nothing_kept(items: int, counts: dict[str, int], resolved: dict[str, Any], *,
                        words: PolicyWords = NOTEBOOK_WORDS) -> None:
    """Raise ``EmptyTokenization`` for ``items`` that made no sequence under the policy: rows
    under ``min_tokens`` text tokens (whitespace has none for some tokenizers), or, packed,
    fewer tokens in all than one ``max_length`` window (the last partial window is dropped)."""
    why, dropped, least = [], counts["dropped_rows"], resolved["min_tokens"]
    setting = f"{words.min_tokens}{words.equals}{least}"
    if dropped:
        under = "no text tokens" if least <= 1 else f"fewer than {setting} text tokens"
        which = (f"the {words.item} has" if items == 1 else
                 f"{dropped} of the {items} {words.item}s {'has' if dropped == 1 else 'have'}")
        hint = (f" (lower {words.min_tokens})" if least > 1 else
                words.blank_hint if dropped == items else "")
        why.append(f"{which} {under}{hint}")
    if counts["tail_tokens_dropped"]:
        window = f"{words.max_length}{words.equals}{resolved['max_length']}"
        why.append(f"the {counts['tail_tokens_dropped']} tokens packed fill no window of "
                   f"{window} (a last partial window is dropped): give more text, a smaller "
                   f"{words.max_length}, or {words.truncate}")
    raise EmptyTokenization("; ".join(why),
                            details={f"{words.item}s": items, "dropped_rows": dropped,
                                     "tail_tokens_dropped": counts["tail_tokens_dropped"]})


def _refuse_unencodable(rows: list[str]) -> None:
    """Refuse a text the tokenizer cannot take (a lone surrogate, from a file decoded with
    ``errors="surrogateescape"``): it raised a bare "TextEncodeInput must be Union[...]"."""
    for index, text in enumerate(rows):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInput(
                f"text {index} holds a character that is not valid Unicode ({exc.reason} at "
                f"character {exc.start}); decode its source with errors='replace', or drop it",
                details={"index": index, "character": exc.start}) from None


def _empty_folder(folder: Path, *, remove: bool) -> None:
    import shutil

    if remove:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for child in folder.iterdir() if folder.is_dir() else ():
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
