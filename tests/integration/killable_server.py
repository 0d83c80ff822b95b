"""`ottc serve` as a real process that a test can kill -9 and start again on the same state.

Shared by the resilience tests (tests/integration/test_resilience_kill.py) and the long
runs in tests/bench/bench_resilience.py, so it imports nothing from the test packages:

    with KillableServer(config_dir, state_dir) as server:
        key = server.api_key("acme")
        ...
        server.kill()    # SIGKILL: no shutdown hook runs
        server.start()   # same port, same SQLite database and keyrings
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml

OTTC = Path(sys.executable).with_name("ottc")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(folder: Path, documents: list[dict[str, Any]]) -> Path:
    """The YAML documents (RegulationSets, ComplianceTenants) as one file of ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump_all(documents))
    return folder


class KillableServer:
    """One `ottc serve --config DIR --state-dir STATE` on loopback (embedded SQLite).

    Every start appends to ``log_path``; ``starts`` counts them."""

    def __init__(
        self,
        config: Path,
        state: Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        ready_timeout_s: float = 120,
        args: tuple[str, ...] = (),
    ) -> None:
        """``args``: more `ottc serve` options (a repeated option overrides, e.g.
        ``("--log-level", "debug")``)."""
        self.config = config
        self.state = state
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = state.parent / f"{state.name}-serve.log"
        self.ready_timeout_s = ready_timeout_s
        self.starts = 0
        self._env = env or {}
        self._args = args
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None, "not started"
        return self._process.pid

    def start(self) -> None:
        """Start the process and wait until /readyz answers 200."""
        assert self._process is None or self._process.poll() is not None, "already running"
        env = {**os.environ, **self._env}
        for inherited in ("DATABASE_URL", "OTTC_POOL_NAMESPACE"):  # embedded SQLite only
            if inherited not in self._env:
                env.pop(inherited, None)
        command = [
            str(OTTC), "serve", "--config", str(self.config), "--state-dir", str(self.state),
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
            *self._args,
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts + 1}\n".encode())
            log.flush()
            self._process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"ottc serve exited:\n{self.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"ottc serve not ready in {self.ready_timeout_s} s")
            time.sleep(0.1)

    def kill(self) -> None:
        """kill -9: the process gets no chance to flush or shut down."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=30)

    def stop(self, timeout_s: float = 30) -> int | None:
        """SIGTERM (what Kubernetes sends), SIGKILL if it does not exit; the exit status."""
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def api_key(self, tenant: str) -> str:
        """The key `ottc serve` generated for ``tenant`` on its first start."""
        keys: dict[str, str] = json.loads((self.state / "api-keys.json").read_text())
        return keys[tenant]

    def log_tail(self, characters: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-characters:]

    def __enter__(self) -> KillableServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
