"""`ottc serve`: the runtime (REST API) for one tenant, a pool of tenants, or standalone."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ott_runtime.api.admission import (
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_MAX_IN_FLIGHT_PER_TENANT,
    MAX_IN_FLIGHT_ENV,
    MAX_IN_FLIGHT_PER_TENANT_ENV,
    AdmissionSettings,
)
from ott_runtime.api.limits import HttpLimits
from ott_runtime.cli.metrics_options import metrics_options
from ott_runtime.cli.options import server_options


@click.command()
@click.option(
    "--config",
    "config_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Standalone: RegulationSet and ComplianceTenant YAML files or folders (repeatable). "
    "Without it the in-cluster configuration is read (OTTC_CONFIG_DIR, OTTC_KEYS_DIR, "
    "DATABASE_URL).",
)
@click.option(
    "--access-log/--no-access-log",
    envvar="OTTC_ACCESS_LOG",
    default=False,
    show_default=True,
    help="A log line per request (method, path without its query string, status).",
)
@server_options
@metrics_options
@click.option(
    "--max-in-flight",
    envvar=MAX_IN_FLIGHT_ENV,
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_IN_FLIGHT,
    show_default=True,
    help="Ingest batches (POST /v1/events, processEvents) in flight at once; beyond it a "
    "batch is refused at once with 503 and Retry-After. 0: no limit.",
)
@click.option(
    "--max-in-flight-per-tenant",
    envvar=MAX_IN_FLIGHT_PER_TENANT_ENV,
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_IN_FLIGHT_PER_TENANT,
    show_default=True,
    help="The same per tenant, refused with 429. 0: no limit.",
)
def serve(
    config_paths: tuple[Path, ...],
    state_dir: Path,
    database_url: str | None,
    host: str,
    port: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    plans: Path | None,
    log_level: str,
    max_in_flight: int,
    max_in_flight_per_tenant: int,
    access_log: bool,
    http_limits: HttpLimits,
) -> None:
    """Serve the REST API: ingest events, read violations, reports, usage and keys."""
    from ott_runtime.cli.launch import load_runtime, print_endpoints
    from ott_runtime.server.runner import build_server, run_until_signalled
    from ott_runtime.telemetry import TracingConfigError, configure_logging, configure_tracing
    from ott_runtime.telemetry.logs import LOG_FORMATS

    log_format = os.environ.get("OTTC_LOG_FORMAT", "json")  # or text
    if log_format not in LOG_FORMATS:
        raise click.ClickException(f"OTTC_LOG_FORMAT={log_format!r}: expected json or text")
    try:  # before the service: its database engine and the app pick the tracer up
        tracing = configure_tracing("ottc-runtime")
    except TracingConfigError as error:
        raise click.ClickException(str(error)) from None
    runtime, api_keys = load_runtime(
        config_paths, state_dir, database_url, plans,
        AdmissionSettings(max_in_flight, max_in_flight_per_tenant),
    )  # fmt: skip
    server = build_server(
        runtime, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key, log_level=log_level,
        access_log=access_log, limits=http_limits,
    )  # fmt: skip
    # lines with trace id and tenant
    configure_logging(log_level, log_format, access_log=access_log)
    print_endpoints(host, port, tls_cert is not None, api_keys if config_paths else {})
    try:
        run_until_signalled(server)
    finally:
        if tracing is not None:
            tracing.shutdown()  # flush the queued spans before the process ends
