"""Ingest-to-client latency of the live stream (not part of pytest).

A runtime (`ottc serve`, SQLite, one uvicorn worker) in its own process; N WebSocket
clients subscribed to violations, spread over several client processes; this process
posts events one at a time, each raising one violation. Latency = from just before the
POST to the moment a client has the message, both stamped with ``time.time()`` on the
same machine, so it includes the ingest itself (validate, rules, commit); the POST's own
duration is reported beside it.

The clients are lean on purpose (websockets' sans-I/O protocol on a plain asyncio
protocol, uvloop, up to 250 clients per process, offering permessage-deflate as browsers
do): with 1,000 full asyncio clients in one process on two cores, the clients' own
scheduling was most of the measured latency. ``OTTC_BENCH_CLIENT_PROCESSES`` overrides
the process count.

    .venv/bin/python tests/bench/bench_realtime.py     (or: ottc bench realtime)
    OTTC_BENCH_QUICK=1 ...                              fewer events
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import orjson
import uvloop
import yaml
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import enable_client_permessage_deflate
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from ott_runtime.benchreport import BenchReport, percentile, process_cpu_clock
from ott_runtime.devcluster.postgres import free_port

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


CLIENTS_PER_PROCESS = 250


class LeanClient(asyncio.Protocol):
    """One WebSocket client: handshake, subscribe, then stamp each live message."""

    def __init__(self, url: str, key: str, arrivals: dict[str, list[float]]) -> None:
        self.connection = ClientProtocol(
            parse_uri(url), extensions=enable_client_permessage_deflate(None)
        )
        self.request = self.connection.connect()
        self.request.headers["X-API-Key"] = key
        self.arrivals = arrivals
        self.subscribed = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.connection.send_request(self.request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.connection.receive_data(data)
        for received in self.connection.events_received():
            if not isinstance(received, Frame) or received.opcode is not Opcode.TEXT:
                continue
            frame = orjson.loads(received.data)
            kind = frame["type"]
            if kind == "message":
                self.arrivals.setdefault(frame["data"]["eventId"], []).append(now)
            elif kind == "welcome":
                self.connection.send_text(b'{"type": "subscribe", "channel": "violations"}')
            elif kind == "replayed" and not self.subscribed.done():
                self.subscribed.set_result(None)
        self._flush()

    def _flush(self) -> None:
        assert self.transport is not None
        for data in self.connection.data_to_send():
            if data:
                self.transport.write(data)
            else:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(exc or ConnectionError("closed before subscribing"))


async def client_group(url: str, key: str, count: int, expected: int, pipe: Connection) -> None:
    """A client process: ``count`` clients; tells the parent when all are subscribed, then
    sends back every client's arrival times once ``expected`` messages came (or after
    ``stop`` from the parent)."""
    loop = asyncio.get_running_loop()
    port = urlsplit(url).port
    arrivals: dict[str, list[float]] = {}
    clients: list[LeanClient] = []
    for start in range(0, count, 50):  # connect in waves: no SYN storm
        made = await asyncio.gather(*(
            loop.create_connection(lambda: LeanClient(url, key, arrivals), "127.0.0.1", port)
            for _ in range(start, min(count, start + 50))
        ))  # fmt: skip
        clients += [protocol for _transport, protocol in made]
        await asyncio.wait_for(asyncio.gather(*(c.subscribed for c in clients[start:])), 60)
    pipe.send("ready")
    stop = loop.create_future()
    loop.add_reader(pipe.fileno(), lambda: stop.done() or stop.set_result(None))
    while not stop.done() and sum(map(len, arrivals.values())) < expected:
        await asyncio.wait([stop], timeout=0.05)
    loop.remove_reader(pipe.fileno())
    os.set_blocking(pipe.fileno(), True)  # add_reader made it non-blocking; this send is big
    pipe.send(arrivals)
    for c in clients:
        if c.transport is not None:
            c.transport.close()


def client_process(url: str, key: str, count: int, expected: int, pipe: Connection) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 16384), hard))
    try:
        uvloop.run(client_group(url, key, count, expected, pipe))
    except BaseException as error:
        pipe.send(f"client process failed: {error!r}")
        raise


def split(clients: int) -> list[int]:
    processes = int(os.environ.get("OTTC_BENCH_CLIENT_PROCESSES", "0")) or max(
        1, -(-clients // CLIENTS_PER_PROCESS)
    )
    processes = min(processes, clients)
    return [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]


async def run_case(
    base: str, key: str, server_pid: int, clients: int, round_id: str
) -> dict[str, Any]:
    url = base.replace("http", "ws") + "/v1/stream"
    context = multiprocessing.get_context("spawn")
    groups = []
    for count in split(clients):
        parent, child = context.Pipe()
        process = context.Process(
            target=client_process, args=(url, key, count, EVENTS * count, child), daemon=True
        )
        process.start()
        groups.append((process, parent))
    loop = asyncio.get_running_loop()
    for _process, pipe in groups:
        ready = await loop.run_in_executor(None, pipe.recv)
        if ready != "ready":
            raise RuntimeError(f"a client process failed: {ready!r}")
    sent: dict[str, float] = {}
    posts: list[float] = []
    cpu_seconds = process_cpu_clock(server_pid)
    cpu_before = cpu_seconds()
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
    latencies: list[float] = []
    for process, pipe in groups:
        if not await loop.run_in_executor(None, pipe.poll, 30):
            pipe.send("stop")  # give up waiting for missing messages
        arrivals: dict[str, list[float]] = await loop.run_in_executor(None, pipe.recv)
        latencies += [
            (arrival - sent[event_id]) * 1000
            for event_id, times in arrivals.items()
            for arrival in times
        ]
        process.join(30)
    server_cpu = cpu_seconds() - cpu_before  # all messages are in by now
    received = len(latencies)
    return {
        "clients": clients,
        "processes": len(groups),
        "messages": f"{received}/{EVENTS * clients}",
        "p50 ms": percentile(latencies, 50),
        "p95 ms": percentile(latencies, 95),
        "p99 ms": percentile(latencies, 99),
        "max ms": max(latencies),
        "POST p50 ms": percentile(posts, 50),
        # load-independent: what one event costs the server, its ingest and its fan-out
        "server CPU ms/event": server_cpu * 1000 / EVENTS,
    }


async def measure(base: str, key: str, server_pid: int, report: BenchReport) -> None:
    for clients in CLIENTS:
        report.add(**await run_case(base, key, server_pid, clients, f"c{clients}"))


def main() -> None:
    report = BenchReport(
        name="realtime",
        title=f"Ingest-to-client latency over /v1/stream ({EVENTS} events, one per POST)",
        columns=[
            "clients",
            "processes",
            "messages",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "POST p50 ms",
            "server CPU ms/event",
        ],
    )
    with report.timed(), tempfile.TemporaryDirectory(prefix="ottc-bench-rt-") as root:
        process, base, key = start_server(Path(root))
        try:
            asyncio.run(measure(base, key, process.pid, report))
        finally:
            process.terminate()
            process.wait(30)
    report.note("server: ottc serve, SQLite, one uvicorn worker")
    report.note(f"clients: lean sans-I/O clients on uvloop, up to {CLIENTS_PER_PROCESS} a process")
    report.note("latency: before the POST until the client has the violation (includes ingest)")
    report.note(f"load average when done: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    report.emit()


if __name__ == "__main__":
    main()
