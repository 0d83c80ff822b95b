"""`ottc serve` as a real process for e2e tests: on a loopback port, ready, stopped after."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

OTTC = Path(sys.executable).parent / "ottc"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serve(extra_env: dict[str, str], work: Path, port: int | None = None) -> Iterator[httpx.Client]:
    """`ottc serve` in cluster mode (``extra_env`` names its folders or its pool namespace),
    on SQLite in ``work``; yields a client once /readyz answers, prints its log at the end."""
    port = port or free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{work / 'pool.db'}", **extra_env}
    if "OTTC_POOL_NAMESPACE" not in extra_env:
        env.pop("OTTC_POOL_NAMESPACE", None)
    log_path = work / "serve.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [str(OTTC), "serve", "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                deadline = time.monotonic() + 90
                while True:
                    assert server.poll() is None, log_path.read_text()
                    with contextlib.suppress(httpx.TransportError):
                        if client.get("/readyz").status_code == 200:
                            break
                    assert time.monotonic() < deadline, "ottc serve did not become ready"
                    time.sleep(0.2)
                yield client
        finally:
            stop(server, timeout=20)
            print(log_path.read_text()[-4000:])


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM (what Kubernetes sends), then SIGKILL if it does not exit in time."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
