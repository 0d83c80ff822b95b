"""The LSTM series detector in a standalone app: a tenant's events per minute are counted as
they are stored, the promoted detector is primed from the stored minutes and scores each
closed minute; a blatant spike becomes one series risk alert (on the risk stream and REST),
the steady minutes none; a newly promoted version is swapped in; `lstm: false` loads nothing."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from ott_runtime.app import Runtime
from ott_runtime.config import standalone_config
from ott_runtime.ingest.pubsub import Message
from ott_runtime.models.registry import DirectoryBackend, ModelRegistry
from ott_runtime.models.series.detector import DetectorConfig
from ott_runtime.models.series.lstm import LstmConfig
from ott_runtime.models.training import SERIES_MODEL, train_series
from ott_runtime.service import RuntimeService

TENANT = "streamco"
STEADY = (3, 4, 5, 4)  # events per minute, repeating
TINY = DetectorConfig(lstm=LstmConfig(lookback=12, units=8, epochs=8, batch_size=32, seed=3))
START = (datetime.now(UTC) - timedelta(hours=10)).replace(second=0, microsecond=0)


def write_config(folder: Path, lstm: bool = True) -> Path:
    document = {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": TENANT},
        "spec": {
            "displayName": "Streamco",
            "regulations": [],
            "scoring": {"riskThreshold": 0.5, "models": {"lstm": lstm, "transformer": False}},
            "gateway": {"rateLimit": {"perSecond": 10000}},
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tenant.yaml").write_text(yaml.safe_dump(document))
    return folder


def minute_events(minute: int, count: int) -> list[dict[str, Any]]:
    at = START + timedelta(minutes=minute)
    return [
        {
            "specVersion": "1",
            "id": f"m{minute}-{n}",
            "type": "ad.impression",
            "time": (at + timedelta(seconds=n * 50 / max(count, 1))).isoformat(),
            "viewer": {"id": f"viewer-{n % 7}"},
            "ad": {"id": "ad-1", "durationSeconds": 15, "targeted": False},
        }
        for n in range(count)
    ]


def steady(first: int, last: int) -> list[dict[str, Any]]:
    return [e for m in range(first, last) for e in minute_events(m, STEADY[m % len(STEADY)])]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny series model, registered and not promoted, trained on 400 steady minutes."""
    folder = tmp_path_factory.mktemp("series-registry")
    stamps = np.datetime64(START.replace(tzinfo=None), "m") - np.arange(
        400, 0, -1
    ) * np.timedelta64(1, "m")
    values = np.array([STEADY[i % len(STEADY)] for i in range(400)], dtype=np.float64)
    train_series(
        ModelRegistry(DirectoryBackend(folder)), TENANT, stamps, values, TINY, promote=False
    )
    return folder


async def until(check: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


async def series_when(app: App, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """GET /v1/models' series status, once ``check`` holds (the scoring job is async)."""
    deadline = time.monotonic() + 60
    while not check(status := await app.series()):
        assert time.monotonic() < deadline, f"series status never got there: {status}"
        await asyncio.sleep(0.05)
    return status


def latest_is(minute: int) -> Callable[[dict[str, Any]], bool]:
    return lambda status: (status.get("latest") or {}).get("minute") == minute_iso(minute)


class App:
    def __init__(self, tmp_path: Path, registry: Path, lstm: bool = True) -> None:
        config = standalone_config([write_config(tmp_path / "config", lstm)], tmp_path / "state")
        self.service = RuntimeService(
            config.database_url, config.runtimes, config.keys, api_keys=config.api_keys
        )
        self.runtime = Runtime(self.service, model_dir=registry)
        self.headers = {"X-API-Key": config.api_keys[TENANT][0]}
        self.risk: list[Message] = []
        self.service.broker.add_listener(
            lambda message: self.risk.append(message) if message.topic == "risk" else None
        )
        transport = httpx.ASGITransport(app=self.runtime.app(manage_lifecycle=False))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://ottc.test")

    async def post(self, events: list[dict[str, Any]]) -> None:
        for first in range(0, len(events), 1000):
            answer = await self.client.post(
                "/v1/events", json=events[first : first + 1000], headers=self.headers
            )
            assert answer.status_code == 200, answer.text

    async def series(self) -> dict[str, Any]:
        answer = await self.client.get("/v1/models", headers=self.headers)
        series: dict[str, Any] = answer.json()["series"]
        return series


def minute_iso(minute: int) -> str:
    return (START + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:00Z")


async def test_a_spike_minute_raises_one_series_alert(
    tmp_path: Path, trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTTC_MODEL_REFRESH_SECONDS", "0.2")
    registry_dir = tmp_path / "models"
    shutil.copytree(trained, registry_dir)
    registry = ModelRegistry(DirectoryBackend(registry_dir))
    app = App(tmp_path, registry_dir)
    await app.service.start()
    try:
        # two hours stored while no series model is promoted: nothing is counted or loaded
        await app.post(steady(0, 120))
        status = await app.series()
        assert status["state"] == "no promoted series model"
        registry.promote(TENANT, SERIES_MODEL, 1)
        status = await series_when(app, lambda s: s["state"] == "scoring")
        assert status["version"] == 1
        assert not status["primed"]

        # 40 steady minutes (too few to prime alone: the stored ones prime), a spike, calm
        await app.post(steady(120, 160) + minute_events(160, 60) + steady(161, 164))
        status = await series_when(app, latest_is(162))
        assert status["primed"]
        assert status["bucketsKnown"] >= 163  # the stored minutes came first
        scored = {item["minute"]: item for item in status["recent"]}
        spike = scored[minute_iso(160)]
        assert spike["actual"] == 60
        assert spike["score"] >= 0.9
        before = [item for m, item in scored.items() if m < minute_iso(160)]
        assert before
        assert all(abs(item["forecast"] - item["actual"]) < 1.5 for item in before), before
        # the spike's forecast comes from the calm minutes before it, not from the spike
        assert abs(spike["forecast"] - before[-1]["forecast"]) < 3
        assert [m for m, item in scored.items() if item["alert"]] == [minute_iso(161)]
        assert all(item["score"] < 0.5 for m, item in scored.items() if m < minute_iso(160))

        # one risk row, on the live stream and stored with the spike minute's last event
        await until(lambda: app.risk, "a risk message")
        (message,) = app.risk
        alert = message.payload
        assert alert["model"] == f"{SERIES_MODEL}@1"
        assert alert["eventId"] == "m160-59"
        assert alert["score"] >= 0.9
        explanation = alert["explanation"]
        assert explanation["kind"] == "series"
        assert explanation["minute"] == minute_iso(160)
        assert explanation["actual"] == 60
        assert explanation["forecast"] == spike["forecast"]
        assert explanation["reportedWith"] == minute_iso(161)
        around: dict[str, str | int] = {
            "since": minute_iso(159),
            "until": minute_iso(162),
            "limit": 500,
        }
        stored = await app.client.get("/v1/events", headers=app.headers, params=around)
        assert len(stored.json()["items"]) == 60 + 4 + 4
        risky = {item["id"]: item["risk"] for item in stored.json()["items"] if item.get("risk")}
        assert set(risky) == {"m160-59"}
        assert risky["m160-59"]["score"] == pytest.approx(alert["score"])

        # a newly promoted version goes into service, primed from the known minutes
        shutil.copytree(registry.backend.version_dir(TENANT, SERIES_MODEL, 1), tmp_path / "copy")
        (tmp_path / "copy" / "metadata.json").unlink()
        meta = registry.metadata(TENANT, SERIES_MODEL, 1)
        registry.promote(TENANT, SERIES_MODEL, registry.register(meta, tmp_path / "copy").version)
        await series_when(app, lambda s: s["version"] == 2)
        await app.post(steady(164, 166))
        status = await series_when(app, latest_is(164))
        assert status["primed"]
        assert len(app.risk) == 1
    finally:
        await app.client.aclose()
        await app.service.stop()


async def test_lstm_off_loads_and_scores_nothing(
    tmp_path: Path, trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTTC_MODEL_REFRESH_SECONDS", "0.2")
    registry_dir = tmp_path / "models"
    shutil.copytree(trained, registry_dir)
    ModelRegistry(DirectoryBackend(registry_dir)).promote(TENANT, SERIES_MODEL, 1)
    app = App(tmp_path, registry_dir, lstm=False)
    await app.service.start()
    try:
        status = await series_when(app, lambda s: s["state"] != "not loaded yet")
        assert status["state"].startswith("off")
        await app.post(steady(0, 60) + minute_events(60, 60) + steady(61, 64))
        await asyncio.sleep(1.0)  # several refresh and scoring rounds
        assert app.runtime.model_scoring is not None
        scoring = app.runtime.model_scoring.series
        assert "recent" not in await app.series()
        assert scoring.alerts_stored == 0
        assert app.risk == []
    finally:
        await app.client.aclose()
        await app.service.stop()
