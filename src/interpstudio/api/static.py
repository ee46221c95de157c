"""Serves the built web UI (``api/ui_dist``) at ``/`` with a single-page-app fallback, and the
API's interactive docs at ``/docs`` from the build's own Swagger UI files (no CDN). ``/redoc``
redirects there: ReDoc's page needs its script from a CDN, which an offline server cannot reach,
and a second renderer of the same document adds nothing worth a bundled copy.

Any GET outside ``/api`` that is not a file returns ``index.html`` so client-side routes survive a
refresh. When the UI has not been built, ``/`` explains how to build it. This module is NOT
responsible for building the UI (``make`` runs ``npm run build``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

UI_DIST = Path(__file__).parent / "ui_dist"

NOT_BUILT = """<!doctype html><title>Interp Studio</title>
<h1>Interp Studio</h1><p>The web UI has not been built. Run <code>make run</code> (or
<code>cd frontend &amp;&amp; npm ci &amp;&amp; npm run build</code>). The API is at
<a href="/docs">/docs</a>.</p>"""


DOCS_ASSETS = "docs-assets"  # Swagger UI's script and style, copied there by the UI build


def mount_ui(app: FastAPI, ui_dir: Path = UI_DIST) -> None:
    root = ui_dir.resolve()

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI from the UI build's own copy (works offline); FastAPI's CDN default only
        when the UI has not been built."""
        local = (root / DOCS_ASSETS / "swagger-ui-bundle.js").is_file()
        assets = {"swagger_js_url": f"/{DOCS_ASSETS}/swagger-ui-bundle.js",
                  "swagger_css_url": f"/{DOCS_ASSETS}/swagger-ui.css",
                  "swagger_favicon_url": "data:,"} if local else {}
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json",
                                   title=f"{app.title} API", **assets)

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> RedirectResponse:
        """Temporary (307), so a browser does not remember it should ReDoc come back."""
        return RedirectResponse("/docs", status_code=307)

    @app.get("/{path:path}", include_in_schema=False)
    def ui(path: str) -> Response:
        if path.startswith("api/") or path == "api":
            raise HTTPException(status_code=404, detail=f"no API route /{path}")
        index = root / "index.html"
        if not index.exists():
            return HTMLResponse(NOT_BUILT)
        candidate = (root / path).resolve()
        if path and candidate.is_file() and candidate.is_relative_to(root):
            return FileResponse(candidate)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
