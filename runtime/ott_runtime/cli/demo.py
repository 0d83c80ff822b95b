"""`ottc demo`: the standalone runtime with the example tenants and a synthetic OTT stream."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

import click

from ott_runtime.api.limits import HttpLimits
from ott_runtime.cli.options import default_state_dir, server_options
from ott_runtime.domain.durations import parse_duration


def _default_config() -> tuple[Path, ...]:
    examples = Path("examples")
    return (examples,) if examples.is_dir() else ()


@click.command()
@click.option(
    "--config",
    "config_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    default=_default_config,
    show_default="examples/",
    help="RegulationSet and ComplianceTenant YAML files or folders (repeatable).",
)
@click.option(
    "--rate",
    type=click.FloatRange(0.1, 20000),
    default=50,
    show_default=True,
    help="Events per second at an average hour (the daily cycle varies it).",
)
@click.option(
    "--speed",
    type=click.FloatRange(1, 10000),
    default=120,
    show_default=True,
    help="Simulated seconds per real second until the clock reaches now.",
)
@click.option(
    "--backfill",
    default="1d",
    show_default=True,
    help="How far in the past the simulated clock starts (e.g. 6h, 1d, 1w).",
)
@click.option(
    "--duration",
    type=click.FloatRange(0),
    default=0,
    show_default=True,
    help="Stop after this many seconds (0: run until Ctrl-C).",
)
@click.option(
    "--violation-rate",
    type=click.FloatRange(0, 1),
    default=0.03,
    show_default=True,
    help="Share of events that carry an injected violation.",
)
@click.option(
    "--anomaly-rate",
    type=click.FloatRange(0, 1),
    default=0.05,
    show_default=True,
    help="Chance per simulated hour of an anomalous traffic burst.",
)
@click.option("--seed", type=int, default=7, show_default=True)
@server_options
def demo(
    config_paths: tuple[Path, ...],
    rate: float,
    speed: float,
    backfill: str,
    duration: float,
    violation_rate: float,
    anomaly_rate: float,
    seed: int,
    state_dir: Path,
    database_url: str | None,
    host: str,
    port: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    plans: Path | None,
    log_level: str,
    http_limits: HttpLimits,
) -> None:
    """Run the runtime with the example tenants and feed it realistic OTT events.

    Viewing follows daily and weekly cycles per region; linear channels run ad breaks;
    kids profiles, licence windows, consents, signups, transfers and grievances appear
    in plausible shares; violations and anomalous bursts are injected on purpose.
    """
    from rich.console import Console

    from ott_runtime.cli.launch import load_runtime, print_endpoints
    from ott_runtime.demo import DemoSettings, run_demo
    from ott_runtime.server.runner import build_server

    if not config_paths:
        raise click.UsageError(
            "no examples/ folder here: pass --config with tenant and regulation YAML"
        )
    try:
        backfill_delta = parse_duration(backfill)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--backfill") from None
    if state_dir == default_state_dir():
        state_dir = state_dir / "demo"  # keep demo data apart from `ottc serve`'s
    runtime, api_keys = load_runtime(config_paths, state_dir, database_url, plans)
    server = build_server(
        runtime, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key, log_level="warning",
        limits=http_limits,
    )  # fmt: skip
    print_endpoints(host, port, tls_cert is not None, api_keys)
    scheme = "https" if tls_cert else "http"
    console = Console(stderr=True)
    # The example tenants' webhooks point at example hosts whose signing Secrets exist only
    # in a cluster: their notifications end as dead letters, which the API shows. One line
    # says so here instead of a warning per notification drowning the progress table.
    logging.getLogger("ott_runtime.notifications.delivery").setLevel(logging.ERROR)
    console.print(
        f"  dashboard {scheme}://localhost:{port}/dashboard/   webhooks of the example "
        "tenants have no signing secret here: see /v1/notifications/dead-letters"
    )
    local = "localhost" if tls_cert or host in ("0.0.0.0", "::") else host
    settings = DemoSettings(
        rate=rate, speed=speed, backfill=backfill_delta, duration=duration or None, seed=seed,
        violation_rate=violation_rate, anomaly_rate=anomaly_rate,
        verify=ssl.create_default_context(cafile=str(tls_cert)) if tls_cert else True,
    )  # fmt: skip
    try:
        progress = asyncio.run(
            run_demo(server, f"{scheme}://{local}:{port}", api_keys, settings, console)
        )
    except KeyboardInterrupt:
        console.print("stopped")
        return
    console.print(
        f"\ndone: {progress.accepted} events stored, {sum(progress.violations.values())} violations"
    )
