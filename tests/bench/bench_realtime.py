"""Ingest-to-client latency of the live stream (not part of pytest).

A runtime (`ottc serve`, SQLite, one uvicorn worker) in its own process; this process
holds N WebSocket clients subscribed to violations and posts events one at a time, each
raising one violation. Latency = from just before the POST to the moment each client has
the message (same machine, same wall clock), so it includes the ingest itself (validate,
rules, commit); the POST's own duration is reported beside it. All clients run in one
asyncio process here: at 1,000 clients their own scheduling is part of the figure.

    .venv/bin/python tests/bench/bench_realtime.py     (or: ottc bench realtime)
    OTTC_BENCH_QUICK=1 ...                              fewer events
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from websockets.asyncio.client import ClientConnection, connect

from ott_runtime.benchreport import BenchReport, percentile
from ott_runtime.storage.pgcluster import free_port

QUICK = os.environ.get("OTTC_BENCH_QUICK") == "1"
CLIENTS = (1, 100, 1000)
EVENTS = 20 if QUICK else 100
GAP_SECONDS = 0.05  # between events: measures latency, not throughput

REGULATION = {
    "apiVersion": "compliance.ott.dev/v1alpha1", "kind": "RegulationSet",
    "metadata": {"name": "kids-ads"},
    "spec": {"jurisdiction": "US", "version": "bench", "rules": [{
        "id": "no-targeted-ads-to-kids", "severity": "critical", "appliesTo": ["ad.impression"],
        "when": "has(event.viewer.isKidsProfile) && event.viewer.isKidsProfile"
                " && has(event.ad.targeted) && event.ad.targeted",
        "message": "Targeted ad shown on a kids profile", "reference": "COPPA"}]},
}  # fmt: skip
TENANT = {
    "apiVersion": "compliance.ott.dev/v1alpha1", "kind": "ComplianceTenant",
    "metadata": {"name": "acme"},
    "spec": {"displayName": "Acme", "regulations": [{"name": "kids-ads"}],
             "gateway": {"rateLimit": {"perSecond": 100000}}},
}  # fmt: skip


def event(event_id: str) -> dict[str, Any]:
    return {
        "specVersion": "1", "id": event_id, "type": "ad.impression",
        "time": "2026-11-26T20:00:00Z", "viewer": {"id": "v", "isKidsProfile": True},
        "content": {"id": "show-1", "channelId": event_id},
        "ad": {"id": "ad-1", "durationSeconds": 5, "targeted": True},
    }  # fmt: skip


def start_server(root: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    (root / "config").mkdir()
    (root / "config" / "bench.yaml").write_text(yaml.safe_dump_all([REGULATION, TENANT]))
    port = free_port()
    ottc = Path(sys.executable).with_name("ottc")
    process = subprocess.Popen(
        [str(ottc), "serve", "--config", str(root / "config"), "--state-dir", str(root / "state"),
         "--port", str(port), "--log-level", "warning"],
        env={**os.environ, "OTTC_STREAM_HEARTBEAT_SECONDS": "300"},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.2)
    key = json.loads((root / "state" / "api-keys.json").read_text())["acme"]
    return process, base, key


async def client(url: str, key: str, arrivals: dict[str, list[float]], ready: asyncio.Event,
                 counter: list[int], total: int) -> ClientConnection:  # fmt: skip
    socket = await connect(url, additional_headers={"X-API-Key": key}, max_queue=None)
    await socket.recv()  # welcome
    await socket.send('{"type": "subscribe", "channel": "violations"}')
    while orjson.loads(await socket.recv())["type"] != "replayed":
        pass
    counter[0] += 1
    if counter[0] == total:
        ready.set()

    async def listen() -> None:
        async for raw in socket:
            now = time.time()
            frame = orjson.loads(raw)
            if frame["type"] == "message":
                arrivals.setdefault(frame["data"]["eventId"], []).append(now)

    asyncio.get_running_loop().create_task(listen())
    return socket


async def run_case(base: str, key: str, clients: int, round_id: str) -> dict[str, Any]:
    url = base.replace("http", "ws") + "/v1/stream"
    arrivals: dict[str, list[float]] = {}
    ready, counter = asyncio.Event(), [0]
    sockets = []
    for start in range(0, clients, 100):  # connect in waves: no SYN storm
        sockets += await asyncio.gather(
            *(client(url, key, arrivals, ready, counter, clients)
              for _ in range(start, min(clients, start + 100)))
        )  # fmt: skip
    await asyncio.wait_for(ready.wait(), 60)
    sent: dict[str, float] = {}
    posts: list[float] = []
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}) as http:
        for index in range(EVENTS):
            event_id = f"{round_id}-{index}"
            body = orjson.dumps({"events": [event(event_id)]})
            sent[event_id] = time.time()
            started = time.perf_counter()
            response = await http.post("/v1/events", content=body)
            posts.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            await asyncio.sleep(GAP_SECONDS)
    deadline = time.monotonic() + 30
    expected = EVENTS * clients
    while sum(len(v) for v in arrivals.values()) < expected and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    latencies = [
        (arrival - sent[event_id]) * 1000
        for event_id, times in arrivals.items()
        for arrival in times
    ]
    for socket in sockets:
        await socket.close()
    received = len(latencies)
    return {
        "clients": clients,
        "messages": f"{received}/{EVENTS * clients}",
        "p50 ms": percentile(latencies, 50),
        "p95 ms": percentile(latencies, 95),
        "p99 ms": percentile(latencies, 99),
        "max ms": max(latencies),
        "POST p50 ms": percentile(posts, 50),
    }


async def measure(base: str, key: str, report: BenchReport) -> None:
    for clients in CLIENTS:
        report.add(**await run_case(base, key, clients, f"c{clients}"))


def main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 16384), hard))  # 1,000 sockets
    report = BenchReport(
        name="realtime",
        title=f"Ingest-to-client latency over /v1/stream ({EVENTS} events, one per POST)",
        columns=["clients", "messages", "p50 ms", "p95 ms", "p99 ms", "max ms", "POST p50 ms"],
    )
    with report.timed(), tempfile.TemporaryDirectory(prefix="ottc-bench-rt-") as root:
        process, base, key = start_server(Path(root))
        try:
            asyncio.run(measure(base, key, report))
        finally:
            process.terminate()
            process.wait(30)
    report.note("server: ottc serve, SQLite, one uvicorn worker; clients: one asyncio process")
    report.note("latency: before the POST until the client has the violation (includes ingest)")
    report.note(f"load average when done: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    report.emit()


if __name__ == "__main__":
    main()
