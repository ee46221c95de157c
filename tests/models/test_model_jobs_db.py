"""The model jobs through the services and a real ``Worker`` on SQLite AND PostgreSQL: download
to ready, and the memory-budget fallback recorded on the model (a real small budget, no mock)."""

from __future__ import annotations

from hub_server import HubServer
from interpstudio.core.settings import Settings
from interpstudio.db.session import make_engine, make_session_factory
from interpstudio.jobs.runner import Worker
from interpstudio.services import model_sources, models


def test_download_job_on_each_database(settings: Settings, hub: HubServer,
                                       tiny_repo: str) -> None:
    settings = settings.model_copy(update={"hf_endpoint": hub.url})
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with factory.begin() as session:
        model, created = model_sources.start_download(session=session, settings=settings,
                                                      repo_id="org/tiny")
        model_id = model.id
    assert created
    Worker(settings, session_factory=factory).run_one()
    with factory() as session:
        model = models.get_model(session=session, model_id=model_id)
        assert model.status == "ready", model.error_message
        assert model.key == f"org/tiny@{tiny_repo}" and model.commit_sha == tiny_repo
        assert model.fidelity["exact"] and model.n_layers == 2
    with factory.begin() as session:
        again, created = model_sources.start_download(session=session, settings=settings,
                                                      repo_id="org/tiny", revision=tiny_repo)
        assert not created and again.id == model_id


def test_small_memory_budget_steps_down_and_records_why(
        sqlite_settings: Settings, hub: HubServer, tiny_repo: str) -> None:
    settings = sqlite_settings.model_copy(update={"hf_endpoint": hub.url})
    estimates = model_sources.preflight_hub_model(settings=settings, repo_id="org/tiny",
                                                  revision="main")["memory_estimates"]
    budget = (estimates["q8"] + estimates["bf16"]) // 2  # fp32 and bf16 do not fit, q8 does
    settings = settings.model_copy(update={"memory_budget_bytes": budget})
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with factory.begin() as session:
        model_id = model_sources.start_download(session=session, settings=settings,
                                                repo_id="org/tiny", precision="fp32")[0].id
    Worker(settings, session_factory=factory).run_one()
    with factory() as session:
        model = models.get_model(session=session, model_id=model_id)
        assert model.status == "ready", model.error_message
        assert (model.precision_requested, model.precision_used) == ("fp32", "q8")
        assert "over the memory budget" in model.precision_reason
        assert "using q8" in model.precision_reason
        assert model.info["resident_bytes"] <= budget
        assert model.info["quantization"]["bits"] == 8
