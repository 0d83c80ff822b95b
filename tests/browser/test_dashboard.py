"""The dashboard in real Chromium (Debian's package, driven by Playwright; no browser is
ever downloaded): loads without console errors, shows new violations within 2 s of an
ingest, reconnects after a server restart, and really draws the 3D graph and the heatmap;
GraphiQL on GET /v1/graphql comes from the package (no request leaves this server) and runs
a query. Screenshots go to .artifacts/screenshots/."""

from __future__ import annotations

import asyncio
import base64
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio
import uvicorn
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from ott_runtime.api.routers.dashboard import STATIC
from ott_runtime.app import create_app
from ott_runtime.crypto import KeyStore
from ott_runtime.domain.regulation import RegulationSet
from ott_runtime.ingest.rules import runtime_for_tenant
from ott_runtime.service import RuntimeService

from ..integration.conftest import REGULATION, _free_port, tenant_document

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / ".artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    "--enable-unsafe-swiftshader",  # software WebGL for the 3D graph without a GPU
]  # fmt: skip
API_KEY = f"ottc_browser_acme_{uuid.uuid4().hex}"

pytestmark = [
    pytest.mark.skipif(
        not (STATIC / "index.html").exists(), reason="dashboard not built: run hack/bootstrap.sh"
    ),
    pytest.mark.asyncio(loop_scope="module"),  # one server and one browser for the module
]


@dataclass
class Server:
    """The runtime in this event loop; restart() is a new service over the same files."""

    root: Path
    port: int = field(default_factory=_free_port)
    service: RuntimeService | None = None
    server: uvicorn.Server | None = None
    task: asyncio.Task[None] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        sets = {"kids-ads": RegulationSet.model_validate(REGULATION)}
        keys = KeyStore.from_directory(self.root / "keys", ["acme"], create_missing=True)
        tenant = tenant_document("acme", gateway={"rateLimit": {"perSecond": 1000}})
        self.service = RuntimeService(
            f"sqlite:///{self.root / 'dash.db'}", [runtime_for_tenant(tenant, sets, keys)], keys,
            api_keys={"acme": [API_KEY]},
        )  # fmt: skip
        config = uvicorn.Config(
            create_app(self.service), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve())
        async with asyncio.timeout(30):
            while not self.server.started:  # noqa: ASYNC110 (uvicorn has no started event)
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        assert self.server is not None
        assert self.task is not None
        self.server.should_exit = True
        await self.task

    async def ingest(self, *events: dict[str, Any]) -> None:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.base}/v1/events",
                content=orjson.dumps({"events": list(events)}),
                headers={"X-API-Key": API_KEY},
            )
        assert response.status_code == 200, response.text


def kids_ad(event_id: str, country: str, content: str) -> dict[str, Any]:
    return {
        "specVersion": "1", "id": event_id, "type": "ad.impression",
        "time": datetime.now(UTC).isoformat(),
        "viewer": {"id": f"v-{event_id}", "isKidsProfile": True},
        "geo": {"country": country}, "content": {"id": content, "channelId": f"ch-{event_id}"},
        "ad": {"id": "ad-1", "durationSeconds": 5, "targeted": True},
    }  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    running = Server(tmp_path_factory.mktemp("dashboard"))
    await running.start()
    seed = [
        kids_ad(f"seed-{i}", country, f"show-{i % 4}")
        for i, country in enumerate(["DE", "FR", "US", "IN", "BR", "DE", "FR", "US"] * 3)
    ]
    await running.ingest(*seed)
    yield running
    await running.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


@dataclass
class Dashboard:
    page: Page
    errors: list[str]


@pytest_asyncio.fixture(loop_scope="module")
async def dashboard(server: Server, browser: Browser) -> AsyncIterator[Dashboard]:
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{server.base}/dashboard/#key={API_KEY}")
    await page.wait_for_selector("#connection[data-state=live]", timeout=20_000)
    yield Dashboard(page, errors)
    await page.close()


async def pixels(page: Page, png: bytes) -> dict[str, int]:
    """Counts, in the page itself, pixels far from the image's corner colour (the panel
    background) and the distinct colours."""
    return dict(
        await page.evaluate(
            """async (data) => {
              const image = new Image();
              image.src = "data:image/png;base64," + data;
              await image.decode();
              const canvas = document.createElement("canvas");
              canvas.width = image.width; canvas.height = image.height;
              const context = canvas.getContext("2d");
              context.drawImage(image, 0, 0);
              const d = context.getImageData(0, 0, canvas.width, canvas.height).data;
              const colours = new Set();
              let drawn = 0;
              for (let i = 0; i < d.length; i += 4) {
                const distance = Math.abs(d[i] - d[0]) + Math.abs(d[i + 1] - d[1])
                  + Math.abs(d[i + 2] - d[2]);
                if (distance > 40) drawn++;
                colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
              }
              return {drawn, colours: colours.size, total: d.length / 4};
            }""",
            base64.b64encode(png).decode(),
        )
    )


async def test_loads_without_errors_and_draws_the_graph_and_heatmap(dashboard: Dashboard) -> None:
    page = dashboard.page
    await page.wait_for_selector("#heatmap .heatmaplayer image", timeout=10_000)
    await page.wait_for_selector("#network canvas", timeout=10_000)
    await page.wait_for_timeout(1500)  # let the force layout spread the nodes
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / "dashboard.png", full_page=True)

    graph = await pixels(page, await page.locator("#network canvas").screenshot())
    assert graph["drawn"] > graph["total"] * 0.002, graph  # nodes and links, not a blank canvas
    assert graph["colours"] > 20, graph
    heatmap = await pixels(page, await page.locator("#heatmap").screenshot())
    assert heatmap["drawn"] > heatmap["total"] * 0.05, heatmap
    rows = await page.locator("#violations tbody tr").count()
    assert rows == 24
    assert (await page.text_content("#forecast-method") or "").startswith("Forecast: statistical")
    assert dashboard.errors == []


async def test_a_new_violation_shows_within_two_seconds(
    dashboard: Dashboard, server: Server
) -> None:
    await server.ingest(kids_ad("live-1", "JP", "show-new"))
    row = dashboard.page.locator("#violations tbody tr", has_text="live-1")
    await row.wait_for(timeout=2000)
    assert "critical" in (await row.text_content() or "")
    # the aggregates follow: JP appears in the heatmap's regions
    await dashboard.page.wait_for_selector("#heatmap .ytick text >> text=JP", timeout=5000)
    assert dashboard.errors == []


async def test_graphiql_is_served_from_the_package_and_runs_a_query(
    server: Server, browser: Browser
) -> None:
    """GET /v1/graphql in a browser: the bundled GraphiQL, every request to this server
    (none to a CDN or anywhere else), no console errors, and a query runs with the key."""
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        response = await page.goto(f"{server.base}/v1/graphql#key={API_KEY}")
        assert response is not None
        assert response.status == 200
        assert "default-src 'self'" in (
            await response.header_value("content-security-policy") or ""
        )
        await page.wait_for_selector(".graphiql-container .graphiql-query-editor", timeout=20_000)
        await page.click(".graphiql-execute-button")
        result = page.locator(".graphiql-response")
        await result.get_by_text('"displayName": "Acme"').wait_for(timeout=10_000)
        assert '"ruleId": "no-targeted-ads-to-kids"' in (await result.text_content() or "")
        assert API_KEY not in page.url  # taken from the address bar into the headers
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=SCREENSHOTS / "graphiql.png")
    finally:
        await page.close()
    elsewhere = [url for url in requested if not url.startswith((server.base, "data:", "blob:"))]
    assert elsewhere == []
    assert any(url.endswith("/dashboard/assets/graphiql.js") for url in requested)
    assert errors == []


async def test_a_wrong_key_is_reported_as_such(server: Server, browser: Browser) -> None:
    """GraphQL refuses the key with a 401 problem before running the query; the dashboard
    says the key is unknown (not an HTTP status)."""
    page = await browser.new_page()
    try:
        await page.goto(f"{server.base}/dashboard/#key=ottc_acme_not_a_key")
        status = page.locator("#connection[data-state=error]")
        await status.wait_for(timeout=20_000)
        assert await status.text_content() == "refused: unknown API key"
    finally:
        await page.close()


async def test_reconnects_after_a_server_restart(dashboard: Dashboard, server: Server) -> None:
    page = dashboard.page
    await server.stop()
    await page.wait_for_selector("#connection[data-state=reconnecting]", timeout=10_000)
    await server.start()
    await server.ingest(kids_ad("after-restart", "DE", "show-1"))
    await page.wait_for_selector("#connection[data-state=live]", timeout=15_000)
    row = page.locator("#violations tbody tr", has_text="after-restart")
    await row.wait_for(timeout=5000)
    await page.screenshot(path=SCREENSHOTS / "dashboard-after-restart.png")
    ids = await page.locator("#violations tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.violationId)"
    )
    assert len(ids) == len(set(ids))  # resumed from its cursor: nothing twice
    # only the browser's own attempts to reach the stopped server may be logged as errors
    assert all("WebSocket" in e or "Failed to load resource" in e for e in dashboard.errors)
