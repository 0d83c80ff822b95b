"""`ottc bench`: run the benchmarks in tests/bench/, each printing a table and writing JSON."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import click

from ott_runtime.benchreport import DEFAULT_OUT_DIR


def _bench_dir() -> Path:
    for base in (Path.cwd(), *Path.cwd().parents):
        candidate = base / "tests" / "bench"
        if candidate.is_dir():
            return candidate
    raise click.ClickException(
        "no tests/bench/ folder here or above: run `ottc bench` inside a checkout"
    )


def _available(bench_dir: Path) -> dict[str, Path]:
    return {p.stem.removeprefix("bench_"): p for p in sorted(bench_dir.glob("bench_*.py"))}


@click.command()
@click.argument("names", nargs=-1)
@click.option("--list", "list_only", is_flag=True, help="List the benchmarks and exit.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=DEFAULT_OUT_DIR,
    show_default=True,
    help="Folder for the JSON results.",
)
@click.option("--quick", is_flag=True, help="Smaller sizes, for a smoke run (OTTC_BENCH_QUICK=1).")
def bench(names: tuple[str, ...], list_only: bool, out: Path, quick: bool) -> None:
    """Run benchmarks (all, or the NAMES given) and write their JSON results.

    \b
    Examples:
      ottc bench --list
      ottc bench rules ingest
      ottc bench --quick
    """
    available = _available(_bench_dir())
    if list_only:
        for name, path in available.items():
            click.echo(f"{name:16} {path}")
        return
    unknown = sorted(set(names) - set(available))
    if unknown:
        raise click.BadParameter(
            f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(available)}",
            param_hint="NAMES",
        )
    selected = list(names) or list(available)
    env = {**os.environ, "OTTC_BENCH_OUT": str(out.resolve())}
    if quick:
        env["OTTC_BENCH_QUICK"] = "1"
    failed = []
    for index, name in enumerate(selected, 1):
        click.secho(f"[{index}/{len(selected)}] {name}", bold=True)
        start = time.monotonic()
        result = subprocess.run([sys.executable, str(available[name])], env=env, check=False)
        click.echo(f"    {name}: {time.monotonic() - start:.1f} s, exit {result.returncode}")
        if result.returncode:
            failed.append(name)
    if failed:
        raise click.ClickException(f"failed: {', '.join(failed)}")
    click.echo(f"results in {out}")
