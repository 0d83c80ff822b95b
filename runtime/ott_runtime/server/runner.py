"""Runs the REST app under uvicorn: one worker, httptools, TLS 1.3 only with a certificate."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import uvicorn

from ott_runtime.api.limits import HttpLimits
from ott_runtime.app import Runtime
from ott_runtime.server.protocol import protocol_with_limits
from ott_runtime.server.tls import server_context


def build_server(
    runtime: Runtime,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    log_level: str = "info",
    access_log: bool = False,
    limits: HttpLimits | None = None,
) -> uvicorn.Server:
    """``access_log``: uvicorn's line per request, without its query string (see
    :func:`ott_runtime.telemetry.logs.configure_logging`)."""
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    limits = limits or HttpLimits()
    config = uvicorn.Config(
        runtime.app(limits=limits),
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        # httptools with a header size limit and header and body timeouts
        http=protocol_with_limits(limits),
        timeout_keep_alive=limits.keep_alive_timeout,
        lifespan="on",
        proxy_headers=True,
        # the live stream sends one frame to many clients: with permessage-deflate each
        # client's copy is compressed separately (its own zlib context), half the fan-out
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=10,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
    )
    config.load()
    if tls_cert is not None and tls_key is not None:
        # uvicorn's own context allows TLS 1.2; ours refuses anything below 1.3
        config.ssl = server_context(tls_cert, tls_key)
    return uvicorn.Server(config)


def run_until_signalled(server: uvicorn.Server) -> None:
    """Serves until SIGINT or SIGTERM, then shuts down gracefully and returns normally.

    uvicorn re-raises the signal it caught once it has shut down; ours turn that into a
    clean return, so `kubectl delete pod` and Ctrl-C both end with exit status 0."""

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(0)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        # uvicorn's own loop choice (uvloop when installed), as `uvicorn.run` would make it
        with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
            runner.run(server.serve())
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
