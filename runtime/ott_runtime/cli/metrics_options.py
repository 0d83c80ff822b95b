"""``ottc serve`` flags for who may read ``/metrics`` (see ott_runtime.api.metrics).

Each flag is its environment variable's command-line form: a value given on the command
line is put into the process environment, where the app reads it when it is built. Prefer
the variable for the token (a command line is visible to every local user in ``ps``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ott_runtime.api.metrics import TENANT_LABEL_ENV, TOKEN_ENV

F = TypeVar("F", bound=Callable[..., Any])


def _export(context: click.Context, parameter: click.Parameter, value: object) -> None:
    if value is None:
        return
    assert isinstance(parameter.envvar, str)
    if isinstance(value, bool):
        value = "true" if value else "false"
    os.environ[parameter.envvar] = str(value)


def metrics_options(function: F) -> F:
    decorators = [
        click.option(
            "--metrics-token",
            envvar=TOKEN_ENV,
            expose_value=False,
            callback=_export,
            help=f"Require 'Authorization: Bearer <token>' on /metrics (or set {TOKEN_ENV}).",
        ),
        click.option(
            "--metrics-tenant-label/--no-metrics-tenant-label",
            envvar=TENANT_LABEL_ENV,
            default=None,
            expose_value=False,
            callback=_export,
            help=f"Label /metrics series by tenant (default) or sum them ({TENANT_LABEL_ENV}).",
        ),
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function
