"""``/docs`` serves Swagger UI from the UI build's own copy, so the interactive API docs work on a
machine without internet (found by a tester: FastAPI's default page loads its script and style
from cdn.jsdelivr.net, blank on an offline GPU server, and runs a third-party script on the app's
origin). The browser test (frontend/e2e/jobs-and-system.spec.ts) renders it for real."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from helpers import LOOPBACK
from interpstudio.api.static import mount_ui


def docs_page(ui_dir: Path) -> str:
    app = FastAPI(title="Interp Studio", docs_url=None, redoc_url=None)
    mount_ui(app, ui_dir)
    with TestClient(app, base_url=LOOPBACK) as client:
        response = client.get("/docs")
        assert response.status_code == 200
        if (ui_dir / "docs-assets" / "swagger-ui-bundle.js").is_file():
            script = client.get("/docs-assets/swagger-ui-bundle.js")
            assert script.status_code == 200 and script.text == "/* swagger */"
        return response.text


def test_docs_use_the_builds_swagger_ui_files(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>Interp Studio</title>")
    (tmp_path / "docs-assets").mkdir()
    (tmp_path / "docs-assets" / "swagger-ui-bundle.js").write_text("/* swagger */")
    (tmp_path / "docs-assets" / "swagger-ui.css").write_text("")
    page = docs_page(tmp_path)
    assert "/docs-assets/swagger-ui-bundle.js" in page and "/openapi.json" in page
    assert "cdn.jsdelivr.net" not in page and "fastapi.tiangolo.com" not in page


def test_redoc_redirects_to_the_offline_docs(tmp_path: Path) -> None:
    """``/redoc`` fell through to the UI's page-not-found (ReDoc needs a CDN script, so the app
    turned it off): a bookmark or a FastAPI habit now lands on the docs that work offline."""
    (tmp_path / "index.html").write_text("<!doctype html><title>Interp Studio</title>")
    app = FastAPI(title="Interp Studio", docs_url=None, redoc_url=None)
    mount_ui(app, tmp_path)
    with TestClient(app, base_url=LOOPBACK) as client:
        moved = client.get("/redoc", follow_redirects=False)
        assert moved.status_code == 307 and moved.headers["location"] == "/docs"
        landed = client.get("/redoc")
        assert landed.url.path == "/docs" and "swagger-ui" in landed.text


def test_without_a_ui_build_the_docs_fall_back_to_the_cdn(tmp_path: Path) -> None:
    assert "cdn.jsdelivr.net" in docs_page(tmp_path)
