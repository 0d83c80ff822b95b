"""`ottc train`: train a tenant's models and promote them in the model registry."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ott_runtime.cli.options import default_state_dir

if TYPE_CHECKING:
    from ott_runtime.models.registry import ModelMetadata, ModelRegistry
    from ott_runtime.scoring.history import TenantHistory

MODEL_DIR_ENV = "OTTC_MODEL_DIR"
# the least stored history --from-db trains on: a quarter of a day of minutes for the series,
# and enough sessions of each kind for a validation split that says something
MIN_SERIES_MINUTES = 360
MIN_SESSIONS = 100
MIN_SESSIONS_PER_CLASS = 10


def registry_dir(value: Path | None, state_dir: Path | None) -> Path:
    """``--registry``, else ``OTTC_MODEL_DIR``, else ``<state dir>/models`` (what `ottc serve
    --config` reads by default)."""
    if value is not None:
        return value
    if os.environ.get(MODEL_DIR_ENV):
        return Path(os.environ[MODEL_DIR_ENV])
    if state_dir is None:
        raise click.UsageError(
            f"no model registry: pass --registry or set {MODEL_DIR_ENV} (the operator's "
            "CronJob sets it to the tenant's data volume)"
        )
    return state_dir / "models"


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int], Callable[[int, dict[str, float]], None]]]:
    """Yields ``track(label, epochs)`` -> an epoch callback that advances a bar."""
    from rich.progress import Progress

    with Progress(transient=False) as progress:

        def track(label: str, epochs: int) -> Callable[[int, dict[str, float]], None]:
            task = progress.add_task(label, total=epochs)

            def on_epoch(epoch: int, logs: dict[str, float]) -> None:
                loss = logs.get("loss", 0.0)
                val = f", val {logs['val_loss']:.4f}" if "val_loss" in logs else ""
                description = f"{label} loss {loss:.4f}{val}"
                progress.update(task, completed=epoch + 1, description=description)

            return on_epoch

        yield track


@click.command()
@click.option("--tenant", required=True, help="Tenant whose models are trained.")
@click.option("--synthetic", "source", flag_value="synthetic", help="Generated OTT data.")
@click.option(
    "--nab",
    "nab_csv",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A timestamp,value CSV (NAB's format) to train the series model on.",
)
@click.option(
    "--from-db",
    "source",
    flag_value="db",
    help="The tenant's stored events (its database and keyring: --config, or in a cluster "
    "OTTC_CONFIG_DIR, OTTC_KEYS_DIR and DATABASE_URL). Promotes only what beats the "
    "promoted version on validation.",
)
@click.option(
    "--config",
    "config_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="--from-db standalone: the YAML `ottc serve --config` reads.",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="--from-db standalone: the state folder of `ottc serve` "
    "[default $XDG_STATE_HOME/ott-compliance].",
)
@click.option("--database-url", envvar="DATABASE_URL", help="--from-db: the runtime database.")
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=28,
    show_default=True,
    help="--from-db: history.",
)
@click.option(
    "--max-events",
    type=click.IntRange(1000, 50_000_000),
    default=1_000_000,
    show_default=True,
    help="--from-db: most events read.",
)
@click.option(
    "--registry",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Model registry folder [env {MODEL_DIR_ENV}, default <state dir>/models].",
)
@click.option("--epochs", type=click.IntRange(1, 500), help="Upper bound on epochs (early stop).")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed for data and weights.")
@click.option("--no-promote", is_flag=True, help="Register the new versions without promoting.")
def train(
    tenant: str,
    source: str | None,
    nab_csv: Path | None,
    config_paths: tuple[Path, ...],
    state_dir: Path | None,
    database_url: str | None,
    days: int,
    max_events: int,
    registry: Path | None,
    epochs: int | None,
    seed: int,
    no_promote: bool,
) -> None:
    """Train the LSTM series detector and the session Transformer with its ensemble,
    register the versions and promote them.

    \b
    Examples:
      ottc train --tenant demo --synthetic
      ottc train --tenant demo --nab \\
        runtime/ott_runtime/models/evaluation/data/nab/data/realKnownCause/nyc_taxi.csv
      ottc train --tenant acme-stream --from-db --config examples/   # after `ottc serve`
    """
    if nab_csv is not None:
        source = "nab"
    if source is None:
        raise click.UsageError("choose the data: --synthetic, --nab PATH or --from-db")
    standalone = bool(config_paths) or source != "db"
    folder = registry_dir(registry, (state_dir or default_state_dir()) if standalone else None)
    from ott_runtime.models.registry import DirectoryBackend, ModelRegistry

    models = ModelRegistry(DirectoryBackend(folder))
    if source == "db":
        results = _from_db(models, tenant, config_paths, state_dir, database_url, days, max_events)
        plan: dict[str, Any] = {"promote": False if no_promote else "if-better", **results}
    else:
        plan = {"promote": not no_promote, **_generated(source, nab_csv, seed)}
    trained = _train(models, tenant, plan, epochs, seed)
    for meta in trained:
        promoted = models.promoted(meta.tenant, meta.model) == meta.version
        state = "promoted" if promoted else "registered (not promoted)"
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in meta.metrics.items())
        click.echo(f"{meta.tenant}/{meta.model} v{meta.version} {state}: {metrics}")
    click.echo(f"registry: {folder}")


def _generated(source: str, nab_csv: Path | None, seed: int) -> dict[str, Any]:
    from ott_runtime.models.evaluation.nab_corpus import CorpusError, read_series_csv
    from ott_runtime.models.evaluation.ott_benchmark import generate_series, generate_sessions

    if source == "nab":
        assert nab_csv is not None
        try:
            stamps, values = read_series_csv(nab_csv)
        except CorpusError as error:
            raise click.ClickException(str(error)) from error
        return {"series": (stamps, values)}
    first = generate_series(seed, n_series=1, days=7)[0]
    sessions, labels, _ = generate_sessions(seed, 2000)
    return {
        "series": (first.timestamps[: first.warmup], first.values[: first.warmup]),
        "sessions": (sessions, labels),
    }


def _from_db(
    models: ModelRegistry,
    tenant: str,
    config_paths: tuple[Path, ...],
    state_dir: Path | None,
    database_url: str | None,
    days: int,
    max_events: int,
) -> dict[str, Any]:
    import asyncio
    from datetime import UTC, datetime, timedelta

    from ott_runtime.config import cluster_config, standalone_config
    from ott_runtime.scoring.history import load_history
    from ott_runtime.storage import Database, Store

    try:
        if config_paths:
            config = standalone_config(config_paths, state_dir or default_state_dir(), database_url)
        else:
            config = cluster_config()
    except (ValueError, FileNotFoundError) as error:
        raise click.ClickException(f"--from-db: {error}") from None
    runtime = next((r for r in config.runtimes if r.name == tenant), None)
    if runtime is None:
        served = ", ".join(r.name for r in config.runtimes) or "none"
        raise click.ClickException(f"tenant {tenant!r} is not in the configuration ({served})")
    toggles = runtime.spec.scoring.models
    if not (toggles.lstm or toggles.transformer):
        raise click.ClickException(f"{tenant}: spec.scoring.models turns every model off")

    async def read() -> TenantHistory:
        database = Database(config.database_url)
        try:
            since = datetime.now(UTC) - timedelta(days=days)
            return await load_history(Store(database), runtime, since, max_events)
        finally:
            await database.close()

    history = asyncio.run(read())
    click.echo(f"{tenant}: read {history.describe()} from the last {days} days")
    problems = _too_little(history, toggles.lstm, toggles.transformer)
    if problems:
        raise click.ClickException(f"{tenant}: too little data to train: " + "; ".join(problems))
    plan: dict[str, Any] = {}
    if toggles.lstm:
        plan["series"] = (history.minutes, history.counts)
    if toggles.transformer:
        plan["sessions"] = (history.sessions, history.labels)
    return plan


def _too_little(history: TenantHistory, series: bool, sessions: bool) -> list[str]:
    problems = []
    if series and len(history.counts) < MIN_SERIES_MINUTES:
        problems.append(
            f"the events span {len(history.counts)} minutes, the series model needs "
            f"{MIN_SERIES_MINUTES}"
        )
    if sessions:
        positive = int(history.labels.sum())
        negative = len(history.labels) - positive
        if len(history.labels) < MIN_SESSIONS or min(positive, negative) < MIN_SESSIONS_PER_CLASS:
            problems.append(
                f"{len(history.labels)} sessions ({positive} with violations, {negative} "
                f"without); the session model needs {MIN_SESSIONS}, with at least "
                f"{MIN_SESSIONS_PER_CLASS} of each"
            )
    return problems


def _train(
    models: ModelRegistry, tenant: str, plan: dict[str, Any], epochs: int | None, seed: int
) -> list[ModelMetadata]:
    from dataclasses import replace

    from ott_runtime.models.series.detector import DetectorConfig
    from ott_runtime.models.sessions.transformer import SessionRiskModel
    from ott_runtime.models.training import train_series, train_sessions

    results = []
    with progress_bar() as track:
        if "series" in plan:
            config = DetectorConfig()
            config = replace(
                config, lstm=replace(config.lstm, seed=seed, epochs=epochs or config.lstm.epochs)
            )
            stamps, values = plan["series"]
            on_epoch = track("series LSTM", config.lstm.epochs)
            results.append(
                train_series(models, tenant, stamps, values, config, on_epoch, plan["promote"])
            )
        if "sessions" in plan:
            session_model = SessionRiskModel()
            session_model.config = replace(
                session_model.config, seed=seed, epochs=epochs or session_model.config.epochs
            )
            sessions, labels = plan["sessions"]
            on_epoch = track("session Transformer", session_model.config.epochs)
            results.extend(
                train_sessions(
                    models,
                    tenant,
                    sessions,
                    labels,
                    session_model,
                    on_epoch,
                    plan["promote"],
                    seed,
                )
            )
    return results
