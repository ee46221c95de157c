"""What a local import reads from a folder's layout: the folder's top level only (as transformers
reads a checkpoint), with what it leaves out named; a checkpoint one folder too far down refused
naming its folder; a config given for a lone ``.safetensors`` never shadowed by its folder's own."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from interpstudio.core.settings import Settings
from interpstudio.ml.local_import import copy_checkpoint, plan_import

API = "/api/v1/models"


def test_a_folder_import_reads_its_top_level_and_names_what_it_leaves_out(
        hub_client: TestClient, hub_settings: Settings, tiny_llama_dir: Path,
        tiny_gpt2_dir: Path, worker_thread, wait_model: Callable[..., dict]) -> None:
    """A folder holding another checkpoint in ``original/`` was imported from its top level
    without a word about the rest; nothing said which files were left out."""
    source = shutil.copytree(tiny_llama_dir, hub_settings.import_roots[0] / "llama")
    shutil.copytree(tiny_gpt2_dir, source / "original")  # same names, other model
    (source / "README.md").write_text("a model card\n")
    (source / ".git").mkdir()
    (source / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    created = hub_client.post(f"{API}/import", json={"path": str(source)})
    assert created.status_code == 201, created.text
    left_out = ["README.md", *(f"original/{p.name}" for p in sorted(tiny_gpt2_dir.iterdir()))]
    info = created.json()["info"]
    assert info["import_skipped"] == left_out and info["import_skipped_count"] == len(left_out)
    worker_thread(hub_settings)
    ready = wait_model(created.json()["id"], "ready", "failed")
    assert ready["status"] == "ready", ready["error_message"]
    assert ready["model_type"] == "llama"  # the top level's checkpoint, not original/'s
    copied = sorted(p.name for p in (hub_settings.data_dir / ready["path"]).iterdir())
    assert copied == sorted(p.name for p in tiny_llama_dir.iterdir())
    job = hub_client.get(f"/api/v1/jobs/{ready['job_id']}").json()
    assert job["result"]["import"]["skipped"] == left_out


def test_a_folder_whose_checkpoint_lies_in_a_subfolder_is_refused_naming_it(
        hub_client: TestClient, hub_settings: Settings, tiny_llama_dir: Path) -> None:
    """A hub cache folder (``snapshots/<commit>/``) was refused as having no config.json, with
    no word that one lay a few folders down."""
    cache = hub_settings.import_roots[0] / "models--org--tiny"
    shutil.copytree(tiny_llama_dir, cache / "snapshots" / "abc123")
    (cache / "refs").mkdir()
    (cache / "refs" / "main").write_text("abc123")
    refused = hub_client.post(f"{API}/import", json={"path": str(cache)})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "missing_config"
    assert error["details"]["nested"] == ["snapshots/abc123"]
    assert "snapshots/abc123 hold one: import that folder instead" in error["message"]
    assert hub_client.get(API).json()["total"] == 0


def test_weights_only_in_a_subfolder_are_named_in_the_refusal(
        hub_client: TestClient, hub_settings: Settings, tiny_llama_dir: Path) -> None:
    source = hub_settings.import_roots[0] / "split"
    (source / "weights").mkdir(parents=True)
    for path in tiny_llama_dir.iterdir():
        shutil.copy(path, source / ("weights" if path.suffix == ".safetensors" else ""))
    refused = hub_client.post(f"{API}/import", json={"path": str(source)})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "no_weight_files"
    assert "weights in subfolders (weights/model.safetensors) are not read" in error["message"]
    assert "weights/model.safetensors" in error["details"]["files"]


def test_a_config_given_for_a_lone_safetensors_is_not_shadowed_by_its_folders_own(
        tmp_path: Path, tiny_llama_dir: Path, tiny_gpt2_dir: Path) -> None:
    """``models import weights.safetensors --config mine.json`` planned the folder's own
    config.json too, under the same name and after the given one: the copy put the folder's
    config (here another model's) over the one the user chose."""
    folder = tmp_path / "loose"
    folder.mkdir()
    shutil.copy(tiny_llama_dir / "model.safetensors", folder / "weights.safetensors")
    shutil.copy(tiny_gpt2_dir / "config.json", folder / "config.json")  # not this model's
    shutil.copy(tiny_llama_dir / "tokenizer.json", folder / "tokenizer.json")
    given = shutil.copy(tiny_llama_dir / "config.json", tmp_path / "mine.json")
    plan = plan_import(folder / "weights.safetensors", given)
    assert sorted(name for _, name in plan.files) == [
        "config.json", "model.safetensors", "tokenizer.json"]
    dest = copy_checkpoint(plan, tmp_path / "checkpoint")
    assert (dest / "config.json").read_bytes() == given.read_bytes()


def test_a_folder_with_both_weight_formats_imports_the_one_a_hub_download_takes(
        hub_client: TestClient, hub_settings: Settings, tiny_llama_dir: Path,
        worker_thread, wait_model: Callable[..., dict]) -> None:
    """A folder holding ``model.safetensors`` and ``pytorch_model.bin`` (the same weights twice,
    as many hub repos ship them) was copied whole, both formats, while a hub download of that
    repo takes the safetensors only: now the import takes the same and says why it left the
    ``.bin`` and its index out."""
    import torch
    from safetensors.torch import load_file

    from interpstudio.ml.hub_preflight import select_files

    source = shutil.copytree(tiny_llama_dir, hub_settings.import_roots[0] / "both")
    torch.save(load_file(source / "model.safetensors"), source / "pytorch_model.bin")
    (source / "pytorch_model.bin.index.json").write_text(
        '{"metadata": {}, "weight_map": {}}')  # as a sharded .bin checkpoint has
    names = sorted(p.name for p in source.iterdir())
    hub_chosen, _ = select_files([(name, 1, None, None) for name in names])
    plan = plan_import(source)
    assert sorted(name for _, name in plan.files) == sorted(f.path for f in hub_chosen)
    why = "its .safetensors weights are imported instead, as a hub download takes them"
    left_out = [f"pytorch_model.bin ({why})", f"pytorch_model.bin.index.json ({why})"]
    assert plan.skipped == tuple(left_out)

    created = hub_client.post(f"{API}/import", json={"path": str(source)})
    assert created.status_code == 201, created.text
    info = created.json()["info"]
    assert info["import_skipped"] == left_out and info["import_skipped_count"] == 2
    worker_thread(hub_settings)
    ready = wait_model(created.json()["id"], "ready", "failed")
    assert ready["status"] == "ready", ready["error_message"]
    copied = sorted(p.name for p in (hub_settings.data_dir / ready["path"]).iterdir())
    assert copied == sorted(p.name for p in tiny_llama_dir.iterdir())

    (source / "model.safetensors").unlink()  # a folder of .bin weights only keeps them
    assert "pytorch_model.bin" in [name for _, name in plan_import(source).files]
    assert plan_import(source).skipped == ()
