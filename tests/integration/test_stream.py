"""`/v1/stream` over real sockets: uvicorn, the `websockets` client, SQLite and two runtime
processes sharing one PostgreSQL (LISTEN/NOTIFY fan-out)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ott_runtime.config import standalone_config
from ott_runtime.storage import Database

from .conftest import REGULATION, PostgresServer, _free_port, _fresh_database

SERVE = """
import asyncio, sys
from pathlib import Path
from ott_runtime.service import RuntimeService
from ott_runtime.config import standalone_config
from ott_runtime.server import build_server
from ott_runtime.app import Runtime

config = standalone_config([Path(sys.argv[1])], Path(sys.argv[2]), sys.argv[3])
service = RuntimeService(config.database_url, config.runtimes, config.keys,
                         api_keys=config.api_keys)
asyncio.run(build_server(Runtime(service), port=int(sys.argv[4]), log_level="warning").serve())
"""


def ad(event_id: str, *, kids: bool = False) -> dict[str, Any]:
    return {
        "specVersion": "1",
        "id": event_id,
        "type": "ad.impression",
        "time": "2026-11-26T20:00:00Z",
        "viewer": {"id": "v-1", "isKidsProfile": kids},
        "content": {"id": "show-1", "channelId": "ch-1"},
        "ad": {"id": "ad-1", "durationSeconds": 5, "targeted": kids},
    }


def write_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tenant = {
        "apiVersion": "compliance.ott.dev/v1alpha1",
        "kind": "ComplianceTenant",
        "metadata": {"name": "acme"},
        "spec": {
            "displayName": "Acme",
            "regulations": [{"name": "kids-ads"}],
            "gateway": {"rateLimit": {"perSecond": 10000}},
        },
    }
    (folder / "config.yaml").write_text(yaml.safe_dump_all([REGULATION, tenant]))
    return folder


class Runtime:
    """One `ottc serve`-like process on a free port; :meth:`ready` waits for /readyz."""

    def __init__(self, config: Path, state: Path, database_url: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.state = state
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(config), str(state), database_url, str(self.port)],
            env={**os.environ, "OTTC_STREAM_HEARTBEAT_SECONDS": "30"},
        )

    def ready(self) -> Runtime:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the runtime process exited"
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("the runtime did not become ready in 90 s")
        self.api_key = json.loads((self.state / "api-keys.json").read_text())["acme"]
        return self

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)


@pytest.fixture(scope="module")
def sqlite_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    root = tmp_path_factory.mktemp("stream")
    runtime = Runtime(write_config(root / "config"), root / "state", f"sqlite:///{root}/s.db")
    yield runtime.ready()
    runtime.stop()


@asynccontextmanager
async def client(runtime: Runtime, **headers: str) -> AsyncIterator[ClientConnection]:
    url = f"ws://127.0.0.1:{runtime.port}/v1/stream"
    async with connect(url, additional_headers=headers or None) as socket:
        yield socket


async def frames_until(socket: ClientConnection, kind: str, count: int = 1) -> list[Any]:
    seen: list[Any] = []
    async with asyncio.timeout(10):
        while sum(1 for f in seen if f["type"] == kind) < count:
            frame = orjson.loads(await socket.recv())
            if frame["type"] == "ping":
                await socket.send('{"type": "pong"}')
            seen.append(frame)
    return seen


async def ingest(runtime: Runtime, *events: dict[str, Any]) -> None:
    """Posts one batch as a well-behaved client does: a 429/503 from admission control
    (more of this tenant's batches in flight than the replica admits) is retried after
    its Retry-After; nothing of a refused batch was stored."""
    async with httpx.AsyncClient() as http:
        for _ in range(20):
            response = await http.post(
                f"{runtime.base}/v1/events",
                content=orjson.dumps({"events": list(events)}),
                headers={"X-API-Key": runtime.api_key},
            )
            if response.status_code not in (429, 503):
                break
            await asyncio.sleep(float(response.headers["Retry-After"]) * random.uniform(0.2, 1))
    assert response.status_code == 200, response.text


async def test_stream_over_a_real_socket_with_resume(sqlite_runtime: Runtime) -> None:
    runtime = sqlite_runtime
    async with client(runtime, **{"X-API-Key": runtime.api_key}) as socket:
        welcome = orjson.loads(await socket.recv())
        assert welcome["tenant"] == "acme"
        assert welcome["heartbeatSeconds"] == 30
        await socket.send(orjson.dumps({"type": "subscribe", "channel": "violations"}).decode())
        await frames_until(socket, "replayed")
        await ingest(runtime, ad("e1", kids=True), ad("e2"))
        (live,) = [f for f in await frames_until(socket, "message") if f["type"] == "message"]
        assert live["data"]["eventId"] == "e1"
        assert live["data"]["ruleId"] == "no-targeted-ads-to-kids"
        cursor = live["cursor"]

    await ingest(runtime, ad("e3", kids=True), ad("e4", kids=True))  # nobody listening
    async with client(runtime) as socket:  # browsers: the key in a first frame
        await socket.send(orjson.dumps({"type": "auth", "apiKey": runtime.api_key}).decode())
        subscribe = {"type": "subscribe", "channel": "violations", "cursor": cursor}
        await socket.send(orjson.dumps(subscribe).decode())
        frames = await frames_until(socket, "replayed")
        await ingest(runtime, ad("e5", kids=True))
        frames += await frames_until(socket, "message")
    got = [f["data"]["eventId"] for f in frames if f["type"] == "message"]
    assert got == ["e3", "e4", "e5"]


async def test_a_wrong_key_is_refused_with_a_reason(sqlite_runtime: Runtime) -> None:
    async with client(sqlite_runtime, **{"X-API-Key": "ottc_wrong_key_0000000000000"}) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401
    assert "unknown or revoked" in closed.value.rcvd.reason


async def test_an_event_ingested_through_one_replica_reaches_a_client_of_another(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    database_url = await _fresh_database(postgres)
    config, state = write_config(tmp_path / "config"), tmp_path / "state"
    # keyrings and API key files made once; both replicas migrate and register on start
    standalone_config([config], state, database_url)
    replica_a = Runtime(config, state, database_url)
    replica_b = Runtime(config, state, database_url)
    try:
        await asyncio.gather(asyncio.to_thread(replica_a.ready), asyncio.to_thread(replica_b.ready))
        async with client(replica_b, **{"X-API-Key": replica_b.api_key}) as socket:
            await socket.send(orjson.dumps({"type": "subscribe", "channel": "events"}).decode())
            await socket.send(orjson.dumps({"type": "subscribe", "channel": "violations"}).decode())
            await frames_until(socket, "replayed", 2)
            await ingest(replica_a, *(ad(f"a{i}", kids=i % 2 == 0) for i in range(6)))
            frames = await frames_until(socket, "message", 9)
    finally:
        replica_a.stop()
        replica_b.stop()
    events = [f["data"]["id"] for f in frames if f.get("channel") == "events"]
    violations = [f["data"]["eventId"] for f in frames if f.get("channel") == "violations"]
    assert events == [f"a{i}" for i in range(6)]
    assert violations == ["a0", "a2", "a4"]


async def test_a_client_of_a_third_replica_sees_concurrent_ingests_in_commit_order(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """Two replicas ingest for one tenant at once; a client of a third receives every event
    once and in increasing seq, so its resume cursor can never pass a row it was not sent
    (the batches are NOTIFYed inside their own transactions)."""
    database_url = await _fresh_database(postgres)
    config, state = write_config(tmp_path / "config"), tmp_path / "state"
    prepared = standalone_config([config], state, database_url)
    database = Database(prepared.database_url)
    await database.migrate()
    await database.close()
    writers = [Runtime(config, state, database_url) for _ in range(2)]
    reader = Runtime(config, state, database_url)
    replicas = [*writers, reader]
    try:
        await asyncio.gather(*(asyncio.to_thread(r.ready) for r in replicas))
        async with client(reader, **{"X-API-Key": reader.api_key}) as socket:
            await socket.send(orjson.dumps({"type": "subscribe", "channel": "events"}).decode())
            await frames_until(socket, "replayed")
            await asyncio.gather(
                *(
                    ingest(writer, *(ad(f"w{w}-b{b}-{i}") for i in range(5)))
                    for b in range(8)
                    for w, writer in enumerate(writers)
                )
            )
            frames = await frames_until(socket, "message", 80)
    finally:
        for replica in replicas:
            replica.stop()
    seqs = [f["data"]["seq"] for f in frames if f.get("channel") == "events"]
    assert len(seqs) == 80
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 80
