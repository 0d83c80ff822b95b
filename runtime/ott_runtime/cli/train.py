"""`ottc train`: train a tenant's models and promote them in the model registry."""

from __future__ import annotations

import os
from pathlib import Path

import click

DEFAULT_REGISTRY = Path(".ottc/models")


def registry_dir(value: Path | None) -> Path:
    return value or Path(os.environ.get("OTTC_MODEL_DIR", DEFAULT_REGISTRY))


@click.command()
@click.option("--tenant", required=True, help="Tenant whose models are trained.")
@click.option("--synthetic", "source", flag_value="synthetic", help="Generated OTT data.")
@click.option(
    "--nab",
    "nab_csv",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A timestamp,value CSV (NAB's format) to train the series model on.",
)
@click.option("--from-db", "source", flag_value="db", help="The tenant's runtime database.")
@click.option(
    "--registry",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Model registry folder [env OTTC_MODEL_DIR, default {DEFAULT_REGISTRY}].",
)
@click.option("--epochs", type=click.IntRange(1, 500), help="Upper bound on epochs (early stop).")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed for data and weights.")
@click.option("--no-promote", is_flag=True, help="Register the new versions without promoting.")
def train(
    tenant: str,
    source: str | None,
    nab_csv: Path | None,
    registry: Path | None,
    epochs: int | None,
    seed: int,
    no_promote: bool,
) -> None:
    """Train the LSTM series detector (and, on --synthetic, the session Transformer and the
    ensemble), register the versions and promote them.

    \b
    Examples:
      ottc train --tenant demo --synthetic
      ottc train --tenant demo --nab ../shared/data/nab/data/realKnownCause/nyc_taxi.csv
    """
    if nab_csv is not None:
        source = "nab"
    if source is None:
        raise click.UsageError("choose the data: --synthetic, --nab PATH or --from-db")
    if source == "db":
        raise click.ClickException(
            "--from-db needs the runtime database's metric and session readers, which are not "
            "wired to training yet; use --synthetic or --nab PATH"
        )
    from dataclasses import replace

    from rich.progress import Progress

    from ott_runtime.models.evaluation.nab_corpus import CorpusError, read_series_csv
    from ott_runtime.models.evaluation.ott_benchmark import generate_series, generate_sessions
    from ott_runtime.models.registry import DirectoryBackend, ModelRegistry
    from ott_runtime.models.series.detector import DetectorConfig
    from ott_runtime.models.sessions.transformer import SessionRiskModel
    from ott_runtime.models.training import train_series, train_sessions

    models = ModelRegistry(DirectoryBackend(registry_dir(registry)))
    config = DetectorConfig()
    config = replace(
        config, lstm=replace(config.lstm, seed=seed, epochs=epochs or config.lstm.epochs)
    )
    if source == "nab":
        assert nab_csv is not None
        try:
            stamps, values = read_series_csv(nab_csv)
        except CorpusError as error:
            raise click.ClickException(str(error)) from error
    else:
        first = generate_series(seed, n_series=1, days=7)[0]
        stamps, values = first.timestamps[: first.warmup], first.values[: first.warmup]
    with Progress(transient=False) as progress:
        task = progress.add_task("series LSTM", total=config.lstm.epochs)

        def on_series_epoch(epoch: int, logs: dict[str, float]) -> None:
            progress.update(
                task, completed=epoch + 1, description=f"series LSTM loss {logs.get('loss', 0):.4f}"
            )

        series_meta = train_series(
            models, tenant, stamps, values, config, on_series_epoch, not no_promote
        )
        progress.update(task, total=progress.tasks[0].completed)
        results = [series_meta]
        if source == "synthetic":
            session_model = SessionRiskModel()
            if epochs:
                session_model.config = replace(session_model.config, epochs=epochs)
            sessions, labels, _ = generate_sessions(seed, 2000)
            session_task = progress.add_task(
                "session Transformer", total=session_model.config.epochs
            )

            def on_session_epoch(epoch: int, logs: dict[str, float]) -> None:
                progress.update(
                    session_task,
                    completed=epoch + 1,
                    description=f"session Transformer loss {logs.get('loss', 0):.4f}",
                )

            results.extend(
                train_sessions(
                    models,
                    tenant,
                    sessions,
                    labels,
                    session_model,
                    on_session_epoch,
                    not no_promote,
                    seed,
                )
            )
    for meta in results:
        state = "registered" if no_promote else "promoted"
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in meta.metrics.items())
        click.echo(f"{meta.tenant}/{meta.model} v{meta.version} {state}: {metrics}")
    click.echo(f"registry: {registry_dir(registry)}")
