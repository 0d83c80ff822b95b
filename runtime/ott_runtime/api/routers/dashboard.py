"""GET /dashboard: the bundled single-page dashboard, and its assets under
/dashboard/assets/ (GraphiQL's too: its page is served on GET /v1/graphql). The pages load
nothing from elsewhere (a Content-Security-Policy limits them to this origin); data comes
from /v1/graphql and /v1/stream."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from ott_runtime.api.problems import Problem
from ott_runtime.dashboard import STATIC_DIR

STATIC = STATIC_DIR
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' ws: wss:; "
    "worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

router = APIRouter(tags=["dashboard"])


@router.get("/dashboard", include_in_schema=False)
async def dashboard_redirect() -> RedirectResponse:
    # relative, so that a gateway's path prefix is kept; the page's own links are relative
    return RedirectResponse("dashboard/", status_code=308)


@router.get("/dashboard/", include_in_schema=False, response_model=None)
async def dashboard() -> Response:
    index = STATIC / "index.html"
    if not index.exists():
        raise Problem(
            503,
            "Dashboard not built",
            "the front-end bundle is missing: run hack/bootstrap.sh (npm ci && npm run build "
            "in frontend/)",
            "dashboard-not-built",
        )
    return FileResponse(
        index, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"}
    )


def graphiql_page() -> HTMLResponse:
    """GraphiQL for GET /v1/graphql from a browser: the page bundled from pinned npm
    packages (frontend/src/graphiql.js), under the same Content-Security-Policy."""
    page = STATIC / "graphiql.html"
    if not page.exists():
        return HTMLResponse(
            "<!doctype html><title>GraphiQL not built</title><p>The front-end bundle is "
            "missing: run hack/bootstrap.sh (npm ci &amp;&amp; npm run build in frontend/).",
            status_code=503,
        )
    return HTMLResponse(
        page.read_text(encoding="utf-8"),
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
    )


def mount_dashboard(app: FastAPI) -> None:
    app.include_router(router)
    # check_dir=False: the app still starts (and says why on /dashboard) when unbuilt
    app.mount(
        "/dashboard/assets",
        StaticFiles(directory=STATIC / "assets", check_dir=False),
        name="dashboard-assets",
    )
