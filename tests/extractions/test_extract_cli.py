"""``interpstudio extract`` as a real subprocess on the test world's database and data dir:
dry run (preflight only), a full run with JSON output, ``--dataset`` picking the tokenization made
with the model's tokenizer (under exactly the policy asked for, when one is), and a refusal with
exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from extraction_world import ExtractionWorld
from interpstudio.ml import open_activations
from interpstudio.services.dataset_params import TokenizationPolicySpec
from interpstudio.services.tokenizations import requested_policy_hash


def run_cli(world: ExtractionWorld, *args: str,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(world.settings.data_dir),
           "INTERPSTUDIO_DATABASE_URL": world.settings.resolved_database_url, **(env or {})}
    return subprocess.run([sys.executable, "-m", "interpstudio", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_extract_cli_dry_run_then_full_run(world: ExtractionWorld) -> None:
    tokenization_id = world.tokenization(repeat=4)
    common = ["extract", "--model", str(world.model_id), "--hooks", "blocks.*.resid_post",
              "--hooks", "blocks.{0,1}.mlp_out", "--batch-size", "4", "--device", "cpu"]
    dry = run_cli(world, *common, "--tokenization", str(tokenization_id), "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["hook_points"] == ["blocks.0.mlp_out", "blocks.0.resid_post",
                                     "blocks.1.mlp_out", "blocks.1.resid_post"]

    done = run_cli(world, *common, "--dataset", str(world.dataset_id), "--json")
    assert done.returncode == 0, done.stderr
    extraction = json.loads(done.stdout)
    assert extraction["status"] == "complete" and extraction["tokenization_id"] == tokenization_id
    assert extraction["counts"]["bytes"] == report["bytes"]["shard_files"]
    store = world.settings.data_dir / extraction["path"] / "store"
    assert open_activations(store).rows == report["plan"]["rows"]

    picked = run_cli(world, *common, "--dataset", str(world.dataset_id), "--dry-run")
    assert picked.returncode == 0, picked.stderr
    # found by a tester: the tokenization --dataset picks (the newest) was never named
    assert f"using tokenization {tokenization_id} of dataset {world.dataset_id}" in picked.stdout

    human = run_cli(world, *common, "--tokenization", str(tokenization_id))
    assert human.returncode == 0, human.stderr
    assert "bound" in human.stderr
    # found by a tester: nothing showed the precision the run used, nor that the ~40 s preflight
    # was under way
    assert "preflight: loading the model" in human.stderr
    assert "precision" in human.stderr and "model at fp32" in human.stdout
    assert "Loading weights" not in human.stderr  # transformers' own bar, between ours
    # the lines to copy stay whole (a 100-character path was wrapped at 80 columns)
    second = world.settings.data_dir / "extractions" / str(extraction["id"] + 1) / "store"
    assert f"\nacts = open_activations({str(second)!r})\n" in human.stdout
    assert f"store      {second}\n" in human.stdout


def test_extract_cli_refuses_an_unknown_hook_kind_with_exit_2(world: ExtractionWorld) -> None:
    tokenization_id = world.tokenization()
    result = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                     str(tokenization_id), "--hooks", "blocks.0.residual")
    assert result.returncode == 2
    assert "resid_post" in result.stderr and "Traceback" not in result.stderr


def test_extract_cli_refuses_what_does_not_exist_before_saying_it_loads_the_model(
    world: ExtractionWorld,
) -> None:
    """A tester: --dry-run printed "preflight: loading the model and timing one batch" and then
    refused a model that does not exist."""
    tokenization_id = world.tokenization()
    for extra in ([], ["--dry-run"]):
        result = run_cli(world, "extract", "--model", "999", "--tokenization",
                         str(tokenization_id), "--hooks", "blocks.0.resid_post", *extra)
        assert result.returncode == 2 and "999" in result.stderr
        assert "loading the model" not in result.stderr, extra


def test_extract_cli_dataset_with_a_policy_uses_only_a_tokenization_made_under_it(
    world: ExtractionWorld,
) -> None:
    """``--max-length`` / ``--mode`` with ``--dataset`` pin the tokenization policy: a newer
    tokenization under another policy is not taken instead (it was, silently)."""
    world.tokenization(repeat=2, policy_hash=requested_policy_hash(  # twice the tokens
        TokenizationPolicySpec(max_length=16, mode="pack")))
    world.tokenization()  # the newest
    common = ["extract", "--model", str(world.model_id), "--dataset", str(world.dataset_id),
              "--device", "cpu", "--dry-run", "--json"]
    tokens = {}
    for extra in (["--max-length", "16", "--mode", "pack"], []):
        result = run_cli(world, *common, *extra)
        assert result.returncode == 0, result.stderr
        tokens[bool(extra)] = json.loads(result.stdout)["plan"]["tokens"]
    assert tokens[True] == 2 * tokens[False]

    refused = run_cli(world, *common, "--mode", "sliding")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "truncate" in refused.stderr and "pack" in refused.stderr


def test_extract_cli_refuses_an_invalid_option_value_with_the_valid_ones(
    world: ExtractionWorld,
) -> None:
    """A value the spec's schema refuses ends with exit 2 and the valid values, not a pydantic
    traceback (it was a traceback for every command)."""
    result = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                     str(world.tokenization()), "--positions", "bogus", "--dry-run")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "positions" in result.stderr and "exclude_bos" in result.stderr
    ignored = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization", "1",
                      "--every-k", "4", "--dry-run")  # found by a tester: silently ignored
    assert ignored.returncode == 2 and "--positions every_k" in ignored.stderr


def test_extract_cli_refuses_a_count_past_64_bits_before_any_job(
    world: ExtractionWorld,
) -> None:
    """Found trying the CLI with bad input: ``--max-tokens 99999999999999999999`` passed the
    schema, then the job crashed writing its store's manifest ("job N crashed", a traceback,
    "TypeError: Integer exceeds 64-bit range") and stayed behind as a failed job."""
    from interpstudio.db.models import Job

    for option in ("--max-tokens", "--max-samples"):
        result = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                         str(world.tokenization()), option, str(10**20), "--device", "cpu")
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and option[2:].replace("-", "_") in result.stderr
    with world.factory() as session:
        assert session.query(Job).filter(Job.kind == "extract").count() == 0


def test_extract_cli_refuses_a_copy_of_a_run_underway_before_loading_the_model(
    world: ExtractionWorld,
) -> None:
    from interpstudio.services import extractions as service
    from interpstudio.services.extraction_params import ExtractionSpec

    tokenization_id = world.tokenization()
    spec = ExtractionSpec(model_id=world.model_id, tokenization_id=tokenization_id,
                          hook_points=["blocks.*.resid_post"], device="cpu")
    with world.factory.begin() as session:  # queued: no worker runs in this test
        queued = service.create_extraction(session=session, settings=world.settings, spec=spec).id
    result = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                     str(tokenization_id), "--hooks", "blocks.*.resid_post", "--device", "cpu")
    assert result.returncode == 2, result.stderr  # a refusal, as every refused input
    assert f"extraction {queued} with the same configuration" in result.stderr
    assert "bound" not in result.stderr and "Traceback" not in result.stderr  # no preflight


def test_extract_cli_shows_a_precision_fallback(world: ExtractionWorld) -> None:
    """A memory budget the model does not fit at fp32: the run falls back to less memory, and
    the preflight table says so (it was visible only in --json and the manifest)."""
    tokenization_id = world.tokenization()
    env_budget = {"INTERPSTUDIO_MEMORY_BUDGET_BYTES": "400000"}
    result = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                     str(tokenization_id), "--device", "cpu", "--dry-run", env=env_budget)
    assert result.returncode == 0, result.stderr
    assert "asked fp32" in result.stderr, result.stderr


def test_export_cli_writes_the_dataset_and_warns_when_rows_are_not_consecutive(
        world: ExtractionWorld) -> None:
    """The CLI had no SAELens export, and an export of a ``last`` store said nothing of its
    rows being one token per sequence rather than text."""
    tokenization_id = world.tokenization()
    made = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                   str(tokenization_id), "--hooks", "blocks.0.resid_post", "--positions", "last",
                   "--device", "cpu", "--json")
    assert made.returncode == 0, made.stderr
    extraction_id = json.loads(made.stdout)["id"]
    done = run_cli(world, "export", str(extraction_id), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["context_size"] == 1 and result["rows"] == 5
    warning = ("rows are not consecutive tokens: the store keeps only the last token of each "
               "sequence (positions 'last'), so each dataset row holds one sequence's last "
               "token, with none of the text before it")
    assert result["warnings"] == [warning]
    assert f"warning: {warning}" in " ".join(done.stderr.split())  # Rich wraps at 80 columns
    human = run_cli(world, "export", str(extraction_id), "--context-size", "2")
    assert human.returncode == 0, human.stderr
    said = " ".join(human.stdout.split())  # Rich wraps at 80 columns
    assert "wrote 2 sequences of 2 tokens, one dataset row each" in said
    assert "replaced the earlier" in said
    assert "the last tokens of 2 different sequences" in " ".join(human.stderr.split())


def test_export_cli_leaves_out_the_first_positions_when_asked(world: ExtractionWorld) -> None:
    """``--exclude-first-position``: the rows at position 0 (BOS / attention sinks) are left
    out, and the human answer says how many."""
    made = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                   str(world.tokenization()), "--hooks", "blocks.0.resid_post", "--device",
                   "cpu", "--json")
    assert made.returncode == 0, made.stderr
    extraction_id = json.loads(made.stdout)["id"]
    done = run_cli(world, "export", str(extraction_id), "--context-size", "4",
                   "--exclude-first-position", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["exclude_first_position"] is True and result["first_positions_excluded"] == 5
    human = run_cli(world, "export", str(extraction_id), "--context-size", "4",
                    "--exclude-first-position")
    assert human.returncode == 0, human.stderr
    said = " ".join(human.stdout.split())
    assert "leaving out the 5 first-position tokens" in said
    assert result["tokens_dropped"] > 0  # and the tail short of a row of 4 is said too
    assert f"(the last {result['tokens_dropped']} tokens did not fill a sequence)" in said


def test_export_cli_names_columns_by_module_path_and_refuses_points_without_one(
        world: ExtractionWorld) -> None:
    """``--column-names module_paths``: the columns SAELens hooks for an AutoModelForCausalLM
    (``model.layers.0``); a block's input (resid_pre) has no module path and is refused."""
    world.record_architecture()
    made = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                   str(world.tokenization()), "--hooks", "blocks.{0,1}.resid_post",
                   "--hooks", "blocks.1.resid_pre", "--device", "cpu", "--json")
    assert made.returncode == 0, made.stderr
    extraction_id = json.loads(made.stdout)["id"]
    refused = run_cli(world, "export", str(extraction_id), "--column-names", "module_paths",
                      "--context-size", "4")
    assert refused.returncode == 2, refused.stderr
    said = " ".join(refused.stderr.split())
    assert "blocks.1.resid_pre: a block's input" in said
    assert "blocks.0.resid_post (module model.layers.0), already stored here" in said
    assert "can be: blocks.{0-1}.resid_post" in said
    done = run_cli(world, "export", str(extraction_id), "--column-names", "module_paths",
                   "--hooks", "blocks.0.resid_post", "--hooks", "blocks.1.resid_post",
                   "--context-size", "4", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["columns"] == {"model.layers.0": "blocks.0.resid_post",
                                                  "model.layers.1": "blocks.1.resid_post"}


def test_extract_cli_refuses_an_unknown_device_in_words(world: ExtractionWorld) -> None:
    """A tester: ``--device gpu`` was refused with the spec's regular expression
    (``String should match pattern '^(auto|cpu|cuda(:\\d+)?|mps)$'``)."""
    result = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                     str(world.tokenization()), "--device", "gpu", "--dry-run")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    said = " ".join(result.stderr.replace("│", "").split())
    assert ("'gpu' is not a device; give auto, cpu, cuda (the first GPU), cuda:N (GPU number N, "
            "e.g. cuda:1) or mps") in said, result.stderr
    assert "pattern" not in said and "^(" not in said
    accepted = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                       str(world.tokenization()), "--device", "cpu", "--dry-run", "--json")
    assert accepted.returncode == 0, accepted.stderr


def _long_text_dataset(world: ExtractionWorld) -> int:
    """A dataset of three rows of ~400 tokens each, imported through the CLI (the world's own
    dataset row has no files to tokenize)."""
    text = world.settings.data_dir / "imports" / "long.txt"
    text.parent.mkdir(parents=True)
    text.write_text("\n".join(" ".join(f"word{i} of row {row}." for i in range(100))
                              for row in range(3)) + "\n")
    added = run_cli(world, "datasets", "add", str(text), "--json")
    assert added.returncode == 0, added.stderr
    return int(json.loads(added.stdout)["id"])


def _tokenization_lengths(world: ExtractionWorld, dataset_id: int) -> list[int]:
    from interpstudio.db.models import Tokenization

    with world.factory() as session:
        rows = session.query(Tokenization).filter(Tokenization.dataset_id == dataset_id).all()
        return [row.policy["requested"]["max_length"] for row in rows]


def test_extract_cli_dataset_caps_the_default_max_length_at_the_models_positions(
    world: ExtractionWorld,
) -> None:
    """A tester: ``--dataset`` with a model of fewer positions (the tiny model's 256) than the
    default max length (1024) tokenized at 1024 anyway. Without ``--max-length`` the length is
    now the model's, said in one line."""
    dataset_id = _long_text_dataset(world)
    result = run_cli(world, "extract", "--model", str(world.model_id), "--dataset",
                     str(dataset_id), "--hooks", "blocks.0.resid_post", "--device", "cpu",
                     "--dry-run")
    assert result.returncode == 0, result.stderr
    assert (f"max length 256: model {world.model_id} takes at most 256 positions "
            "(max_position_embeddings in its config.json; the default is 1024); --max-length "
            "picks another") in " ".join(result.stdout.split())
    assert _tokenization_lengths(world, dataset_id) == [256]
    again = run_cli(world, "extract", "--model", str(world.model_id), "--dataset",
                    str(dataset_id), "--hooks", "blocks.0.resid_post", "--device", "cpu",
                    "--mode", "truncate", "--dry-run", "--json")  # a policy: the same, capped
    assert again.returncode == 0, again.stderr
    assert _tokenization_lengths(world, dataset_id) == [256]


def test_extract_cli_refuses_a_max_length_past_the_models_positions_before_tokenizing(
    world: ExtractionWorld,
) -> None:
    dataset_id = _long_text_dataset(world)
    result = run_cli(world, "extract", "--model", str(world.model_id), "--dataset",
                     str(dataset_id), "--max-length", "1024", "--device", "cpu", "--dry-run")
    assert result.returncode == 2, result.stderr
    said = " ".join(result.stderr.split())
    assert (f"--max-length 1024 is more than model {world.model_id}'s 256 positions "
            "(max_position_embeddings in its config.json); give --max-length 256 or less"
            ) in said, result.stderr
    assert "tokenizing" not in result.stdout and "Traceback" not in result.stderr
    assert _tokenization_lengths(world, dataset_id) == []


def _made_at(max_length: int) -> dict[str, object]:
    """A ready tokenization's stored policy (resolved, with the request) at ``max_length``."""
    return {"max_length": max_length, "mode": "truncate", "add_bos": True,
            "requested": {"max_length": max_length, "mode": "truncate"}}


def test_extract_cli_dataset_passes_over_a_tokenization_past_the_models_positions(
    world: ExtractionWorld,
) -> None:
    """A tokenization made at 1024 for the 256-position model before such a one was refused is
    newer than one made at 256: ``--dataset`` without a policy took it (the newest); now it takes
    the newest one within the positions, and says which."""
    fitting = world.tokenization(policy=_made_at(256))
    past = world.tokenization(repeat=2, policy=_made_at(1024))  # the newest
    assert past > fitting
    result = run_cli(world, "extract", "--model", str(world.model_id), "--dataset",
                     str(world.dataset_id), "--hooks", "blocks.0.resid_post", "--device", "cpu",
                     "--dry-run")
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert (f"using tokenization {fitting} of dataset {world.dataset_id} (max length 256, "
            "truncate, BOS)") in said, result.stdout


def test_extract_cli_dataset_tokenizes_anew_when_its_only_tokenization_is_past_the_positions(
    world: ExtractionWorld,
) -> None:
    """With only a tokenization past the model's positions, ``--dataset`` does what it does with
    none: tokenizes at the default length cut to the positions, and says so."""
    dataset_id = _long_text_dataset(world)
    past = world.tokenization(dataset=dataset_id, policy=_made_at(1024))
    result = run_cli(world, "extract", "--model", str(world.model_id), "--dataset",
                     str(dataset_id), "--hooks", "blocks.0.resid_post", "--device", "cpu",
                     "--dry-run")
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert f"using tokenization {past}" not in said, result.stdout
    assert f"max length 256: model {world.model_id} takes at most 256 positions" in said
    assert f"tokenizing dataset {dataset_id} with model {world.model_id}'s tokenizer" in said
    assert sorted(_tokenization_lengths(world, dataset_id)) == [256, 1024]
