"""A throwaway Jaeger v2 (in-memory store) on free loopback ports, for tests and benchmarks.

The binary is the one `hack/build-tools.sh jaeger` builds from the Go module proxy and
caches; `OTTC_JAEGER_BIN` names another one outright. Never used by the runtime itself,
which only speaks OTLP to whatever `OTEL_EXPORTER_OTLP_ENDPOINT` names.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from ott_runtime.devcluster.postgres import free_port
from ott_runtime.devcluster.tools import repo_root

JAEGER_BIN_ENV = "OTTC_JAEGER_BIN"


class JaegerUnavailable(RuntimeError):
    """No Jaeger binary here, or it did not come up."""


def find_jaeger() -> Path:
    """`$OTTC_JAEGER_BIN`, else the cached build (built on first use, minutes)."""
    configured = os.environ.get(JAEGER_BIN_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not os.access(path, os.X_OK):
            raise JaegerUnavailable(f"${JAEGER_BIN_ENV} names {path}, which is not executable")
        return path
    root = repo_root()
    if root is None:
        raise JaegerUnavailable(f"set {JAEGER_BIN_ENV} to a Jaeger v2 binary")
    result = subprocess.run(
        ["bash", str(root / "hack" / "build-tools.sh"), "jaeger"],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    printed = result.stdout.strip().splitlines()
    if result.returncode != 0 or not printed:
        raise JaegerUnavailable(
            f"hack/build-tools.sh jaeger failed (exit {result.returncode}); see its messages"
        )
    return Path(printed[-1]) / "jaeger"


def jaeger_config(
    otlp_grpc: int,
    otlp_http: int,
    query: int,
    query_grpc: int,
    health: int,
    max_traces: int = 200_000,
) -> dict[str, Any]:
    """Jaeger's OpenTelemetry-collector config: OTLP in, memory store, query API out."""
    loopback = "127.0.0.1"
    return {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["batch"],
                    "exporters": ["jaeger_storage_exporter"],
                }
            },
            # Jaeger's own metrics would take the fixed port 8888: not needed here.
            "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
        },
        "extensions": {
            "healthcheckv2": {"use_v2": True, "http": {"endpoint": f"{loopback}:{health}"}},
            "jaeger_query": {
                "storage": {"traces": "memstore"},
                "http": {"endpoint": f"{loopback}:{query}"},
                "grpc": {"endpoint": f"{loopback}:{query_grpc}"},
            },
            "jaeger_storage": {"backends": {"memstore": {"memory": {"max_traces": max_traces}}}},
        },
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": f"{loopback}:{otlp_grpc}"},
                    "http": {"endpoint": f"{loopback}:{otlp_http}"},
                }
            }
        },
        "processors": {"batch": {}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
    }


@dataclass(frozen=True)
class JaegerServer:
    otlp_grpc_endpoint: str  # http://127.0.0.1:port (OTEL_EXPORTER_OTLP_PROTOCOL=grpc)
    otlp_http_endpoint: str  # http://127.0.0.1:port (http/protobuf; the SDK appends /v1/traces)
    query_url: str  # Jaeger's HTTP query API (the UI's /api/...)
    log_path: Path

    def otel_env(self, service_name: str, protocol: str = "http/protobuf") -> dict[str, str]:
        """The standard OTEL_* variables that point an SDK at this Jaeger."""
        endpoint = self.otlp_grpc_endpoint if protocol == "grpc" else self.otlp_http_endpoint
        return {
            "OTEL_SERVICE_NAME": service_name,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        }

    def traces(
        self, service: str, *, limit: int = 1000, params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Traces of one service from the query API (Jaeger's JSON model)."""
        query = {"service": service, "limit": str(limit), "lookback": "1h", **(params or {})}
        answer = httpx.get(f"{self.query_url}/api/traces", params=query, timeout=30)
        answer.raise_for_status()
        return list(answer.json()["data"] or [])

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        answer = httpx.get(f"{self.query_url}/api/traces/{trace_id}", timeout=30)
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        data = answer.json()["data"]
        return data[0] if data else None

    def services(self) -> list[str]:
        answer = httpx.get(f"{self.query_url}/api/services", timeout=10)
        answer.raise_for_status()
        return list(answer.json()["data"] or [])


def _wait_ready(
    process: subprocess.Popen[bytes], health_url: str, log_path: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise JaegerUnavailable(f"jaeger exited with {process.returncode}:\n{tail}")
        with suppress(httpx.HTTPError):
            if httpx.get(health_url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise JaegerUnavailable(f"jaeger not ready after {timeout:.0f}s (log: {log_path})")


@contextmanager
def throwaway_jaeger(binary: Path | None = None, *, timeout: float = 60) -> Iterator[JaegerServer]:
    """Jaeger v2 with an in-memory store on free loopback ports; stopped (and its files
    removed) on exit."""
    binary = binary or find_jaeger()
    workdir = Path(tempfile.mkdtemp(prefix="ottc-jaeger-"))
    ports = [free_port() for _ in range(5)]
    otlp_grpc, otlp_http, query, _query_grpc, health = ports
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(jaeger_config(*ports)))
    log_path = workdir / "jaeger.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [str(binary), "--config", str(config_path)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    try:
        _wait_ready(process, f"http://127.0.0.1:{health}/status", log_path, timeout)
        yield JaegerServer(
            otlp_grpc_endpoint=f"http://127.0.0.1:{otlp_grpc}",
            otlp_http_endpoint=f"http://127.0.0.1:{otlp_http}",
            query_url=f"http://127.0.0.1:{query}",
            log_path=log_path,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)
