"""``interpstudio models rm`` and ``datasets rm`` ask as ``extractions rm`` does, as real
subprocesses on the test world (a model and a dataset, a tokenization of it made with the model's
tokenizer, an extraction of both): in a terminal a question naming what ``--force`` deletes with
it, typed into a real pty; without one, refused naming ``--yes`` (exit 2); ``--yes`` deletes
without asking; a refusal of the service's own rule (something uses it, a job runs) is said
before any question."""

from __future__ import annotations

from test_cli_first_minutes import in_a_terminal
from test_extract_cli import run_cli

from extraction_world import ExtractionWorld
from interpstudio.db.models import Dataset, Model


def _extract(world: ExtractionWorld, tokenization_id: int) -> int:
    import json

    made = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                   str(tokenization_id), "--hooks", "blocks.0.resid_post", "--device", "cpu",
                   "--json")
    assert made.returncode == 0, made.stderr
    return int(json.loads(made.stdout)["id"])


def _exists(world: ExtractionWorld, table: type[Model] | type[Dataset], row_id: int) -> bool:
    with world.factory() as session:
        return session.get(table, row_id) is not None


def _answer(answer: bytes) -> object:
    return lambda output: answer if b"[y/N]" in output else None


def test_models_and_datasets_rm_refuse_without_a_terminal_and_delete_with_yes(
    world: ExtractionWorld,
) -> None:
    """Both deleted at once, files and all, with no question and no --yes to skip one:
    ``extractions rm`` asked. Without a terminal they now refuse, naming --yes (exit 2)."""
    tokenization_id = world.tokenization()
    model_folder = world.settings.data_dir / "models" / str(world.model_id)
    for group, row_id in (("datasets", world.dataset_id), ("models", world.model_id)):
        refused = run_cli(world, group, "rm", str(row_id), "--force")  # stdin: no terminal
        assert refused.returncode == 2, refused.stderr
        said = " ".join(refused.stderr.split())
        assert "needs a confirmation, and the input is not a terminal: pass --yes" in said, said
        assert f"with tokenization {tokenization_id} that use it" in said, said
    assert _exists(world, Dataset, world.dataset_id) and _exists(world, Model, world.model_id)
    assert model_folder.is_dir()

    deleted = run_cli(world, "models", "rm", str(world.model_id), "--force", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert f"deleted model {world.model_id}" in deleted.stdout
    assert not _exists(world, Model, world.model_id) and not model_folder.exists()
    deleted = run_cli(world, "datasets", "rm", str(world.dataset_id), "-y")
    assert deleted.returncode == 0, deleted.stderr
    assert not _exists(world, Dataset, world.dataset_id)


def test_models_rm_asks_in_a_terminal_naming_what_force_deletes(world: ExtractionWorld) -> None:
    tokenization_id = world.tokenization()
    extraction_id = _extract(world, tokenization_id)
    text, code, answered = in_a_terminal(world, "models", "rm", str(world.model_id), "--force",
                                         timeout=120, act=_answer(b"n\n"))
    said = " ".join(text.split())
    assert answered and code == 1, text
    assert (f"Delete model {world.model_id} (tiny llama) and its files, with "
            f"extraction {extraction_id} and tokenization {tokenization_id} that use it?"
            ) in said, said
    assert "nothing deleted" in said and _exists(world, Model, world.model_id)

    text, code, answered = in_a_terminal(world, "models", "rm", str(world.model_id), "--force",
                                         timeout=120, act=_answer(b"y\n"))
    assert answered and code == 0, text
    assert f"deleted model {world.model_id}" in text
    assert not _exists(world, Model, world.model_id)


def test_datasets_rm_asks_in_a_terminal_and_deletes_on_yes(world: ExtractionWorld) -> None:
    text, code, answered = in_a_terminal(world, "datasets", "rm", str(world.dataset_id),
                                         timeout=120, act=_answer(b"y\n"))
    assert answered and code == 0, text
    said = " ".join(text.split())
    assert f"Delete dataset {world.dataset_id} (quotes) and its files? [y/N]" in said, said
    assert f"deleted dataset {world.dataset_id}" in text
    assert not _exists(world, Dataset, world.dataset_id)


def test_models_and_datasets_rm_refuse_before_asking_while_used_or_a_job_runs(
    world: ExtractionWorld,
) -> None:
    """The service's rule answers before the question, as ``extractions rm``'s does: an answer
    asked for and then refused is wasted."""
    from interpstudio.services import extractions as service
    from interpstudio.services.extraction_params import ExtractionSpec

    tokenization_id = world.tokenization()
    for group, row_id in (("models", world.model_id), ("datasets", world.dataset_id)):
        text, code, answered = in_a_terminal(world, group, "rm", str(row_id), timeout=120,
                                             act=_answer(b"y\n"))
        assert code == 2 and not answered and "[y/N]" not in text, text
        assert (f"{group[:-1]} {row_id} is used by 1 tokenizations ({tokenization_id})"
                in " ".join(text.split())), text

    spec = ExtractionSpec(model_id=world.model_id, tokenization_id=tokenization_id,
                          hook_points=["blocks.0.resid_post"], device="cpu")
    with world.factory.begin() as session:  # queued: no worker runs in this test
        queued = service.create_extraction(session=session, settings=world.settings, spec=spec)
        job_id = queued.job_id
    text, code, answered = in_a_terminal(world, "models", "rm", str(world.model_id), "--force",
                                         timeout=120, act=_answer(b"y\n"))
    assert code == 2 and not answered and "[y/N]" not in text, text
    assert (f"model {world.model_id} cannot be deleted, even with force, while extraction "
            f"{queued.id} (job {job_id}) still runs") in " ".join(text.split()), text
    text, code, answered = in_a_terminal(world, "datasets", "rm", str(world.dataset_id),
                                         "--force", timeout=120, act=_answer(b"y\n"))
    assert code == 2 and not answered and "[y/N]" not in text, text
    assert f"job {job_id} of" in text and "is queued" in text, text
    assert _exists(world, Model, world.model_id) and _exists(world, Dataset, world.dataset_id)
