"""``interpstudio extractions list|show|rm`` as real subprocesses on the test world: a store made
by the tiny model through ``extract``, listed with the API's filters, shown with the lines that
open it, and deleted through the API's delete (after a confirmation typed into a real pty, or
``--yes``; refused while its job is under way, with the API's message)."""

from __future__ import annotations

import json

from test_cli_first_minutes import in_a_terminal
from test_extract_cli import run_cli

from extraction_world import ExtractionWorld


def _extract(world: ExtractionWorld) -> dict[str, object]:
    made = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                   str(world.tokenization()), "--hooks", "blocks.0.resid_post",
                   "--hooks", "blocks.1.mlp_out", "--device", "cpu", "--json")
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout)  # type: ignore[no-any-return]


def test_extractions_list_show_and_rm_a_real_store(world: ExtractionWorld) -> None:
    """The CLI had no way to list, inspect or delete a stored extraction."""
    made = _extract(world)
    extraction_id = made["id"]
    store = world.settings.data_dir / "extractions" / str(extraction_id) / "store"

    listed = run_cli(world, "extractions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    listing = json.loads(listed.stdout)
    assert listing["total"] == 1 and listing["items"][0]["id"] == extraction_id
    assert listing["items"][0]["status"] == "complete"
    assert listing["items"][0]["store_abs_path"] == str(store)
    none = run_cli(world, "extractions", "list", "--status", "failed", "--model",
                   str(world.model_id), "--search", "tiny", "--json")
    assert json.loads(none.stdout)["total"] == 0, none.stderr
    table = run_cli(world, "extractions", "list", "--status", "complete", "--search", "tiny",
                    env={"COLUMNS": "120"})  # room for every column
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.startswith("│ 1 "))
    cells = [cell.strip() for cell in row.strip("│").split("│")]
    assert cells[:6] == ["1", "tiny llama: 2 hook points", str(world.model_id), "2", "163",
                         "complete"], cells
    assert cells[6].endswith(" kB"), cells  # the store's size, as the UI says it (format_bytes)
    refused = run_cli(world, "extractions", "list", "--status", "complet")
    assert refused.returncode == 2 and "complete" in refused.stderr  # as the API's 422

    shown = run_cli(world, "extractions", "show", str(extraction_id))
    assert shown.returncode == 0, shown.stderr
    said = shown.stdout
    for expected in ("org/tiny@0123abc", "fp32", "blocks.0.resid_post, blocks.1.mlp_out",
                     "all", "float16", "complete", "163 rows",
                     f"store      {store}\n", f"statistics {store / 'stats.json'}\n",
                     f"\nacts = open_activations({str(store)!r})\n"):
        assert expected in said, (expected, said)
    as_json = json.loads(run_cli(world, "extractions", "show", str(extraction_id),
                                 "--json").stdout)
    assert as_json == {**listing["items"][0], "job": as_json["job"]}

    unconfirmed = run_cli(world, "extractions", "rm", str(extraction_id))  # stdin: no terminal
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    assert store.is_dir()
    deleted = run_cli(world, "extractions", "rm", str(extraction_id), "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert f"deleted extraction {extraction_id}" in deleted.stdout
    assert not store.parent.exists()
    gone = run_cli(world, "extractions", "show", str(extraction_id))
    assert gone.returncode == 2 and f"extraction {extraction_id}" in gone.stderr
    assert json.loads(run_cli(world, "extractions", "list", "--json").stdout)["total"] == 0


def _rm_in_a_terminal(world: ExtractionWorld, extraction_id: int) -> tuple[str, int, bool]:
    """``extractions rm ID`` on a real pty, answering "y" if it asks: what it said, its exit
    code and whether it asked."""
    return in_a_terminal(world, "extractions", "rm", str(extraction_id), timeout=120,
                         act=lambda output: b"y\n" if b"[y/N]" in output else None)


def test_extractions_rm_asks_in_a_terminal_and_deletes_on_yes(world: ExtractionWorld) -> None:
    extraction_id = _extract(world)["id"]
    folder = world.settings.data_dir / "extractions" / str(extraction_id)
    text, code, answered = _rm_in_a_terminal(world, extraction_id)
    assert answered, text
    assert f"Delete extraction {extraction_id} (" in text
    assert code == 0, text
    assert f"deleted extraction {extraction_id}" in text and not folder.exists()


def test_extractions_rm_refuses_before_asking_while_its_job_or_an_export_is_underway(
    world: ExtractionWorld,
) -> None:
    """A tester: ``extractions rm`` asked "Delete extraction 3 ...? [y/N]" and only after the
    "y" said it could not be deleted (its job running, or an export of it). The service's own
    rule (``check_deletable``) now answers first, and nothing is asked."""
    from interpstudio.core.paths import DataPaths
    from interpstudio.services import extraction_export as exports
    from interpstudio.services import extractions as service
    from interpstudio.services.extraction_params import ExportOptions, ExtractionSpec

    spec = ExtractionSpec(model_id=world.model_id, tokenization_id=world.tokenization(),
                          hook_points=["blocks.0.resid_post"], device="cpu")
    with world.factory.begin() as session:  # queued: no worker runs in this test
        queued = service.create_extraction(session=session, settings=world.settings, spec=spec).id
    text, code, answered = _rm_in_a_terminal(world, queued)
    assert code == 2 and not answered and "[y/N]" not in text, text
    assert (f"extraction {queued} cannot be deleted: its job is queued; cancel it and wait "
            "until it stops") in " ".join(text.split())

    complete = _extract(world)["id"]
    with world.factory.begin() as session:  # an export of it queued, as the API's export-job
        export = exports.start_export(session=session, paths=DataPaths(world.settings.data_dir),
                                      row=service.get_extraction(session=session,
                                                                 extraction_id=complete),
                                      options=ExportOptions(context_size=4)).id
    text, code, answered = _rm_in_a_terminal(world, complete)
    assert code == 2 and not answered and "[y/N]" not in text, text
    assert (f"extraction {complete} cannot be deleted: its export (job {export}) is under way; "
            "wait for it or cancel it") in " ".join(text.split())
    with world.factory() as session:
        for extraction_id in (queued, complete):
            assert service.get_extraction(session=session, extraction_id=extraction_id)


def test_extractions_rm_refuses_an_extraction_underway_with_the_apis_message(
    world: ExtractionWorld,
) -> None:
    from interpstudio.services import extractions as service
    from interpstudio.services.extraction_params import ExtractionSpec

    spec = ExtractionSpec(model_id=world.model_id, tokenization_id=world.tokenization(),
                          hook_points=["blocks.0.resid_post"], device="cpu")
    with world.factory.begin() as session:  # queued: no worker runs in this test
        queued = service.create_extraction(session=session, settings=world.settings, spec=spec).id
    result = run_cli(world, "extractions", "rm", str(queued), "--yes")
    assert result.returncode == 2, result.stderr
    assert (f"extraction {queued} cannot be deleted: its job is queued; cancel it and wait "
            "until it stops") in " ".join(result.stderr.split())
    with world.factory() as session:
        assert service.get_extraction(session=session, extraction_id=queued) is not None


def test_extractions_list_at_80_columns_never_cuts_a_name(world: ExtractionWorld) -> None:
    """The list had no name column (a tester mapped ids to runs by hand); at 80 columns a long
    one now folds whole, never "…", and the least telling columns make room, said under it."""
    from interpstudio.services import extractions as service
    from interpstudio.services.extraction_params import ExtractionSpec

    name = "resid_post sweep of every layer for the SAE run, 10M tokens of fineweb-edu"
    spec = ExtractionSpec(model_id=world.model_id, tokenization_id=world.tokenization(),
                          hook_points=["blocks.0.resid_post"], device="cpu", name=name)
    with world.factory.begin() as session:  # queued: no worker runs in this test
        extraction_id = service.create_extraction(session=session, settings=world.settings,
                                                  spec=spec).id
    table = run_cli(world, "extractions", "list", env={"COLUMNS": "80"}).stdout
    lines = [line for line in table.splitlines() if line.startswith("│")]
    assert max(len(line) for line in table.splitlines()) <= 80, table
    assert "…" not in table and lines[0].split("│")[1].strip() == str(extraction_id), table
    folded = "".join(line.split("│")[2] for line in lines)  # its lines, each a piece of it
    assert "".join(folded.split()) == "".join(name.split()), table
    wide = run_cli(world, "extractions", "list", env={"COLUMNS": "200"}).stdout
    assert name in wide and "queued" in wide and "left out" not in wide
