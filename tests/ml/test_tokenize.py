"""Tokenization: counts equal the tokenizer's own output (exact), truncation and packing policies
(no pad ids stored), BOS default made visible, resume after an interruption, token statistics,
and the text store (import, statistics, paging, disk full)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers import small_filesystem
from hub_server.tiny_datasets import tiny_dataset_rows
from interpstudio.core.errors import JobCancelled
from interpstudio.data import bundled_text_path
from interpstudio.ml.text_sources import ReadOptions, iter_texts
from interpstudio.ml.text_store import (
    iter_text_batches,
    read_rows,
    sample_rows,
    write_text_parquet,
)
from interpstudio.ml.token_store import TokenStoreWriter, open_tokenized
from interpstudio.ml.tokenize import (
    TokenizationPolicy,
    load_tokenizer,
    resolve_policy,
    summarize_tokens,
    tokenize_dataset,
)

TEXTS = [r["text"] for r in tiny_dataset_rows(300)]


@pytest.fixture(scope="module")
def llama_tokenizer(tiny_model_factory) -> Any:  # type: ignore[no-untyped-def]
    return load_tokenizer(tiny_model_factory("llama"))


@pytest.fixture(scope="module")
def gpt2_tokenizer(tiny_model_factory) -> Any:  # type: ignore[no-untyped-def]
    return load_tokenizer(tiny_model_factory("gpt2"))


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "text.parquet"
    write_text_parquet(iter(TEXTS), path)
    return path


def _run(text_file: Path, folder: Path, tokenizer: Any, policy: TokenizationPolicy,
         **kwargs: Any) -> tuple[dict[str, int], Any]:
    resolved = resolve_policy(policy, tokenizer)
    writer = TokenStoreWriter(folder, meta={"tokenizer_key": "test", "policy": resolved})
    counts = tokenize_dataset(lambda start: iter_text_batches(text_file, start_row=start),
                              tokenizer, resolved, writer, **kwargs)
    writer.finish(counts=counts)
    return counts, open_tokenized(folder)


def test_truncate_default_equals_tokenizer_output_exactly(tmp_path: Path, text_file: Path,
                                                          llama_tokenizer: Any) -> None:
    counts, store = _run(text_file, tmp_path / "t", llama_tokenizer,
                         TokenizationPolicy(max_length=100_000), batch_rows=64)
    expected = llama_tokenizer(TEXTS)["input_ids"]
    assert store.policy["add_bos"] is True and store.policy["bos_source"] == "tokenizer default"
    assert len(store) == len(TEXTS) == counts["rows_read"]
    assert [store.sequence(i).tolist() for i in range(len(store))] == expected
    assert store.n_tokens == sum(map(len, expected)) == counts["text_tokens"] + len(TEXTS)
    assert counts["truncated_sequences"] == 0 and counts["dropped_rows"] == 0
    assert store.source_rows.tolist() == list(range(len(TEXTS)))


def test_truncate_counts_truncated_sequences_and_tokens(tmp_path: Path, text_file: Path,
                                                        llama_tokenizer: Any) -> None:
    counts, store = _run(text_file, tmp_path / "t", llama_tokenizer,
                         TokenizationPolicy(max_length=16, min_tokens=3))
    full = llama_tokenizer(TEXTS)["input_ids"]
    kept = [ids for ids in full if len(ids) - 1 >= 3]  # text tokens: the BOS does not count
    assert counts["dropped_rows"] == len(full) - len(kept)
    assert counts["truncated_sequences"] == sum(len(ids) > 16 for ids in kept)
    assert counts["truncated_tokens"] == sum(max(len(ids) - 16, 0) for ids in kept)
    assert [store.sequence(i).tolist() for i in range(len(store))] == [ids[:16] for ids in kept]
    assert int(store.lengths.max()) <= 16


@pytest.mark.parametrize("bos", [None, True, False])
def test_rows_without_text_tokens_are_dropped_in_both_modes_whatever_the_bos(
    tmp_path: Path, llama_tokenizer: Any, bos: bool | None,
) -> None:
    texts = ["first doc", "", "", "third 🎉", "fourth", "a"]
    source = tmp_path / "text.parquet"
    write_text_parquet(iter(texts), source)
    kept_rows: dict[tuple[str, int], list[int]] = {}
    for mode, min_tokens in itertools.product(("truncate", "pack"), (1, 2)):
        policy = TokenizationPolicy(max_length=2, mode=mode, add_bos=bos, min_tokens=min_tokens)
        counts, store = _run(source, tmp_path / f"{mode}-{min_tokens}", llama_tokenizer, policy)
        text_ids = llama_tokenizer(texts, add_special_tokens=False)["input_ids"]
        expected = [r for r, ids in enumerate(text_ids) if len(ids) >= min_tokens]
        assert counts["dropped_rows"] == len(texts) - len(expected)
        assert counts["text_tokens"] == sum(map(len, text_ids))
        if mode == "truncate":
            assert store.source_rows.tolist() == expected
            bos_id = llama_tokenizer.bos_token_id
            assert all(store.sequence(i).tolist() != [bos_id] for i in range(len(store)))
        kept_rows[mode, min_tokens] = expected
    assert kept_rows["truncate", 1] == kept_rows["pack", 1] == [0, 3, 4, 5]


def test_truncate_keeps_an_eos_the_tokenizer_appends_like_hf_truncation(
    tmp_path: Path, text_file: Path, tiny_model_factory: Any,
) -> None:
    from tokenizers import processors

    tokenizer = load_tokenizer(tiny_model_factory("llama"))  # its own copy: the template changes
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)])
    assert tokenizer("mat")["input_ids"][-1] == 2
    counts, store = _run(text_file, tmp_path / "t", tokenizer, TokenizationPolicy(max_length=8))
    expected = tokenizer(TEXTS, truncation=True, max_length=8)["input_ids"]
    assert [store.sequence(i).tolist() for i in range(len(store))] == expected
    assert all(store.sequence(i).tolist()[-1] == 2 for i in range(len(store)))
    full = tokenizer(TEXTS)["input_ids"]
    assert counts["text_tokens"] == sum(len(ids) - 2 for ids in full)
    assert counts["truncated_tokens"] == sum(max(len(ids) - 8, 0) for ids in full)


SPECIAL_TEXTS = ["before </s> after", "a <s> b", "plain words here"]


@pytest.mark.parametrize("mode", ["truncate", "pack"])
def test_special_token_text_inside_rows_is_tokenized_as_text(
    tmp_path: Path, llama_tokenizer: Any, mode: str,
) -> None:
    source = tmp_path / "text.parquet"
    write_text_parquet(iter(SPECIAL_TEXTS), source)
    counts, store = _run(source, tmp_path / "t", llama_tokenizer,
                         TokenizationPolicy(max_length=4096 if mode == "truncate" else 8,
                                            mode=mode))  # type: ignore[arg-type]
    assert store.policy["split_special_tokens"] is True
    text_ids = llama_tokenizer(SPECIAL_TEXTS, add_special_tokens=False,
                               split_special_tokens=True)["input_ids"]
    assert all(1 not in ids and 2 not in ids for ids in text_ids)
    if mode == "truncate":  # the tokenizer's own BOS in front, the literal "<s>" as text
        assert [store.sequence(i).tolist() for i in range(len(store))] == [
            [1, *ids] for ids in text_ids]
    else:  # BOS/EOS only around rows: a literal "</s>" is no document boundary
        flat = [t for ids in text_ids for t in (1, *ids, 2)]
        cut = len(flat) // 8 * 8
        assert np.asarray(store.tokens).tolist() == flat[:cut]
    assert counts["text_tokens"] == sum(map(len, text_ids))


def test_a_store_begun_before_split_special_tokens_resumes_as_it_began(
    tmp_path: Path, llama_tokenizer: Any,
) -> None:
    source = tmp_path / "text.parquet"
    write_text_parquet(iter(SPECIAL_TEXTS), source)
    resolved = resolve_policy(TokenizationPolicy(max_length=4096), llama_tokenizer)
    del resolved["split_special_tokens"]  # as stored by the earlier version
    writer = TokenStoreWriter(tmp_path / "old", meta={"tokenizer_key": "t", "policy": resolved})
    tokenize_dataset(lambda start: iter_text_batches(source, start_row=start), llama_tokenizer,
                     resolved, writer)
    assert _sequences(writer) == llama_tokenizer(SPECIAL_TEXTS)["input_ids"]


def _sequences(writer: TokenStoreWriter) -> list[list[int]]:
    writer.finish(counts={})
    store = open_tokenized(writer.folder)
    return [store.sequence(i).tolist() for i in range(len(store))]


def test_explicit_no_bos_overrides_tokenizer_default(tmp_path: Path, text_file: Path,
                                                     llama_tokenizer: Any) -> None:
    _counts, store = _run(text_file, tmp_path / "t", llama_tokenizer,
                          TokenizationPolicy(max_length=4096, add_bos=False))
    expected = llama_tokenizer(TEXTS, add_special_tokens=False)["input_ids"]
    assert store.policy["add_bos"] is False and store.policy["bos_source"] == "explicit"
    assert store.sequence(0).tolist() == expected[0]


def test_gpt2_default_has_no_bos(gpt2_tokenizer: Any) -> None:
    resolved = resolve_policy(TokenizationPolicy(), gpt2_tokenizer)
    assert resolved["add_bos"] is False
    assert resolved["tokenizer"]["tokenizer_prepends_bos"] is False


def test_the_special_tokens_line_says_no_bos_when_none_is_added(
        gpt2_tokenizer: Any, llama_tokenizer: Any) -> None:
    """Found by a tester: a packed tokenization without BOS (SmolLM2's default, the demo's)
    was described as "BOS added by the policy, EOS between rows"."""
    packed = resolve_policy(TokenizationPolicy(mode="pack"), gpt2_tokenizer)
    assert packed["add_bos"] is False
    assert packed["special_tokens"] == "no BOS, EOS between rows"
    with_bos = resolve_policy(TokenizationPolicy(mode="pack"), llama_tokenizer)
    assert with_bos["add_bos"] is True
    assert with_bos["special_tokens"] == "BOS added by the policy, EOS between rows"
    explicit = resolve_policy(TokenizationPolicy(add_bos=False), llama_tokenizer)
    assert explicit["special_tokens"] == "no BOS"


def test_explicit_bos_is_prepended_for_a_tokenizer_without_one_by_default(
        tmp_path: Path, text_file: Path, gpt2_tokenizer: Any) -> None:
    """Pitfall 29: GPT-2 adds no BOS by default; asked for one, every sequence starts with the
    tokenizer's BOS id, once, and the policy records that it was asked for."""
    _counts, store = _run(text_file, tmp_path / "t", gpt2_tokenizer,
                          TokenizationPolicy(max_length=4096, add_bos=True))
    plain = gpt2_tokenizer(TEXTS)["input_ids"]
    bos = gpt2_tokenizer.bos_token_id
    assert bos is not None and all(ids[:1] != [bos] for ids in plain)  # not there by default
    assert store.policy["add_bos"] is True and store.policy["bos_source"] == "explicit"
    assert [store.sequence(i).tolist() for i in range(len(store))] == [[bos, *ids] for ids in plain]


def test_pack_makes_full_windows_of_rows_joined_by_eos_without_padding(
    tmp_path: Path, text_file: Path, llama_tokenizer: Any
) -> None:
    counts, store = _run(text_file, tmp_path / "p", llama_tokenizer,
                         TokenizationPolicy(max_length=32, mode="pack"), batch_rows=50)
    bos, eos, pad = (llama_tokenizer.bos_token_id, llama_tokenizer.eos_token_id,
                     llama_tokenizer.pad_token_id)
    stream: list[int] = []
    for ids in llama_tokenizer(TEXTS, add_special_tokens=False)["input_ids"]:
        if ids:
            stream += [bos, *ids, eos]
    n = len(stream) // 32
    assert set(store.lengths.tolist()) == {32} and len(store) == n
    assert np.asarray(store.tokens).tolist() == stream[: n * 32]
    assert counts["tail_tokens_dropped"] == len(stream) - n * 32
    assert pad not in set(np.asarray(store.tokens).tolist()) or pad in stream
    rows = store.source_rows.tolist()
    assert -1 in rows and any(r >= 0 for r in rows)


def test_resume_after_stop_gives_the_same_store(tmp_path: Path, text_file: Path,
                                                llama_tokenizer: Any) -> None:
    policy = TokenizationPolicy(max_length=24, mode="pack")
    _c, reference = _run(text_file, tmp_path / "ref", llama_tokenizer, policy, batch_rows=40)
    calls = {"n": 0}

    def stop_after_three() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    resolved = resolve_policy(policy, llama_tokenizer)
    folder = tmp_path / "resumed"
    writer = TokenStoreWriter(folder, meta={"policy": resolved})
    with pytest.raises(JobCancelled):
        tokenize_dataset(lambda s: iter_text_batches(text_file, start_row=s), llama_tokenizer,
                         resolved, writer, should_stop=stop_after_three, batch_rows=40)
    writer = TokenStoreWriter(folder, meta={"policy": resolved})
    assert writer.extra["rows_done"] == 120
    counts = tokenize_dataset(lambda s: iter_text_batches(text_file, start_row=s),
                              llama_tokenizer, resolved, writer, batch_rows=40)
    writer.finish(counts=counts)
    resumed = open_tokenized(folder)
    assert np.array_equal(np.asarray(resumed.tokens), np.asarray(reference.tokens))
    assert resumed.source_rows.tolist() == reference.source_rows.tolist()
    assert counts["rows_read"] == len(TEXTS)


def test_progress_reports_rows_and_tokens_increasing(tmp_path: Path, text_file: Path,
                                                     llama_tokenizer: Any) -> None:
    seen: list[tuple[int, int]] = []
    _run(text_file, tmp_path / "t", llama_tokenizer, TokenizationPolicy(),
         on_progress=lambda rows, tokens: seen.append((rows, tokens)), batch_rows=50)
    assert len(seen) == 6 and seen[-1][0] == len(TEXTS)
    assert all(a < b for a, b in itertools.pairwise(seen))


def test_summarize_tokens_unique_top_and_histogram(tmp_path: Path, text_file: Path,
                                                   llama_tokenizer: Any) -> None:
    _c, store = _run(text_file, tmp_path / "t", llama_tokenizer, TokenizationPolicy())
    summary = summarize_tokens(store, vocab_size=len(llama_tokenizer), chunk=1000,
                               id_to_piece=llama_tokenizer.convert_ids_to_tokens)
    flat = np.asarray(store.tokens)
    values, counts = np.unique(flat, return_counts=True)
    assert summary["unique_tokens"] == len(values)
    assert summary["top_tokens"][0]["count"] == counts.max()
    assert summary["top_tokens"][0]["id"] == int(values[counts.argmax()])
    assert summary["top_tokens"][0]["piece"] == llama_tokenizer.convert_ids_to_tokens(
        int(values[counts.argmax()]))
    assert sum(b["count"] for b in summary["sequence_lengths"]["histogram"]) == len(store)


def test_text_store_stats_pages_and_samples(tmp_path: Path) -> None:
    path = tmp_path / "text.parquet"
    stats = write_text_parquet(iter_texts([bundled_text_path()], ReadOptions()), path)
    texts = list(iter_texts([bundled_text_path()], ReadOptions()))
    summary = stats.to_dict()
    assert summary["rows"] == len(texts)
    assert summary["characters"] == sum(map(len, texts))
    assert summary["empty_rows"] == sum(1 for t in texts if not t.strip())
    assert sum(b["count"] for b in summary["length_histogram"]) == len(texts)
    assert read_rows(path, offset=10, limit=3) == [(i, texts[i]) for i in (10, 11, 12)]
    sample = sample_rows(path, limit=5, seed=1)
    assert sample == sample_rows(path, limit=5, seed=1)
    assert all(texts[i] == t for i, t in sample)


def test_disk_full_mid_write_removes_partial_file(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "small", "1M") as mount:
        rng = np.random.default_rng(0)
        texts = (rng.bytes(3000).hex() for _ in range(2000))  # ~12 MB of poorly compressible text
        with pytest.raises(OSError) as caught:
            write_text_parquet(texts, mount / "text.parquet")
        assert caught.value.errno == 28  # ENOSPC
        assert list(mount.iterdir()) == []


# ------------------------------------------------------------------- tokenize_texts (notebooks)
def test_tokenize_texts_equals_the_tokenizer_and_feeds_an_extraction(
    tmp_path: Path, tiny_llama_dir: Path
) -> None:
    """The notebook path: texts -> tokenization -> extract, with no app and no text store."""
    from interpstudio.ml import extract, open_activations, tokenize_texts
    from interpstudio.ml.loading import load_model

    loaded = load_model(tiny_llama_dir, precision="fp32", device="cpu")
    texts = TEXTS[:12]
    tokenized = tokenize_texts(texts, loaded, tmp_path / "tok", max_length=16)
    expected = [ids[:16] for ids in loaded.tokenizer(texts)["input_ids"]]
    assert [tokenized.sequence(i).tolist() for i in range(len(tokenized))] == expected
    assert tokenized.policy["max_length"] == 16 and tokenized.policy["tokenizer"]["vocab_sha256"]
    result = extract(loaded, tokenized, "blocks.0.resid_post", out_dir=tmp_path / "acts",
                     durable=False)
    assert result.rows == sum(map(len, expected))
    stored = open_activations(tmp_path / "acts").tokens[:, 0].tolist()
    assert stored == list(itertools.chain(*expected))


def test_tokenize_texts_refuses_what_is_not_text_or_a_tokenizer(
    tmp_path: Path, llama_tokenizer: Any
) -> None:
    from interpstudio.core.errors import InvalidInput
    from interpstudio.ml import tokenize_texts

    with pytest.raises(InvalidInput, match="text 1 is a list, not a string"):
        tokenize_texts(["a", ["b"]], llama_tokenizer, tmp_path / "t")  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="needs a Hugging Face tokenizer"):
        tokenize_texts(["a"], "gpt2", tmp_path / "t")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InvalidInput, match="not an empty folder"):
        tokenize_texts(["a"], llama_tokenizer, tmp_path / "full")


def test_tokenize_texts_that_fails_leaves_its_folder_as_it_found_it(
    tmp_path: Path, llama_tokenizer: Any
) -> None:
    """A disk full (or a Ctrl-C) mid-way left ``*.partial`` files in ``out_dir``, and the retry
    into the same folder was refused as "not an empty folder"."""
    from interpstudio.ml import tokenize_texts

    texts = [" ".join(TEXTS)] * 400  # ~1 MB of token ids, past the 256 KB disk
    with small_filesystem(tmp_path / "small", "256K") as mount:
        for out in (mount / "tok", mount):  # a folder it makes, an empty one that was there
            with pytest.raises(OSError) as caught:
                tokenize_texts(texts, llama_tokenizer, out)
            assert caught.value.errno == 28  # ENOSPC
            assert not out.exists() or list(out.iterdir()) == []
        tokenize_texts(texts[:1], llama_tokenizer, mount / "tok")  # the retry


def test_tokenize_texts_sizes_are_whole_numbers(tmp_path: Path, llama_tokenizer: Any) -> None:
    """``max_length=128.0`` failed mid-write on a bare "slice indices must be integers"."""
    from interpstudio.core.errors import InvalidInput
    from interpstudio.ml import tokenize_texts

    for option in ({"max_length": 4.5}, {"min_tokens": 1.5}, {"max_length": "8"}):
        with pytest.raises(InvalidInput, match=f"{next(iter(option))} must be a whole number"):
            tokenize_texts(["a b c d e f"], llama_tokenizer, tmp_path / "t", **option)
        assert not (tmp_path / "t").exists()
    for mode in ("truncate", "pack"):
        options: dict[str, Any] = {"max_length": 8.0, "mode": mode}
        done = tokenize_texts(TEXTS[:20], llama_tokenizer, tmp_path / mode, **options)
        assert done.policy["max_length"] == 8 and int(done.lengths.max()) == 8


def test_tokenize_texts_refuses_a_tokenization_without_a_sequence(
    tmp_path: Path, llama_tokenizer: Any
) -> None:
    """``tokenize_texts([])`` (or only empty strings, or a policy that keeps no text) made a
    tokenization of 0 sequences without a word; the ``extract`` of it was then refused as
    ``EmptyExtraction``. Refused here, as the app refuses an empty file at its import: before
    any file for no texts, with the folder left as found for a policy that kept none."""
    from interpstudio.core.errors import InvalidInput
    from interpstudio.ml import tokenize_texts
    from interpstudio.ml.tokenize import EmptyTokenization

    out = tmp_path / "t"
    for texts, said in (([], "no texts were given"), ([""], "the text is empty"),
                        (["", ""], "all 2 texts are empty")):
        with pytest.raises(EmptyTokenization) as info:
            tokenize_texts(texts, llama_tokenizer, out)
        assert str(info.value) == (f"the tokenization would hold no sequence: {said}; give at "
                                   "least one text that is not empty")
        assert isinstance(info.value, InvalidInput) and info.value.code == "empty_tokenization"
        assert not out.exists()
    out.mkdir()  # an empty folder that was there stays, empty
    with pytest.raises(EmptyTokenization, match="2 of the 2 texts have fewer than "
                                                r"min_tokens=50 text tokens \(lower min_tokens\)"):
        tokenize_texts(["a b c", "d e"], llama_tokenizer, out, min_tokens=50)
    assert out.is_dir() and list(out.iterdir()) == []
    with pytest.raises(EmptyTokenization, match=r"packed fill no window of max_length=64 .*"
                                                "a smaller max_length, or mode='truncate'"):
        tokenize_texts(["a b c"], llama_tokenizer, tmp_path / "packed", mode="pack",
                       max_length=64)
    assert not (tmp_path / "packed").exists()
    kept = tokenize_texts(["", "a b c"], llama_tokenizer, tmp_path / "one")  # one is enough
    assert len(kept) == 1 and kept.manifest["counts"]["dropped_rows"] == 1


def test_a_text_that_is_not_valid_unicode_is_named(tmp_path: Path, llama_tokenizer: Any) -> None:
    """A lone surrogate (a file decoded with errors="surrogateescape") raised a bare
    "TextEncodeInput must be Union[...]" from the tokenizer, after the folder was begun."""
    from interpstudio.core.errors import InvalidInput
    from interpstudio.ml import tokenize_texts

    with pytest.raises(InvalidInput, match=r"text 1 holds a character that is not valid "
                                           r"Unicode \(surrogates not allowed at character 4\)"):
        tokenize_texts(["fine", "bad \udc80 byte"], llama_tokenizer, tmp_path / "t")
    assert not (tmp_path / "t").exists()


def test_an_extraction_refuses_a_tokenization_of_another_tokenizer_with_ids_in_range(
    tmp_path: Path, tiny_llama_dir: Path
) -> None:
    """Every id of a small word-level tokenizer's output is a valid id of the model, so the
    vocabulary check passed and the model ran on another tokenizer's ids without a word."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from interpstudio.ml import extract, tokenize_texts
    from interpstudio.ml.extract_plan import TokenizerMismatch
    from interpstudio.ml.loading import load_model

    words = ["<unk>", "the", "cat", "sat", "on", "mat"]
    other = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)},
                                                    unk_token="<unk>")),
        unk_token="<unk>")
    other.backend_tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenized = tokenize_texts(["the cat sat on the mat"] * 3, other, tmp_path / "tok",
                               tokenizer_key="word-level")
    loaded = load_model(tiny_llama_dir, precision="fp32", device="cpu")
    with pytest.raises(TokenizerMismatch, match="another tokenizer \\('word-level'"):
        extract(loaded, tokenized, "blocks.0.resid_post", out_dir=tmp_path / "acts")
    assert not (tmp_path / "acts").exists()
    # a bare module knows no tokenizer: the ids are in range, so it runs (the caller's choice)
    extract(loaded.model, tokenized, "blocks.0.resid_post", out_dir=tmp_path / "bare",
            durable=False)
