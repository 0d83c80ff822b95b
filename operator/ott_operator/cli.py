"""``ottc operator``: run the kopf operator that reconciles ComplianceTenants and
RegulationSets."""

from __future__ import annotations

from pathlib import Path

import click

LOG_FORMATS = ("plain", "full", "json")


@click.command("operator")
@click.option(
    "--settings",
    "settings_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="OTTC_OPERATOR_SETTINGS",
    help="Operator settings YAML (runtime image, gateway mode, mesh, plans...).",
)
@click.option(
    "-n",
    "--namespace",
    "namespaces",
    multiple=True,
    help="Serve only these namespaces (repeatable; glob patterns allowed). Our own resources "
    "are cluster-scoped and always served; this scopes peering and namespaced watches.",
)
@click.option(
    "-A",
    "--all-namespaces",
    "clusterwide",
    is_flag=True,
    help="Cluster-wide (the default when no --namespace is given).",
)
@click.option(
    "--peering",
    "peering_name",
    default=None,
    help="kopf peering name: replicas sharing it elect one active operator. "
    "Without it the operator runs standalone.",
)
@click.option("--priority", type=int, default=0, show_default=True, help="Peering priority.")
@click.option(
    "--liveness",
    "liveness_endpoint",
    default=None,
    help="Serve a liveness probe, e.g. http://0.0.0.0:8080/healthz.",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    default="plain",
    show_default=True,
    help="Log line format (json for log collectors).",
)
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    envvar="OTTC_OPERATOR_METRICS_PORT",
    help="Serve Prometheus metrics (reconcile duration and errors, tenants by phase, key "
    "age) on this port.",
)
@click.option("-v", "--verbose", is_flag=True, help="More log lines.")
@click.option("--debug", is_flag=True, help="kopf debug logging (never shows key material).")
def operator(
    settings_file: Path | None,
    namespaces: tuple[str, ...],
    clusterwide: bool,
    peering_name: str | None,
    priority: int,
    liveness_endpoint: str | None,
    log_format: str,
    metrics_port: int | None,
    verbose: bool,
    debug: bool,
) -> None:
    """Reconcile ComplianceTenants and RegulationSets into running, rotating, routed tenants."""
    if namespaces and clusterwide:
        raise click.UsageError("--namespace and --all-namespaces exclude each other")

    import kopf

    from ott_operator.handlers import operator_memo, register_handlers
    from ott_operator.settings import OperatorSettings

    try:
        settings = (
            OperatorSettings.from_file(settings_file) if settings_file else OperatorSettings()
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc

    kopf.configure(
        verbose=verbose, debug=debug, log_format=kopf.LogFormat[log_format.upper()], log_prefix=True
    )
    from ott_operator.telemetry import start_observability

    tracing = start_observability(metrics_port)
    registry = kopf.OperatorRegistry()
    register_handlers(registry, settings)
    kopf.run(
        registry=registry,
        memo=operator_memo(settings),
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        standalone=peering_name is None,
        peering_name=peering_name,
        priority=priority,
        liveness_endpoint=liveness_endpoint,
    )
    if tracing is not None:
        tracing.shutdown()  # flush the queued spans
