"""`ottc eval`: NAB (three profiles, per category, beside the anchors) and the OTT benchmark,
every figure under a named protocol."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


@click.command(name="eval")
@click.option(
    "--nab",
    "nab_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help=(
        "A corpus in NAB's layout (data/, labels/combined_windows.json) "
        "[env OTTC_NAB_DIR, else the NAB subset installed with the package]."
    ),
)
@click.option("--ott", is_flag=True, help="Run the generated OTT benchmark.")
@click.option(
    "--protocol",
    "protocols",
    type=click.Choice(["loco", "in-sample"]),
    multiple=True,
    help="How NAB settings and thresholds are chosen: 'loco' (leave-one-category-out: each "
    "category scored with choices made on the others) and/or 'in-sample' (NAB's own: chosen "
    "on every file, so optimistic) [loco].",
)
@click.option("--category", "categories", multiple=True, help="Only these NAB categories.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(".artifacts/eval.json"),
    show_default=True,
    help="Where the JSON results go.",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="OTT: report on this seed only (the alert level is still chosen on seeds 0-4).",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Recompute every forecast (otherwise kept under .artifacts/cache/forecasts/).",
)
def eval_command(
    nab_dir: Path | None,
    ott: bool,
    protocols: tuple[str, ...],
    categories: tuple[str, ...],
    out: Path,
    seed: int | None,
    no_cache: bool,
) -> None:
    """Evaluate the detectors. Without --ott, NAB runs; with --ott only, only OTT runs.

    Every figure names its protocol: on NAB, leave-one-category-out by default (each of the
    five categories scored with the setting and thresholds chosen on the other four); on the
    OTT benchmark, the alert level chosen on seeds 0-4 and the result reported on seeds
    100-109.

    \b
    Examples:
      ottc eval                          # the bundled NAB subset (29 files), LOCO
      ottc eval --protocol in-sample     # NAB's own protocol (optimistic), labelled so
      ottc eval --nab DIR                # any corpus in NAB's layout
      ottc eval --ott                    # the generated OTT benchmark
    """
    from rich.console import Console

    from ott_runtime.models.evaluation.forecast_cache import DEFAULT_CACHE_DIR
    from ott_runtime.models.evaluation.nab_corpus import CorpusError, default_nab_dir

    console = Console()
    cache = None if no_cache else DEFAULT_CACHE_DIR
    results: dict[str, Any] = {}
    if nab_dir is not None or not ott:
        corpus = nab_dir or default_nab_dir()
        if not corpus.is_dir():  # an install without the package data, or a bad OTTC_NAB_DIR
            raise click.ClickException(f"no NAB corpus at {corpus}: pass --nab DIR")
        try:
            results["nab"] = _run_nab(
                console, corpus, protocols or ("loco",), set(categories) or None, cache
            )
        except CorpusError as error:
            raise click.ClickException(str(error)) from error
        except ValueError as error:  # e.g. one category left: nothing to hold out
            raise click.ClickException(str(error)) from error
    if ott:
        results["ott"] = _run_ott(console, seed, cache)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {out}")


def _run_nab(
    console: Any,
    corpus: Path,
    protocols: tuple[str, ...],
    categories: set[str] | None,
    cache: Path | None,
) -> dict[str, Any]:
    from ott_runtime.models.evaluation.protocols import evaluate_nab
    from ott_runtime.models.evaluation.reporting import nab_tables, render

    with console.status("NAB") as status:
        evaluation = evaluate_nab(
            corpus,
            protocols,
            categories,
            progress=lambda n: status.update(f"NAB {n}"),
            cache_dir=cache,
        )
    for table in nab_tables(evaluation, str(corpus)):
        console.print(render(table))
    return {"corpus": str(corpus), **evaluation.to_json()}


def _run_ott(console: Any, seed: int | None, cache: Path | None) -> dict[str, Any]:
    from ott_runtime.models.evaluation.protocols import OTT_REPORT_SEEDS, evaluate_ott
    from ott_runtime.models.evaluation.reporting import ott_tables, render
    from ott_runtime.models.evaluation.runs import evaluate_ott_sessions

    report_seeds = (seed,) if seed is not None else OTT_REPORT_SEEDS
    with console.status("OTT series") as status:
        evaluation = evaluate_ott(
            report_seeds=report_seeds,
            cache_dir=cache,
            progress=lambda n: status.update(f"OTT {n}"),
        )
    for table in ott_tables(evaluation):
        console.print(render(table))
    with console.status("OTT sessions"):
        session_rows = evaluate_ott_sessions(report_seeds[0])
    from rich.table import Table

    sessions = Table(
        title=f"OTT sessions (seed {report_seeds[0]}: trained on 60 %, scored on the last 20 %)"
    )
    for column in session_rows[0]:
        sessions.add_column(column)
    for row in session_rows:
        sessions.add_row(*(str(v) for v in row.values()))
    console.print(sessions)
    return {"series": evaluation.to_json(), "sessions": session_rows}
