"""A real ``ottc serve`` subprocess for the benchmarks that measure it from outside.

Imported by the bench scripts (their folder is on ``sys.path`` when run as scripts)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from ott_runtime.devcluster.postgres import free_port

REGULATION_SETS = Path(__file__).resolve().parents[2] / "examples" / "regulationsets"


@contextmanager
def ottc_serve(
    config: Path, state: Path, *, env: Mapping[str, str], args: Sequence[str] = ()
) -> Iterator[tuple[str, dict[str, str], int]]:
    """(base URL, the demo API keys by tenant, the server's pid) once it is ready; the
    server reads ``config`` beside the example RegulationSets and logs warnings only."""
    port = free_port()
    ottc = Path(sys.executable).with_name("ottc")
    process = subprocess.Popen(
        [str(ottc), "serve", "--config", str(config), "--config", str(REGULATION_SETS),
         "--state-dir", str(state), "--port", str(port), "--log-level", "warning", *args],
        env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {process.communicate()[1][-2000:]}")
            time.sleep(0.2)
        yield base, json.loads((state / "api-keys.json").read_text()), process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)
