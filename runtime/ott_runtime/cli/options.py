"""Command-line options shared by ``ottc serve`` and ``ottc demo``."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from ott_runtime.api.limits import HttpLimits

F = TypeVar("F", bound=Callable[..., Any])


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ott-compliance"


def server_options(function: F) -> F:
    decorators = [
        click.option(
            "--state-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=default_state_dir,
            show_default="$XDG_STATE_HOME/ott-compliance",
            help="Standalone: SQLite database, keyrings and demo API keys.",
        ),
        click.option(
            "--database-url",
            envvar="DATABASE_URL",
            help="sqlite:///path or postgresql://user@host/db (default: SQLite in the state dir).",
        ),
        click.option("--host", envvar="OTTC_HOST", default="127.0.0.1", show_default=True),
        click.option("--port", envvar="OTTC_PORT", type=int, default=8080, show_default=True),
        click.option(
            "--tls-cert",
            envvar="OTTC_TLS_CERT",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="PEM certificate: serve HTTPS, TLS 1.3 only.",
        ),
        click.option(
            "--tls-key",
            envvar="OTTC_TLS_KEY",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="PEM private key of --tls-cert.",
        ),
        click.option(
            "--plans",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Plan price list (YAML); default: the packaged one.",
        ),
        click.option("--log-level", default="info", show_default=True),
        *_http_limit_options(),
    ]

    # the command gets the HTTP limit flags as one ``http_limits`` (HttpLimits)
    @functools.wraps(function)
    def command(
        *args: Any,
        max_header_bytes: int,
        header_timeout: float,
        body_timeout: float,
        keep_alive_timeout: int,
        **kwargs: Any,
    ) -> Any:
        limits = HttpLimits(max_header_bytes, header_timeout, body_timeout, keep_alive_timeout)
        return function(*args, http_limits=limits, **kwargs)

    wrapped = cast(F, command)
    for decorator in reversed(decorators):
        wrapped = decorator(wrapped)
    return wrapped


def _http_limit_options() -> list[Callable[[F], F]]:
    default = HttpLimits()
    seconds = click.FloatRange(min=0, min_open=True)
    return [
        click.option(
            "--max-header-bytes",
            envvar="OTTC_MAX_HEADER_BYTES",
            type=click.IntRange(min=1),
            default=default.max_header_bytes,
            show_default=True,
            help="Request line and headers at most this long; beyond it a 431.",
        ),
        click.option(
            "--header-timeout",
            envvar="OTTC_HEADER_TIMEOUT",
            type=seconds,
            default=default.header_timeout,
            show_default=True,
            help="Seconds a client has to send a request's headers (from the connection's or "
            "the request's first byte); then a 408 and the connection is closed.",
        ),
        click.option(
            "--body-timeout",
            envvar="OTTC_BODY_TIMEOUT",
            type=seconds,
            default=default.body_timeout,
            show_default=True,
            help="Seconds a client has to send a request's body after its headers; then a "
            "408 and the connection is closed.",
        ),
        click.option(
            "--keep-alive-timeout",
            envvar="OTTC_KEEP_ALIVE_TIMEOUT",
            type=click.IntRange(min=1),
            default=default.keep_alive_timeout,
            show_default=True,
            help="Seconds an idle keep-alive connection stays open between requests.",
        ),
    ]
