"""Billing survives `kill -9` of a real `ottc serve` on SQLite, and its files are private.

An answered ingest call is counted in its own transaction (exact); an answered read call
is counted by the write-behind flush, so a crash loses at most the read calls answered in
the last flush window (usage.meter.FLUSH_INTERVAL_SECONDS, 0.5 s, plus one flush), which
the promise rounds up to 1 s.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from ott_runtime.devcluster.processes import default_sigint
from ott_runtime.usage.meter import FLUSH_INTERVAL_SECONDS

from .conftest import REGULATION, _free_port

TENANT = "bill-co"
LOSS_BOUND_SECONDS = 1.0  # what the README promises for read calls
OTTC = Path(sys.executable).with_name("ottc")


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    tenant = {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": TENANT},
        "spec": {
            "displayName": "Bill Co",
            "regulations": [{"name": "kids-ads"}],
            "gateway": {"rateLimit": {"perSecond": 100000}},  # no 429 in the read loop
        },
    }
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "all.yaml").write_text(yaml.safe_dump_all([REGULATION, tenant]))
    return folder


def _child_setup() -> None:
    os.umask(0o022)  # the usual umask: the files must be private regardless
    default_sigint()


@contextlib.contextmanager
def served(config_dir: Path, state: Path, *flags: str) -> Iterator[httpx.Client]:
    """`ottc serve` on SQLite in ``state``; yields a client once ready. Leaving the block
    kills the process with SIGKILL (the test's crash), unless it is gone already."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    command = [str(OTTC), "serve", "--config", str(config_dir), "--state-dir", str(state),
               "--port", str(port), "--log-level", "warning", *flags]  # fmt: skip
    log_path = state.parent / f"{state.name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=_child_setup
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 90
            while True:
                assert process.poll() is None, log_path.read_text()[-4000:]
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/readyz").status_code == 200:
                        break
                assert time.monotonic() < deadline, "ottc serve did not become ready"
                time.sleep(0.1)
            key = json.loads((state / "api-keys.json").read_text())[TENANT]
            client.headers["X-API-Key"] = key
            yield client
    finally:
        process.kill()  # kill -9
        process.wait(timeout=30)


def _event(number: int) -> dict[str, object]:
    return {
        "specVersion": "1",
        "id": f"bill-{number}",
        "type": "playback.start",
        "time": "2026-11-26T20:00:00Z",
        "content": {"id": "show-1"},
    }


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_answered_ingest_calls_survive_kill_9_exactly(config_dir: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    answered = 25
    with served(config_dir, state) as client:
        for number in range(answered):
            response = client.post("/v1/events", json=[_event(number)])
            assert response.status_code == 200, response.text
        # owner-only: the state dir and the database with the WAL and shared-memory files
        # SQLite made beside it while serving (the child ran with umask 022)
        assert _mode(state) == 0o700
        for name in ("ottc.db", "ottc.db-wal", "ottc.db-shm"):
            assert _mode(state / name) == 0o600, name
    # killed right after the last answer: no flush window was waited for
    with served(config_dir, state) as client:
        usage = client.get("/v1/usage").json()
    assert (usage["events"], usage["apiCalls"]) == (answered, answered)


def test_read_calls_lost_to_kill_9_are_at_most_the_last_second(
    config_dir: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    answered_at: list[float] = []
    with served(config_dir, state) as client:
        started = time.monotonic()
        while time.monotonic() - started < 4 * LOSS_BOUND_SECONDS:
            assert client.get("/v1/regulations").status_code == 200
            answered_at.append(time.monotonic())
        killed_at = time.monotonic()
    with served(config_dir, state) as client:
        stored = client.get("/v1/usage").json()["apiCalls"]
    answered = len(answered_at)
    assert stored <= answered  # nothing counted twice
    # the counts commit in order, so the stored ones are the earliest answers
    oldest_lost_age = killed_at - answered_at[stored] if stored < answered else 0.0
    print(
        f"read calls: {answered} answered, {stored} stored, {answered - stored} lost; "
        f"oldest lost answered {oldest_lost_age:.3f} s before the kill "
        f"(flush interval {FLUSH_INTERVAL_SECONDS} s)"
    )
    assert oldest_lost_age <= LOSS_BOUND_SECONDS
    within_bound = sum(1 for t in answered_at if killed_at - t <= LOSS_BOUND_SECONDS)
    assert stored >= answered - within_bound


def test_serve_flags_guard_metrics(config_dir: Path, tmp_path: Path) -> None:
    flags = ("--metrics-token", "s3cret-Token", "--no-metrics-tenant-label")
    with served(config_dir, tmp_path / "state", *flags) as client:
        assert client.post("/v1/events", json=[_event(1)]).status_code == 200
        refused = client.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["www-authenticate"].startswith("Bearer")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
        assert wrong.status_code == 401
        scraped = client.get("/metrics", headers={"Authorization": "Bearer s3cret-Token"})
        assert scraped.status_code == 200
        assert "ottc_events_ingested_total 1.0" in scraped.text
        assert TENANT not in scraped.text
