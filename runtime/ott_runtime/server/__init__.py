"""The HTTP server: uvicorn with httptools, our header limits and timeouts, TLS 1.3 only."""

from ott_runtime.server.runner import build_server, run_until_signalled

__all__ = ["build_server", "run_until_signalled"]
