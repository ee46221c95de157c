"""The tokenize job with a real worker: exact counts against the tokenizer, the store's manifest
(tokenizer_key = the model's key, resolved policy), preview beside text, dry run, duplicates,
cancel, and resume after kill -9 of a worker subprocess."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dataset_helpers import add_bundled
from transformers import AutoTokenizer

from helpers import race_behind_uncommitted, start_worker_process, wait_for
from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.data import bundled_text_path
from interpstudio.db.models import Dataset, Job, Tokenization
from interpstudio.ml.text_sources import ReadOptions, iter_texts
from interpstudio.ml.token_store import open_tokenized
from interpstudio.services import datasets as dataset_service
from interpstudio.services import jobs as job_service
from interpstudio.services import tokenizations as service
from interpstudio.services.dataset_errors import DatasetNotReady, TokenizationExists
from interpstudio.services.dataset_params import ReadOptionsSpec, TokenizationPolicySpec


@pytest.fixture
def macbeth(ds_settings: Settings, call, wait_row, worker_thread) -> dict[str, Any]:
    created = call(add_bundled, settings=ds_settings, name="macbeth")
    worker_thread(ds_settings)
    return wait_row(Dataset, created["id"], "ready")


def _tokenize(call: Callable[..., Any], settings: Settings, dataset_id: int, model_id: int,
              **policy: Any) -> dict[str, Any]:
    return call(service.create_tokenization, paths=DataPaths(settings.data_dir),
                dataset_id=dataset_id, model_id=model_id,
                policy=TokenizationPolicySpec(**policy))


def test_two_requests_for_the_same_tokenization_at_once_make_one(
        ds_settings: Settings, macbeth: dict, llama_model_id: int, factory) -> None:
    """Found by a tester: parallel POST /datasets/{id}/tokenizations with one policy (the demo
    in two tabs) gave 201, 500, 409. The one that loses the race is the 409 the others get."""
    def tokenize(session):  # type: ignore[no-untyped-def]
        return service.create_tokenization(
            session=session, paths=DataPaths(ds_settings.data_dir), dataset_id=macbeth["id"],
            model_id=llama_model_id, policy=TokenizationPolicySpec()).id

    first, second = race_behind_uncommitted(factory, tokenize)
    assert isinstance(second, TokenizationExists) and second.details["tokenization_id"] == first


def test_a_max_length_past_the_models_learned_positions_is_refused_before_tokenizing(
        ds_settings: Settings, macbeth: dict, llama_model_id: int, call) -> None:
    """A GPT-2-like model has a position table of N entries: a tokenization longer than N was
    made (a long job), then every extraction with the model refused it (sequence_too_long).
    The import records the table's size (architecture.json), the tokenization checks it."""
    from interpstudio.services.model_files import architecture_file

    paths = DataPaths(ds_settings.data_dir)
    record = architecture_file(paths, llama_model_id)
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text('{"position_limit": 64}')  # as the import of such a model writes it
    with pytest.raises(Exception) as info:
        _tokenize(call, ds_settings, macbeth["id"], llama_model_id, max_length=65)
    assert getattr(info.value, "code", None) == "sequence_too_long"
    assert str(info.value) == (f"max length 65 is more than model {llama_model_id}'s 64 "
                               "positions (its learned position table); give max length 64 or "
                               "less")
    made = _tokenize(call, ds_settings, macbeth["id"], llama_model_id, max_length=64)
    assert made["status"] == "queued"


def test_tokenization_counts_equal_the_tokenizers_own_output(
    ds_settings: Settings, macbeth: dict, llama_model_id: int, tiny_llama_dir: Path, call,
    wait_row,
) -> None:
    created = _tokenize(call, ds_settings, macbeth["id"], llama_model_id, max_length=4096)
    ready = wait_row(Tokenization, created["id"], "ready", "failed")
    assert ready["status"] == "ready", ready["error_message"]
    texts = list(iter_texts([bundled_text_path()], ReadOptions()))
    every = AutoTokenizer.from_pretrained(tiny_llama_dir)(texts)["input_ids"]
    expected = [ids for ids in every if len(ids) > 1]  # a blank line's lone BOS is dropped
    assert ready["counts"]["dropped_rows"] == len(every) - len(expected) > 0
    store = open_tokenized(ds_settings.data_dir / ready["path"])
    assert store.tokenizer_key == ready["tokenizer_key"] == "org/tiny-llama@0123456789abcdef"
    assert store.policy["add_bos"] is True and store.policy["bos_source"] == "tokenizer default"
    assert ready["policy"]["add_bos"] is True and ready["policy"]["requested"]["add_bos"] is None
    assert len(store) == len(expected) == ready["counts"]["sequences"]
    assert store.n_tokens == sum(map(len, expected)) == ready["counts"]["tokens"]
    assert np.asarray(store.tokens).tolist() == [t for ids in expected for t in ids]
    assert ready["stats"]["unique_tokens"] == len(set(np.asarray(store.tokens).tolist()))
    # pitfall: an average length equal to max_length because padding was counted
    lengths = ready["stats"]["sequence_lengths"]
    assert lengths["mean"] == pytest.approx(np.mean([len(ids) for ids in expected]), rel=1e-12)
    assert lengths["max"] == max(map(len, expected)) < 4096
    assert store.manifest["stats"]["top_tokens"] == ready["stats"]["top_tokens"]
    # each top token with the text it reads as (the byte-level decoder: Ġ is a space), beside the
    # raw piece; found by a tester: the card showed "Ġthe"
    top = ready["stats"]["top_tokens"]
    assert any(t["piece"].startswith("Ġ") for t in top)
    for t in top:
        if set(t["piece"]) <= set("ĠĊ") | set(map(chr, range(33, 127))):  # printable ASCII
            assert t["text"] == t["piece"].replace("Ġ", " ").replace("Ċ", "\n"), t

    items, total = call(service.preview_tokenization, paths=DataPaths(ds_settings.data_dir),
                        tokenization_id=created["id"], offset=0, limit=3)
    assert total == len(expected) and items[0]["text"] == texts[0]
    assert items[0]["ids"] == expected[0] and items[0]["pieces"][0] == "<s>"
    with pytest.raises(TokenizationExists):
        _tokenize(call, ds_settings, macbeth["id"], llama_model_id, max_length=4096)


def test_dry_run_shows_resolved_policy_and_pieces(ds_settings: Settings, macbeth: dict,
                                                  llama_model_id: int, call) -> None:
    preview = call(service.dry_run_policy, paths=DataPaths(ds_settings.data_dir),
                   dataset_id=macbeth["id"], model_id=llama_model_id,
                   policy=TokenizationPolicySpec(max_length=4, mode="truncate"), limit=3)
    assert preview["policy"]["add_bos"] is True
    first = preview["rows"][0]
    assert first["text"] == "MACBETH" and first["pieces"][0] == "<s>"
    assert preview["rows"][2]["truncated"] and len(preview["rows"][2]["ids"]) == 4


def test_dry_run_drops_an_empty_row_in_both_modes_like_the_job(
    ds_settings: Settings, import_root: Path, llama_model_id: int, call, wait_row, worker_thread,
) -> None:
    (import_root / "gaps.txt").write_text("first doc\n\nthird\n")
    created = call(dataset_service.add_local_dataset, settings=ds_settings,
                   files=[str(import_root / "gaps.txt")], name=None, spec=ReadOptionsSpec())
    worker_thread(ds_settings)
    wait_row(Dataset, created["id"], "ready")
    for mode in ("truncate", "pack"):  # the llama tokenizer's own BOS is no text token
        preview = call(service.dry_run_policy, paths=DataPaths(ds_settings.data_dir),
                       dataset_id=created["id"], model_id=llama_model_id,
                       policy=TokenizationPolicySpec(max_length=8, mode=mode), limit=3)
        assert [r["dropped"] for r in preview["rows"]] == [False, True, False], mode


def test_preview_text_is_each_sequences_own_text_not_its_whole_source_row(
    ds_settings: Settings, import_root: Path, llama_model_id: int, tiny_llama_dir: Path, call,
    wait_row, worker_thread,
) -> None:
    long_row = " ".join(f"w{i}" for i in range(15_000))  # ~100,000 characters: many windows
    (import_root / "long.txt").write_text(f"{long_row}\nshort row\n")
    created = call(dataset_service.add_local_dataset, settings=ds_settings,
                   files=[str(import_root / "long.txt")], name=None, spec=ReadOptionsSpec())
    worker_thread(ds_settings)
    wait_row(Dataset, created["id"], "ready")
    decode = AutoTokenizer.from_pretrained(tiny_llama_dir).decode
    for mode in ("pack", "truncate"):
        made = _tokenize(call, ds_settings, created["id"], llama_model_id, max_length=64,
                         mode=mode)
        wait_row(Tokenization, made["id"], "ready")
        items, _total = call(service.preview_tokenization, paths=DataPaths(ds_settings.data_dir),
                             tokenization_id=made["id"], offset=0, limit=3)
        for item in items[:2] if mode == "pack" else items[:1]:
            assert len(item["text"]) < 1_000, (mode, item["index"], len(item["text"]))
            assert item["text"] == decode(item["ids"])
        if mode == "pack":
            assert "w0 w1 w2" not in items[1]["text"]  # window 1 is not the row from its start
        else:
            assert items[1]["text"] == "short row"  # a whole row: its exact text


def test_dry_run_tokenizes_special_token_text_as_text_like_the_job(
    ds_settings: Settings, import_root: Path, llama_model_id: int, tiny_llama_dir: Path, call,
    wait_row, worker_thread,
) -> None:
    (import_root / "specials.txt").write_text("before </s> after\na <s> b\n")
    created = call(dataset_service.add_local_dataset, settings=ds_settings,
                   files=[str(import_root / "specials.txt")], name=None, spec=ReadOptionsSpec())
    worker_thread(ds_settings)
    wait_row(Dataset, created["id"], "ready")
    preview = call(service.dry_run_policy, paths=DataPaths(ds_settings.data_dir),
                   dataset_id=created["id"], model_id=llama_model_id,
                   policy=TokenizationPolicySpec(max_length=64), limit=2)
    expected = AutoTokenizer.from_pretrained(tiny_llama_dir)(
        ["before </s> after", "a <s> b"], split_special_tokens=True)["input_ids"]
    assert [r["ids"] for r in preview["rows"]] == expected
    assert all(r["ids"].count(1) == 1 and 2 not in r["ids"] for r in preview["rows"])


def test_tokenize_before_import_finishes_is_a_conflict(ds_settings: Settings, import_root: Path,
                                                       llama_model_id: int, call) -> None:
    (import_root / "a.txt").write_text("x\n")
    created = call(dataset_service.add_local_dataset, settings=ds_settings,
                   files=[str(import_root / "a.txt")], name=None, spec=ReadOptionsSpec())
    with pytest.raises(DatasetNotReady):
        _tokenize(call, ds_settings, created["id"], llama_model_id)



def test_resume_after_kill_9_continues_and_matches_the_tokenizer(
    ds_settings: Settings, llama_model_id: int, tiny_llama_dir: Path, call, factory, wait_row,
    tmp_path: Path,
) -> None:
    created_ds = call(add_bundled, settings=ds_settings, name="macbeth")
    first = start_worker_process(ds_settings, tmp_path / "worker.log")
    try:
        wait_row(Dataset, created_ds["id"], "ready", timeout=90)
        created = call(service.create_tokenization, paths=DataPaths(ds_settings.data_dir),
                       dataset_id=created_ds["id"], model_id=llama_model_id,
                       policy=TokenizationPolicySpec(max_length=16, mode="pack"),
                       batch_rows=2)

        def progressed() -> bool:
            with factory() as session:
                return (session.get(Job, created["job_id"]).done or 0) >= 300

        wait_for(progressed, timeout=90)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    second = start_worker_process(ds_settings, tmp_path / "worker.log")
    try:
        def interrupted() -> bool:
            with factory() as session:
                return session.get(Job, created["job_id"]).state == "interrupted"

        wait_for(interrupted, timeout=30)
        with factory.begin() as session:
            job_service.resume_job(session=session, job_id=created["job_id"])
        ready = wait_row(Tokenization, created["id"], "ready", "failed", timeout=120)
    finally:
        second.terminate()
        second.wait(15)
    assert ready["status"] == "ready", ready["error_message"]
    def finished_job() -> Job | None:  # the row turns ready a moment before the job's result
        with factory() as session:
            job = session.get(Job, created["job_id"])
            return job if job.state == "succeeded" else None

    assert wait_for(finished_job, timeout=30).result["resumed_from_row"] >= 300
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    texts = list(iter_texts([bundled_text_path()], ReadOptions()))
    stream = [t for ids in tokenizer(texts, add_special_tokens=False)["input_ids"] if ids
              for t in (tokenizer.bos_token_id, *ids, tokenizer.eos_token_id)]
    store = open_tokenized(ds_settings.data_dir / ready["path"])
    n = len(stream) // 16
    assert np.asarray(store.tokens).tolist() == stream[: n * 16]
    assert ready["counts"]["tail_tokens_dropped"] == len(stream) - n * 16


def test_cancel_stops_the_job_and_resume_finishes_it(ds_settings: Settings, macbeth: dict,
                                                     llama_model_id: int, call, factory,
                                                     wait_row) -> None:
    created = call(service.create_tokenization, paths=DataPaths(ds_settings.data_dir),
                   dataset_id=macbeth["id"], model_id=llama_model_id,
                   policy=TokenizationPolicySpec(max_length=64),
                   batch_rows=1)  # 4,152 batches: seconds, so the cancel lands mid-run

    def job() -> Job:
        with factory() as session:
            return session.get(Job, created["job_id"])

    wait_for(lambda: (job().done or 0) >= 50, timeout=60)
    with factory.begin() as session:
        job_service.cancel_job(session=session, job_id=created["job_id"], paths=None)
    cancelled = wait_row(Tokenization, created["id"], "cancelled", "ready", timeout=30)
    assert cancelled["status"] == "cancelled"
    # the task writes the row, then the runner the job's end: a moment apart (a loaded CI saw it)
    assert wait_for(lambda: job().state != "running", timeout=30) and job().state == "cancelled"
    with factory.begin() as session:
        job_service.resume_job(session=session, job_id=created["job_id"])
    ready = wait_row(Tokenization, created["id"], "ready", "failed", timeout=120)
    assert ready["status"] == "ready", ready["error_message"]
    finished = wait_for(lambda: job() if job().state == "succeeded" else None, timeout=30)
    assert finished.result["resumed_from_row"] >= 50  # the row is ready just before the result
    assert ready["counts"]["sequences"] + ready["counts"]["dropped_rows"] == macbeth["rows"]
    assert ready["counts"]["rows_read"] == macbeth["rows"]


def test_sequences_are_as_long_as_max_length_says_not_512(
    ds_settings: Settings, import_root: Path, llama_model_id: int, tiny_llama_dir: Path, call,
    wait_row, worker_thread,
) -> None:
    """Pitfall 20 (a hard 512-token cap): one row of ~3,000 tokens, max_length 2,048, keeps
    2,048 tokens, the tokenizer's own first 2,048; packed windows of 1,500 are 1,500 long."""
    text = " ".join(f"word{i % 97} and more" for i in range(1_000))
    (import_root / "long.txt").write_text(text + "\n")
    created = call(dataset_service.add_local_dataset, settings=ds_settings,
                   files=[str(import_root / "long.txt")], name="long", spec=ReadOptionsSpec())
    worker_thread(ds_settings)
    dataset = wait_row(Dataset, created["id"], "ready", "failed")
    assert dataset["status"] == "ready", dataset["error_message"]
    expected = AutoTokenizer.from_pretrained(tiny_llama_dir)(text)["input_ids"]
    assert len(expected) > 2_048

    truncated = _tokenize(call, ds_settings, dataset["id"], llama_model_id, max_length=2_048)
    ready = wait_row(Tokenization, truncated["id"], "ready", "failed")
    assert ready["status"] == "ready", ready["error_message"]
    store = open_tokenized(ds_settings.data_dir / ready["path"])
    assert len(store) == 1 and store.n_tokens == 2_048
    assert np.asarray(store.tokens).tolist() == expected[:2_048]

    packed = _tokenize(call, ds_settings, dataset["id"], llama_model_id, max_length=1_500,
                       mode="pack")
    ready = wait_row(Tokenization, packed["id"], "ready", "failed")
    assert ready["status"] == "ready", ready["error_message"]
    store = open_tokenized(ds_settings.data_dir / ready["path"])
    assert len(store) == len(expected) // 1_500 >= 2
    assert store.n_tokens == 1_500 * len(store)
    assert ready["stats"]["sequence_lengths"]["max"] == 1_500


def test_a_tokenization_begun_under_the_earlier_rules_is_not_resumed_into_one_store(
        ds_settings: Settings, macbeth: dict, llama_model_id: int, call, factory, wait_row,
        worker_thread) -> None:
    """Found by a reviewer: a resume re-resolved the policy under today's rules (special-token
    text kept as text, empty rows dropped in truncate mode, EOS kept by a cut), so a store begun
    before them would hold rows tokenized two ways. Such a resume is refused by name; a retry
    tokenizes anew."""
    created = _tokenize(call, ds_settings, macbeth["id"], llama_model_id, max_length=16)
    with factory.begin() as session:  # what a run of the earlier version left behind
        row = session.get(Tokenization, created["id"])
        row.policy = {"max_length": 16, "mode": "truncate", "add_bos": True, "min_tokens": 1,
                      "requested": {"max_length": 16, "mode": "truncate"}}
        session.get(Job, created["job_id"]).checkpoint = {"resumable": True}
    worker_thread(ds_settings)
    failed = wait_row(Tokenization, created["id"], "failed", "ready", timeout=60)
    assert failed["status"] == "failed"
    assert "earlier version" in failed["error_message"]
    assert "retry it" in failed["error_message"]


def test_a_tokenization_that_keeps_no_sequence_fails_saying_why_and_leaves_no_files(
    ds_settings: Settings, import_root: Path, llama_model_id: int, call, factory, wait_row,
    worker_thread,
) -> None:
    """A dataset of blank lines, or a policy that keeps none of its rows (min tokens, a packed
    window longer than all of its text), made a "ready" tokenization of 0 sequences without a
    word; every extraction of it was then refused (EmptyExtraction). The job now fails as
    ``tokenize_texts`` refuses it (``empty_tokenization``), saying what was empty and what to
    change, the row failed, its folder gone and no resume offered (it would fail again)."""
    (import_root / "blank.txt").write_text("\n\n\n")
    (import_root / "short.txt").write_text("a b c\nd e\n")
    worker_thread(ds_settings)
    datasets = {}
    for name in ("blank", "short"):
        created = call(dataset_service.add_local_dataset, settings=ds_settings,
                       files=[str(import_root / f"{name}.txt")], name=name,
                       spec=ReadOptionsSpec())
        datasets[name] = wait_row(Dataset, created["id"], "ready", "failed")
        assert datasets[name]["status"] == "ready", datasets[name]["error_message"]
    cases = (
        ("blank", {}, "3 of the 3 rows have no text tokens (blank or whitespace only): import a "
                      "dataset whose text column holds text"),
        ("short", {"min_tokens": 50}, "2 of the 2 rows have fewer than min tokens 50 text tokens "
                                      "(lower min tokens)"),
        ("short", {"mode": "pack", "max_length": 64},
         "the 10 tokens packed fill no window of max length 64 (a last partial window is "
         "dropped): give more text, a smaller max length, or mode truncate"),
    )
    for name, policy, said in cases:
        made = _tokenize(call, ds_settings, datasets[name]["id"], llama_model_id, **policy)
        failed = wait_row(Tokenization, made["id"], "failed", "ready")
        assert failed["status"] == "failed", (name, policy)
        assert failed["error_message"] == f"the tokenization would hold no sequence: {said}"
        job = wait_for(lambda: _ended(factory, made["job_id"]), timeout=30)  # noqa: B023
        assert job.state == "failed" and job.error_code == "empty_tokenization"
        assert job.error_message == failed["error_message"]
        assert job.checkpoint is None  # a resume would only fail again
        assert not (ds_settings.data_dir / failed["path"]).exists()


def _ended(factory, job_id: int) -> Job | None:  # type: ignore[no-untyped-def]
    with factory() as session:
        job = session.get(Job, job_id)
        return job if job.state not in ("queued", "running") else None
