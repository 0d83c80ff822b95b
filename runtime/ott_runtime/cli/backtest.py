"""`ottc backtest`: replay a tenant's stored events through proposed RegulationSets beside
the rules in force, and show what would fire differently (writes nothing)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ott_runtime.cli.options import default_state_dir
from ott_runtime.domain.durations import parse_duration
from ott_runtime.domain.instants import parse_instant


def _moment(text: str | None, name: str) -> datetime | None:
    """An RFC 3339 instant, or a duration back from now (``30d``)."""
    if text is None:
        return None
    try:
        return datetime.now(UTC) - parse_duration(text)
    except ValueError:
        pass
    try:
        return parse_instant(text)
    except ValueError as error:
        raise click.BadParameter(
            f"{error} (or a duration back from now, e.g. 30d)", param_hint=name
        ) from None


@click.command("backtest")
@click.option(
    "--config", "config_paths", multiple=True, required=True,
    type=click.Path(exists=True, path_type=Path),
    help="The configuration in force: tenant and RegulationSet YAML (as `ottc serve --config`).",
)  # fmt: skip
@click.option(
    "--proposed", "proposed_paths", multiple=True, required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Proposed RegulationSets: each replaces the set of its name for this run.",
)  # fmt: skip
@click.option("--tenant", required=True, help="The tenant whose stored events are replayed.")
@click.option("--since", help="Occurred at or after: RFC 3339, or a duration back (30d).")
@click.option("--until", help="Occurred before: RFC 3339, or a duration back.")
@click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path), default=default_state_dir,
    show_default="$XDG_STATE_HOME/ott-compliance", help="Standalone state (database, keys).",
)  # fmt: skip
@click.option("--database-url", envvar="DATABASE_URL", help="Default: SQLite in the state dir.")
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report as JSON.",
)  # fmt: skip
def backtest(
    config_paths: tuple[Path, ...],
    proposed_paths: tuple[Path, ...],
    tenant: str,
    since: str | None,
    until: str | None,
    state_dir: Path,
    database_url: str | None,
    json_path: Path | None,
) -> None:
    """Replay TENANT's stored events through the proposed RegulationSets beside the rules
    in force; print per rule how often it fires now and would fire, with sample event ids
    of the violations added and removed. Reads only: nothing is written.

    \b
    Example:
      ottc backtest --config examples/ --proposed my-gdpr.yaml --tenant acme-stream --since 30d
    """
    from ott_runtime.config import standalone_config
    from ott_runtime.domain.documents import DocumentErrors, load_resources
    from ott_runtime.domain.rules import RuleCompileError, RuleResolutionError, resolve_rules
    from ott_runtime.ingest.backtest import backtest as run_backtest
    from ott_runtime.ingest.rules import CompiledRuleEvaluator
    from ott_runtime.storage import Database, Store

    console = Console(stderr=True)
    start, end = _moment(since, "--since"), _moment(until, "--until")
    try:
        config = standalone_config(config_paths, state_dir, database_url)
        sets, _ = load_resources(config_paths)
        proposed_sets, _ = load_resources(proposed_paths)
    except (DocumentErrors, RuleCompileError, RuleResolutionError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    runtime = next((r for r in config.runtimes if r.name == tenant), None)
    if runtime is None:
        known = ", ".join(r.name for r in config.runtimes)
        raise click.ClickException(f"no tenant {tenant!r} in --config (tenants: {known})")
    if not proposed_sets:
        raise click.ClickException("no RegulationSet in --proposed")
    assert isinstance(runtime.rules, CompiledRuleEvaluator)
    current = runtime.rules.compiled.resolved
    try:
        proposed = resolve_rules(runtime.spec, {**sets, **proposed_sets})
    except RuleResolutionError as error:
        raise click.ClickException(f"the proposal does not resolve for {tenant}: {error}") from None

    async def run() -> object:
        database = Database(config.database_url)
        try:
            with console.status("replaying stored events…") as status:
                return await run_backtest(
                    Store(database), runtime, current, proposed, since=start, until=end,
                    progress=lambda n: status.update(f"replayed {n:,} events…"),
                )  # fmt: skip
        finally:
            await database.close()

    try:
        report = asyncio.run(run())
    except RuleCompileError as error:
        raise click.ClickException(f"the proposed rules do not compile:\n{error}") from None
    from ott_runtime.ingest.backtest import BacktestReport

    assert isinstance(report, BacktestReport)
    table = Table("rule", "now", "proposed", "added (samples)", "removed (samples)",
                  title=f"Backtest of {tenant}: {report.events:,} events")  # fmt: skip
    for difference in sorted(report.rules.values(), key=lambda d: d.rule):
        table.add_row(difference.rule, str(difference.now), str(difference.proposed),
                      ", ".join(difference.added), ", ".join(difference.removed))  # fmt: skip
    Console().print(table)
    rate = f", {report.events / report.seconds:,.0f} events/s" if report.seconds else ""
    console.print(
        f"{len(report.changed)} rule(s) change; {report.unreadable} event(s) had unreadable "
        f"encrypted fields; {report.seconds:.2f} s{rate}"
    )
    if json_path is not None:
        json_path.write_text(json.dumps(report.to_json(), indent=2))
