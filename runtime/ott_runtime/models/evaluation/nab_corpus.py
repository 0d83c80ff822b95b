"""Reading a corpus in NAB's layout and running a detector over it.

Layout (NAB's own): ``DIR/data/<category>/<file>.csv`` with columns ``timestamp,value``,
``DIR/labels/combined_windows.json`` mapping ``<category>/<file>.csv`` to its anomaly windows,
and optionally published detector outputs under
``DIR/published-results/<detector>/<category>/<detector>_<file>.csv`` with ``anomaly_score``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ott_runtime.models.evaluation.nab import LabelledFile, NabScore, score_corpus

SeriesDetector = Callable[[npt.NDArray[np.datetime64], npt.NDArray[np.float64]], npt.ArrayLike]
"""(timestamps, values) -> one anomaly score in [0, 1] per row, computed causally."""


class CorpusError(ValueError):
    """The folder is not a corpus in NAB's layout."""


NAB_DIR_ENV = "OTTC_NAB_DIR"
BUNDLED_NAB_DIR = Path(__file__).resolve().parent / "data" / "nab"
"""NAB's 29-file subset (MIT, LICENSE.txt beside it), shipped as package data: the same
folder in a checkout, an installed wheel and the image."""


def default_nab_dir() -> Path:
    """The corpus `ottc eval` scores when given no --nab: OTTC_NAB_DIR, else the bundled subset."""
    override = os.environ.get(NAB_DIR_ENV)
    return Path(override) if override else BUNDLED_NAB_DIR


@dataclass(frozen=True)
class Series:
    name: str  # "<category>/<file>.csv"
    timestamps: npt.NDArray[np.datetime64]
    values: npt.NDArray[np.float64]
    windows: list[tuple[np.datetime64, np.datetime64]]


def read_series_csv(path: Path) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.float64]]:
    """A ``timestamp,value`` CSV as arrays in file order; a clear error for anything else."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise CorpusError(f"{path}: cannot read as CSV: {error}") from error
    missing = {"timestamp", "value"} - set(frame.columns)
    if missing:
        raise CorpusError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    try:
        stamps = pd.to_datetime(frame["timestamp"]).to_numpy(dtype="datetime64[ns]")
        values = pd.to_numeric(frame["value"]).to_numpy(dtype=np.float64)
    except (ValueError, TypeError) as error:
        raise CorpusError(f"{path}: bad timestamp or value: {error}") from error
    # Rows are taken in file order, as NAB does: its real series hold a few repeated or
    # out-of-order stamps (clock changes), which only a badly broken file has in bulk.
    if len(stamps) < 2:
        raise CorpusError(f"{path}: needs at least two rows")
    if (np.diff(stamps) < np.timedelta64(0)).mean() > 0.01:
        raise CorpusError(f"{path}: timestamps must increase (more than 1 % go backwards)")
    if not np.isfinite(values).all():
        raise CorpusError(f"{path}: values must be finite numbers")
    return stamps, values


def load_windows(corpus_dir: Path) -> dict[str, list[tuple[np.datetime64, np.datetime64]]]:
    path = corpus_dir / "labels" / "combined_windows.json"
    if not path.is_file():
        raise CorpusError(f"{corpus_dir}: no labels/combined_windows.json (NAB layout expected)")
    raw = json.loads(path.read_text())
    return {
        name: [(np.datetime64(start, "ns"), np.datetime64(end, "ns")) for start, end in windows]
        for name, windows in raw.items()
    }


def iter_series(corpus_dir: Path, categories: set[str] | None = None) -> Iterator[Series]:
    """Every labelled data file of the corpus, in a stable order."""
    windows = load_windows(corpus_dir)
    for name in sorted(windows):
        if categories and name.split("/")[0] not in categories:
            continue
        path = corpus_dir / "data" / name
        if not path.is_file():
            raise CorpusError(f"{corpus_dir}: labels name {name} but data/{name} is missing")
        stamps, values = read_series_csv(path)
        yield Series(name, stamps, values, windows[name])


def load_published_scores(corpus_dir: Path, detector: str) -> dict[str, LabelledFile]:
    """A published detector's outputs, joined with the corpus windows."""
    import pandas as pd

    windows = load_windows(corpus_dir)
    base = corpus_dir / "published-results" / detector
    files = {}
    for name, file_windows in windows.items():
        category, file_name = name.split("/")
        path = base / category / f"{detector}_{file_name}"
        if not path.is_file():
            raise CorpusError(f"no published result {path}")
        frame = pd.read_csv(path)
        files[name] = LabelledFile(
            timestamps=pd.to_datetime(frame["timestamp"]).to_numpy(dtype="datetime64[ns]"),
            scores=frame["anomaly_score"].to_numpy(dtype=np.float64),
            windows=file_windows,
        )
    return files


def run_detector(
    corpus_dir: Path,
    detector: SeriesDetector,
    categories: set[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[NabScore, dict[str, LabelledFile]]:
    """Run ``detector`` on every file (no per-file tuning) and score the outputs."""
    files = {}
    for series in iter_series(corpus_dir, categories):
        if progress:
            progress(series.name)
        scores = np.asarray(detector(series.timestamps, series.values), dtype=np.float64)
        files[series.name] = LabelledFile(series.timestamps, scores, series.windows)
    return score_corpus(files), files
