"""NAB scoring, implemented from Numenta's published method (Lavin & Ahmad 2015, NAB v1.1).

For every data file, each labelled anomaly window rewards the *earliest* detection inside it
along a scaled sigmoid of its position in the window; a detection outside a window is a false
positive weighted by the same sigmoid of its distance past the preceding window (-1 when no
window precedes it); a window with no detection costs ``fn``. The first 15 % of each file
(at most 750 rows) is a probationary period and is not scored. One threshold on the anomaly
scores is optimised over the whole corpus per profile, by sweeping every distinct score, and
the corpus total is normalised so that the null detector scores 0 and the perfect one 100.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

PROBATION_FRACTION = 0.15
PROBATION_MAX_ROWS = 5000


@dataclass(frozen=True)
class CostProfile:
    """One of NAB's application profiles: the weights of its cost matrix."""

    name: str
    tp: float
    fp: float
    fn: float


PROFILES: dict[str, CostProfile] = {
    "standard": CostProfile("standard", tp=1.0, fp=0.11, fn=1.0),
    "reward_low_FP_rate": CostProfile("reward_low_FP_rate", tp=1.0, fp=0.22, fn=1.0),
    "reward_low_FN_rate": CostProfile("reward_low_FN_rate", tp=1.0, fp=0.11, fn=2.0),
}


def scaled_sigmoid(relative_position: float) -> float:
    """NAB's weight: ~+1 at the start of a window, 0 at its end, -> -1 well after it."""
    if relative_position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * relative_position)) - 1.0


def _scaled_sigmoids(positions: FloatArray) -> FloatArray:
    values = 2.0 / (1.0 + np.exp(np.minimum(5.0 * positions, 50.0))) - 1.0
    return np.where(positions > 3.0, -1.0, values)


def probationary_length(n_rows: int) -> int:
    limit = PROBATION_FRACTION * PROBATION_MAX_ROWS
    return int(min(math.floor(PROBATION_FRACTION * n_rows), limit))


@dataclass(frozen=True)
class FileSweep:
    """The per-row sweep weights of one file under one profile (probation rows dropped)."""

    name: str
    scores: FloatArray  # detector anomaly scores
    weights: FloatArray  # TP weight inside a window, FP weight (<= 0) outside
    window: IntArray  # index of the window a row lies in, -1 outside any window
    n_windows: int


def window_indices(
    timestamps: npt.NDArray[np.datetime64], windows: Sequence[tuple[np.datetime64, np.datetime64]]
) -> list[tuple[int, int]]:
    """Row index ranges [start, end] (inclusive) of each window, in row order.

    Like NAB, a window starts at the first row stamped with its start and ends at the first
    row stamped with its end (real series repeat a few stamps); a bound that is no row's
    stamp falls back to the rows inside the window.
    """
    ranges = []
    for start, end in windows:
        exact_left = np.flatnonzero(timestamps == start)
        exact_right = np.flatnonzero(timestamps == end)
        left = int(exact_left[0]) if len(exact_left) else _first_at_or_after(timestamps, start)
        right = int(exact_right[0]) if len(exact_right) else _last_at_or_before(timestamps, end)
        if left < 0 or right < 0 or left > right:
            raise ValueError(f"anomaly window {start}..{end} holds no row of the data")
        ranges.append((left, right))
    return ranges


def _first_at_or_after(timestamps: npt.NDArray[np.datetime64], stamp: np.datetime64) -> int:
    rows = np.flatnonzero(timestamps >= stamp)
    return int(rows[0]) if len(rows) else -1


def _last_at_or_before(timestamps: npt.NDArray[np.datetime64], stamp: np.datetime64) -> int:
    rows = np.flatnonzero(timestamps <= stamp)
    return int(rows[-1]) if len(rows) else -1


def sweep_file(
    name: str,
    timestamps: npt.NDArray[np.datetime64],
    scores: npt.ArrayLike,
    windows: Sequence[tuple[np.datetime64, np.datetime64]],
    profile: CostProfile,
) -> FileSweep:
    """Weight every row of one file as NAB's sweeper does."""
    anomaly_scores = np.asarray(scores, dtype=np.float64)
    n_rows = len(timestamps)
    if len(anomaly_scores) != n_rows:
        raise ValueError(f"{name}: {len(anomaly_scores)} scores for {n_rows} rows")
    if np.isnan(anomaly_scores).any():
        raise ValueError(f"{name}: anomaly scores contain NaN")
    ranges = window_indices(timestamps, windows)
    weights = np.empty(n_rows)
    window = np.full(n_rows, -1, dtype=np.int64)
    tp_scale = profile.tp / scaled_sigmoid(-1.0)
    previous: tuple[int, int] | None = None  # (right index, width) of the last window passed
    cursor = 0
    for index, (left, right) in enumerate([*ranges, (n_rows, n_rows - 1)]):
        before = np.arange(cursor, min(left, n_rows))  # rows up to this window: FP weights
        if previous is None:
            weights[before] = -profile.fp
        else:
            past = np.abs(previous[0] - before) / float(max(previous[1] - 1, 1))
            weights[before] = _scaled_sigmoids(past) * profile.fp
        if left >= n_rows:
            break
        width = right - left + 1
        inside = np.arange(left, right + 1)
        weights[inside] = _scaled_sigmoids(-(right - inside + 1) / float(width)) * tp_scale
        window[inside] = index
        previous = (right, width)
        cursor = right + 1
    probation = probationary_length(n_rows)
    return FileSweep(
        name=name,
        scores=anomaly_scores[probation:],
        weights=weights[probation:],
        window=window[probation:],
        n_windows=len(ranges),
    )


@dataclass(frozen=True)
class Counts:
    score: float
    tp: int  # windows detected
    fn: int  # windows missed
    fp: int  # detections outside every window


def score_at_threshold(sweep: FileSweep, threshold: float, profile: CostProfile) -> Counts:
    """A file's raw NAB score when every row scoring >= threshold is a detection."""
    detected = sweep.scores >= threshold
    outside = sweep.window < 0
    false_positive = detected & outside
    total = float(sweep.weights[false_positive].sum())
    scored_windows = np.unique(sweep.window[~outside])
    tp = 0
    for window in scored_windows:
        hits = detected & (sweep.window == window)
        if hits.any():
            total += float(sweep.weights[hits].max())
            tp += 1
        else:
            total -= profile.fn
    return Counts(total, tp, len(scored_windows) - tp, int(false_positive.sum()))


def optimise_threshold(sweeps: Sequence[FileSweep], profile: CostProfile) -> tuple[float, float]:
    """The corpus-wide threshold with the best total raw score: (threshold, score).

    Sweeps every distinct anomaly score from the highest down, like NAB: lowering the threshold
    past a score turns its rows into detections; an FP row adds its (negative) weight, a window
    row can only raise its window's best weight above the initial ``-fn``.
    """
    scores = np.concatenate([s.scores for s in sweeps])
    weights = np.concatenate([s.weights for s in sweeps])
    offsets = np.cumsum([0] + [int(s.window.max(initial=-1)) + 1 for s in sweeps])[:-1]
    window = np.concatenate(
        [np.where(s.window >= 0, s.window + o, -1) for s, o in zip(sweeps, offsets, strict=True)]
    )
    order = np.argsort(-scores, kind="stable")
    scores, weights, window = scores[order], weights[order], window[order]
    delta = np.where(window < 0, weights, 0.0)
    scored_windows = np.unique(window[window >= 0])
    for w in scored_windows:  # few windows: a loop per window is cheap
        rows = np.flatnonzero(window == w)
        window_best = np.maximum.accumulate(np.concatenate([[-profile.fn], weights[rows]]))
        delta[rows] = np.diff(window_best)
    running = -profile.fn * len(scored_windows) + np.cumsum(delta)
    # a threshold equal to a score includes all rows with that score: take the last of each run
    last_of_run = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))
    candidates = np.concatenate([[-profile.fn * len(scored_windows)], running[last_of_run]])
    above_all = max(1.1, float(np.nextafter(scores[0], np.inf)))  # detects nothing
    thresholds = np.concatenate([[above_all], scores[last_of_run]])
    best = int(np.argmax(candidates))  # first maximum: the highest threshold among equals
    return float(thresholds[best]), float(candidates[best])


@dataclass
class ProfileResult:
    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    files: dict[str, Counts] = field(default_factory=dict)

    @property
    def normalised(self) -> float:
        return normalise(self.raw, self.null, self.perfect)

    def by_category(
        self, perfect_tp: float, null_files: Mapping[str, Counts]
    ) -> dict[str, CategoryScore]:
        """Per category (the folder part of each file name): normalised score and counts.

        A category without windows has no normalised score (null = perfect there); its
        false positives tell how quiet the detector stays on clean series.
        """
        groups: dict[str, list[str]] = {}
        for name in self.files:
            groups.setdefault(name.split("/")[0], []).append(name)
        result = {}
        for category, names in sorted(groups.items()):
            counts = [self.files[n] for n in names]
            windows = sum(c.tp + c.fn for c in counts)
            raw = sum(c.score for c in counts)
            null = sum(null_files[n].score for n in names)
            result[category] = CategoryScore(
                score=normalise(raw, null, windows * perfect_tp) if windows else None,
                tp=sum(c.tp for c in counts),
                fn=sum(c.fn for c in counts),
                fp=sum(c.fp for c in counts),
            )
        return result


@dataclass(frozen=True)
class CategoryScore:
    score: float | None
    tp: int
    fn: int
    fp: int


def normalise(raw: float, null: float, perfect: float) -> float:
    if perfect == null:
        return math.nan
    return 100.0 * (raw - null) / (perfect - null)


@dataclass(frozen=True)
class LabelledFile:
    """One data file's timestamps, its detector scores and its anomaly windows."""

    timestamps: npt.NDArray[np.datetime64]
    scores: FloatArray
    windows: list[tuple[np.datetime64, np.datetime64]]


def score_profile(files: Mapping[str, LabelledFile], profile: CostProfile) -> ProfileResult:
    """Optimise the threshold over all files and score each, beside the null detector."""
    if not files:
        raise ValueError("no files to score")
    sweeps = {
        n: sweep_file(n, f.timestamps, f.scores, f.windows, profile) for n, f in files.items()
    }
    threshold, raw = optimise_threshold(list(sweeps.values()), profile)
    per_file = {n: score_at_threshold(s, threshold, profile) for n, s in sweeps.items()}
    null = null_result(files, profile)
    n_windows = sum(c.tp + c.fn for c in per_file.values())
    return ProfileResult(profile.name, threshold, raw, null.raw, n_windows * profile.tp, per_file)


def null_result(files: Mapping[str, LabelledFile], profile: CostProfile) -> ProfileResult:
    """NAB's null detector: a constant score, its threshold optimised like any detector's."""
    sweeps = {
        n: sweep_file(n, f.timestamps, np.full(len(f.timestamps), 0.5), f.windows, profile)
        for n, f in files.items()
    }
    threshold, raw = optimise_threshold(list(sweeps.values()), profile)
    per_file = {n: score_at_threshold(s, threshold, profile) for n, s in sweeps.items()}
    return ProfileResult(profile.name, threshold, raw, raw, raw, per_file)


@dataclass(frozen=True)
class NabScore:
    """A detector's NAB result: per profile, overall and per category (normalised 0..100)."""

    profiles: dict[str, ProfileResult]
    categories: dict[str, dict[str, CategoryScore]]  # profile -> category -> score

    @property
    def overall(self) -> dict[str, float]:
        return {name: result.normalised for name, result in self.profiles.items()}

    def to_json(self) -> dict[str, object]:
        return {
            name: {
                "score": round(result.normalised, 2),
                "threshold": result.threshold,
                "raw": round(result.raw, 4),
                "null": round(result.null, 4),
                "perfect": result.perfect,
                "categories": {
                    c: {
                        "score": None if v.score is None else round(v.score, 2),
                        "tp": v.tp,
                        "fn": v.fn,
                        "fp": v.fp,
                    }
                    for c, v in self.categories[name].items()
                },
            }
            for name, result in self.profiles.items()
        }


def score_corpus(
    files: Mapping[str, LabelledFile], profiles: Mapping[str, CostProfile] = PROFILES
) -> NabScore:
    """Score a detector's outputs on a labelled corpus under every profile."""
    results: dict[str, ProfileResult] = {}
    categories: dict[str, dict[str, CategoryScore]] = {}
    for name, profile in profiles.items():
        result = score_profile(files, profile)
        null = null_result(files, profile)
        results[name] = result
        categories[name] = result.by_category(profile.tp, null.files)
    return NabScore(results, categories)
