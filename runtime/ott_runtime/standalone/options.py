"""Command-line options shared by ``ottc serve`` and ``ottc demo``."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

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
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function
