"""`ottc eval`: NAB (three profiles, per category, beside the anchors) and the OTT benchmark."""

from __future__ import annotations

import json
import time
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
@click.option("--category", "categories", multiple=True, help="Only these NAB categories.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(".artifacts/eval.json"),
    show_default=True,
    help="Where the JSON results go.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="OTT benchmark seed.")
def eval_command(
    nab_dir: Path | None, ott: bool, categories: tuple[str, ...], out: Path, seed: int
) -> None:
    """Evaluate the detectors. Without --ott, NAB runs; with --ott only, only OTT runs.

    \b
    Examples:
      ottc eval                      # the bundled NAB subset (29 files)
      ottc eval --nab DIR            # any corpus in NAB's layout
      ottc eval --ott                # the generated OTT benchmark
    """
    from rich.console import Console

    from ott_runtime.models.evaluation.nab_corpus import CorpusError, default_nab_dir

    console = Console()
    results: dict[str, Any] = {}
    if nab_dir is not None or not ott:
        corpus = nab_dir or default_nab_dir()
        if not corpus.is_dir():  # an install without the package data, or a bad OTTC_NAB_DIR
            raise click.ClickException(f"no NAB corpus at {corpus}: pass --nab DIR")
        try:
            results["nab"] = _run_nab(console, corpus, set(categories) or None)
        except CorpusError as error:
            raise click.ClickException(str(error)) from error
    if ott:
        results["ott"] = _run_ott(console, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {out}")


def _run_nab(console: Any, corpus: Path, categories: set[str] | None) -> dict[str, Any]:
    from rich.table import Table

    from ott_runtime.models.evaluation.runs import NAB_ANCHORS, evaluate_nab

    started = time.perf_counter()
    with console.status("NAB") as status:
        score = evaluate_nab(
            corpus, categories=categories, progress=lambda n: status.update(f"NAB {n}")
        )
    seconds = time.perf_counter() - started
    table = Table(title=f"NAB ({corpus}), normalised: null 0, perfect 100")
    profiles = list(score.profiles)
    table.add_column("detector")
    for profile in profiles:
        table.add_column(profile, justify="right")
    table.add_row(
        "this detector (LSTM)", *(f"{score.overall[p]:.1f}" for p in profiles), style="bold"
    )
    for name, anchor in NAB_ANCHORS.items():
        table.add_row(f"{name} (anchor)", *(f"{anchor[p]:.1f}" for p in profiles))
    table.caption = (
        "anchors: NAB's published detectors on the whole bundled 29-file subset; "
        f"this run: {seconds:.0f} s"
    )
    console.print(table)
    per_category = Table(title="NAB per category (score; windows hit/missed; false positives)")
    per_category.add_column("category")
    for profile in profiles:
        per_category.add_column(profile, justify="right")
    for category in score.categories[profiles[0]]:
        cells = []
        for profile in profiles:
            item = score.categories[profile][category]
            shown = "-" if item.score is None else f"{item.score:.1f}"
            cells.append(f"{shown}  {item.tp}/{item.fn}  fp {item.fp}")
        per_category.add_row(category, *cells)
    console.print(per_category)
    return {
        "corpus": str(corpus),
        "profiles": score.to_json(),
        "anchors": NAB_ANCHORS,
        "seconds": round(seconds, 1),
    }


def _run_ott(console: Any, seed: int) -> dict[str, Any]:
    from rich.table import Table

    from ott_runtime.models.evaluation.runs import evaluate_ott_series, evaluate_ott_sessions

    with console.status("OTT series") as status:
        series_rows = [
            m.as_row()
            for m in evaluate_ott_series(seed, progress=lambda n: status.update(f"OTT {n}"))
        ]
    with console.status("OTT sessions"):
        session_rows = evaluate_ott_sessions(seed)
    for title, rows in (
        ("OTT series anomalies (segments)", series_rows),
        ("OTT sessions", session_rows),
    ):
        table = Table(title=title)
        for column in rows[0]:
            table.add_column(column)
        for row in rows:
            table.add_row(*(str(v) for v in row.values()))
        console.print(table)
    return {"series": series_rows, "sessions": session_rows}
