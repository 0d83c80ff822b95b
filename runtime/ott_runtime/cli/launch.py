"""Shared by `ottc serve` and `ottc demo`: assemble the runtime and print where it listens."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ott_runtime.api.admission import AdmissionSettings
from ott_runtime.app import Runtime
from ott_runtime.config import cluster_config, standalone_config
from ott_runtime.config.loading import RELOAD_ENV
from ott_runtime.config.reload import enable_reload
from ott_runtime.domain.documents import DocumentErrors
from ott_runtime.domain.rules import MissingRegulationSets, RuleCompileError, RuleResolutionError
from ott_runtime.scoring import model_dir_from_env
from ott_runtime.service import RuntimeService
from ott_runtime.usage import PriceList


def _start_pool_sync() -> None:
    """The pool: copy the pooled tenants' ConfigMaps and Secrets into the folders first
    (ott_runtime.poolsync), keep them in step, and reload from them while serving."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    from ott_runtime.poolsync.sync import start_in_process

    os.environ.setdefault(RELOAD_ENV, "2")
    try:
        start_in_process(os.environ)
    except (ApiException, HTTPError, OSError) as error:
        raise click.ClickException(f"pool sync: cannot list the pool's objects: {error}") from None


def load_runtime(
    config_paths: tuple[Path, ...],
    state_dir: Path,
    database_url: str | None,
    plans: Path | None,
    admission: AdmissionSettings | None = None,
) -> tuple[Runtime, dict[str, str]]:
    """The service from files (``config_paths``) or the cluster's mounts, assembled with
    model scoring, and the first API key of each tenant (shown by ``ottc demo``)."""
    if not config_paths and os.environ.get("OTTC_POOL_NAMESPACE"):
        _start_pool_sync()
    try:
        if config_paths:
            config = standalone_config(config_paths, state_dir, database_url)
        else:
            config = cluster_config()
    except (
        DocumentErrors,
        MissingRegulationSets,
        RuleCompileError,
        RuleResolutionError,
        ValueError,
        FileNotFoundError,
    ) as error:
        raise click.ClickException(str(error)) from None
    service = RuntimeService(
        config.database_url,
        config.runtimes,
        config.keys,
        api_keys=config.api_keys,
        prices=PriceList.load(plans) if plans else None,
    )
    if not config_paths and (os.environ.get(RELOAD_ENV) or os.environ.get("OTTC_POOL_NAMESPACE")):
        enable_reload(service)
    # the models `ottc train` promoted: OTTC_MODEL_DIR, standalone default <state dir>/models
    runtime = Runtime(
        service,
        model_dir=model_dir_from_env(state_dir / "models" if config_paths else None),
        admission=admission,
    )
    return runtime, {tenant: keys[0] for tenant, keys in config.api_keys.items() if keys}


def print_endpoints(host: str, port: int, tls: bool, api_keys: dict[str, str]) -> None:
    console = Console(stderr=True)
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
    base = f"{'https' if tls else 'http'}://{shown}:{port}"
    console.print(f"[bold]OTT Compliance runtime[/] on {base}")
    console.print(
        f"  API docs  {base}/docs     metrics {base}/metrics     health {base}/readyz",
        soft_wrap=True,
    )
    if api_keys:
        table = Table("tenant", "API key (send as X-API-Key)", title="Demo API keys")
        for tenant, key in sorted(api_keys.items()):
            table.add_row(tenant, key)
        console.print(table)
        first = sorted(api_keys.items())[0]
        console.print(
            f"  try: curl -H 'X-API-Key: {first[1]}' {base}/v1/violations", soft_wrap=True
        )
