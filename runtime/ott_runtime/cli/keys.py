"""`ottc keys`: key status, rotation (standalone) and rewrap of rows under old keys."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ott_runtime.cli.options import default_state_dir
from ott_runtime.config.loading import ServiceConfig

config_option = click.option(
    "--config",
    "config_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Standalone YAML files or folders; without it the in-cluster configuration is read.",
)
state_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=default_state_dir,
    show_default="$XDG_STATE_HOME/ott-compliance",
)
database_option = click.option("--database-url", envvar="DATABASE_URL")
tenant_option = click.option("--tenant", "tenants", multiple=True, help="Only these tenants.")


def _config(
    config_paths: tuple[Path, ...], state_dir: Path, database_url: str | None
) -> ServiceConfig:
    from ott_runtime.config import cluster_config, standalone_config

    try:
        if config_paths:
            return standalone_config(config_paths, state_dir, database_url)
        return cluster_config()
    except (ValueError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from None


def _chosen(available: list[str], wanted: tuple[str, ...]) -> list[str]:
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise click.ClickException(f"unknown tenant(s): {', '.join(unknown)}")
    return [t for t in available if not wanted or t in wanted]


@click.group()
def keys() -> None:
    """Encryption keys: status, rotation and rewrap (never prints key material)."""


@keys.command()
@config_option
@state_option
@database_option
@tenant_option
def status(
    config_paths: tuple[Path, ...],
    state_dir: Path,
    database_url: str | None,
    tenants: tuple[str, ...],
) -> None:
    """Key versions, states and how many rows each still protects."""
    from ott_runtime.storage import Database, Store, TenantScope

    config = _config(config_paths, state_dir, database_url)

    async def run() -> Table:
        database = Database(config.database_url)
        await database.migrate()
        store = Store(database)
        table = Table("tenant", "version", "state", "created", "rows")
        try:
            for tenant in _chosen(config.keys.tenants, tenants):
                async with store.read(TenantScope(tenant)) as data:
                    rows = await data.events.key_versions()
                for key in config.keys.describe(tenant)["keys"]:
                    table.add_row(
                        tenant,
                        str(key["version"]),
                        key["state"],
                        key["created"],
                        str(rows.get(key["version"], 0)),
                    )
        finally:
            await database.close()
        return table

    Console().print(asyncio.run(run()))


@keys.command()
@click.option(
    "--config",
    "config_paths",
    multiple=True,
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Standalone YAML files or folders.",
)
@state_option
@tenant_option
def rotate(config_paths: tuple[Path, ...], state_dir: Path, tenants: tuple[str, ...]) -> None:
    """Standalone only: add a new primary key (older keys stay for decryption).

    In a cluster the operator rotates keys on spec.encryption.rotationInterval."""
    from ott_runtime.crypto.sources import write_keyring

    config = _config(config_paths, state_dir, None)
    for tenant in _chosen(config.keys.tenants, tenants):
        source = config.keys.source(tenant)
        rotated = source.keyring.rotate()
        write_keyring(source.path, rotated)
        click.echo(f"{tenant}: primary key is now version {rotated.primary_version}")


@keys.command()
@config_option
@state_option
@database_option
@tenant_option
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True)
def rewrap(
    config_paths: tuple[Path, ...],
    state_dir: Path,
    database_url: str | None,
    tenants: tuple[str, ...],
    batch_size: int,
) -> None:
    """Re-encrypt rows under older keys with the primary key, in batches.

    Safe to interrupt and run again: each batch commits on its own and the next run picks
    up the rows still under an old key. Rows that fail verification are left untouched
    and listed; the exit status is then 1."""
    from ott_runtime.storage import Database, Store, TenantScope
    from ott_runtime.storage.rewrap import pending_rewrap, rewrap_tenant

    config = _config(config_paths, state_dir, database_url)
    console = Console(stderr=True)

    async def run() -> int:
        database = Database(config.database_url)
        await database.migrate()
        store = Store(database)
        failures = 0
        try:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
            ) as progress:
                for tenant in _chosen(config.keys.tenants, tenants):
                    scope, cipher = TenantScope(tenant), config.keys.cipher(tenant)
                    total = await pending_rewrap(store, scope, cipher)
                    task = progress.add_task(f"{tenant} -> v{cipher.primary_version}", total=total)
                    result = await rewrap_tenant(
                        store,
                        scope,
                        cipher,
                        batch_size=batch_size,
                        on_batch=partial(progress.advance, task),
                    )
                    progress.update(task, completed=total)
                    version = result.primary_version
                    console.print(f"{tenant}: {result.rewrapped} row(s) now under key v{version}")
                    for event_id, reason in result.failed:
                        console.print(f"[red]{tenant}: event {event_id} NOT rewrapped: {reason}[/]")
                    failures += len(result.failed)
        finally:
            await database.close()
        return failures

    if asyncio.run(run()):
        raise SystemExit(1)
