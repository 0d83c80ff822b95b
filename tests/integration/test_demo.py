"""`ottc demo`'s runner end to end: real server, generator posting over HTTP, data stored."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import httpx
from rich.console import Console

from ott_runtime.app import Runtime
from ott_runtime.config import standalone_config
from ott_runtime.demo import DemoSettings, run_demo
from ott_runtime.server import build_server
from ott_runtime.service import RuntimeService

from .conftest import _free_port

REPO = Path(__file__).resolve().parents[2]


async def test_demo_feeds_the_example_tenants_and_violations_appear(tmp_path: Path) -> None:
    config = standalone_config(
        [REPO / "examples" / "regulationsets", REPO / "examples" / "tenants"], tmp_path
    )
    service = RuntimeService(
        config.database_url, config.runtimes, config.keys, api_keys=config.api_keys
    )
    port = _free_port()
    runtime = Runtime(service)
    server = build_server(runtime, port=port, log_level="warning")
    api_keys = {t: keys[0] for t, keys in config.api_keys.items()}
    settings = DemoSettings(
        rate=200, speed=600, backfill=timedelta(hours=2), duration=2.5, violation_rate=0.3
    )
    quiet = Console(file=io.StringIO())
    progress = await run_demo(server, f"http://127.0.0.1:{port}", api_keys, settings, quiet)
    assert progress.sent > 100
    assert progress.rejected == 0
    assert progress.accepted == progress.sent
    assert sum(progress.violations.values()) > 0
    assert set(progress.by_tenant) == set(api_keys)
    # the server is stopped; what it acknowledged is in the database for the next start
    await service.start()
    try:
        app = runtime.app(manage_lifecycle=False)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            stored = 0
            for tenant, key in api_keys.items():
                usage = (await client.get("/v1/usage", headers={"X-API-Key": key})).json()
                assert usage["events"] == progress.by_tenant[tenant]
                stored += usage["events"]
        assert stored == progress.accepted
    finally:
        await service.stop()
