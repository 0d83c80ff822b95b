"""The NAB scorer reproduces NAB's published Numenta HTM numbers and behaves like NAB's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ott_runtime.models.evaluation.nab import (
    PROFILES,
    LabelledFile,
    optimise_threshold,
    probationary_length,
    scaled_sigmoid,
    score_at_threshold,
    score_corpus,
    sweep_file,
)
from ott_runtime.models.evaluation.nab_corpus import (
    CorpusError,
    default_nab_dir,
    load_published_scores,
    read_series_csv,
)


def test_reproduces_published_numenta_htm_on_the_subset() -> None:
    files = load_published_scores(default_nab_dir(), "numenta")
    assert len(files) == 29
    result = score_corpus(files)
    overall = {name: round(score, 1) for name, score in result.overall.items()}
    assert overall == {"standard": 65.2, "reward_low_FP_rate": 59.7, "reward_low_FN_rate": 69.6}
    # the null detector detects nothing: every window is a miss
    assert result.profiles["standard"].null == -55.0
    assert result.profiles["reward_low_FN_rate"].null == -110.0
    categories = result.categories["standard"]
    assert categories["artificialNoAnomaly"].score is None  # no window: nothing to normalise
    assert sum(c.tp + c.fn for c in categories.values()) == 55


def test_scaled_sigmoid_rewards_early_detection() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.9866, abs=1e-4)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(-0.1) < scaled_sigmoid(-0.9)
    assert scaled_sigmoid(3.5) == -1.0


def _toy_file(scores: np.ndarray, window: tuple[int, int] = (600, 700)) -> LabelledFile:
    stamps = np.datetime64("2024-01-01T00:00") + np.arange(len(scores)) * np.timedelta64(1, "m")
    return LabelledFile(stamps, scores, [(stamps[window[0]], stamps[window[1]])])


def test_perfect_and_null_detectors_score_100_and_0() -> None:
    perfect = np.zeros(1000)
    perfect[600] = 1.0  # first row of the window
    assert score_corpus({"c/a.csv": _toy_file(perfect)}).overall["standard"] == pytest.approx(100)
    flat = np.full(1000, 0.3)
    assert score_corpus({"c/a.csv": _toy_file(flat)}).overall["standard"] == pytest.approx(0)


def test_late_detection_and_false_positives_cost() -> None:
    early, late, noisy = np.zeros(1000), np.zeros(1000), np.zeros(1000)
    early[610], late[695] = 1.0, 1.0
    noisy[610] = 1.0
    noisy[300:310] = 1.0  # ten false positives before the window
    score = {
        name: score_corpus({"c/a.csv": _toy_file(s)}).overall["standard"]
        for name, s in {"early": early, "late": late, "noisy": noisy}.items()
    }
    assert score["early"] > score["late"] > 0
    assert score["early"] > score["noisy"]


def test_detections_in_the_probationary_period_are_ignored() -> None:
    assert probationary_length(1000) == 150
    assert probationary_length(100_000) == 750
    scores = np.zeros(1000)
    scores[600] = 1.0
    base = score_corpus({"c/a.csv": _toy_file(scores)}).overall["standard"]
    scores[:100] = 1.0
    assert score_corpus({"c/a.csv": _toy_file(scores)}).overall["standard"] == base


def test_threshold_sweep_matches_brute_force() -> None:
    rng = np.random.default_rng(7)
    profile = PROFILES["standard"]
    sweeps = [
        sweep_file(f"c/{i}.csv", f.timestamps, f.scores, f.windows, profile)
        for i, f in enumerate(
            _toy_file(np.round(rng.random(1000), 2), window=(w, w + 80)) for w in (200, 500, 850)
        )
    ]
    threshold, best = optimise_threshold(sweeps, profile)
    brute = {
        t: sum(score_at_threshold(s, t, profile).score for s in sweeps)
        for t in np.unique(np.concatenate([s.scores for s in sweeps]))
    }
    assert best == pytest.approx(max(brute.values()))
    assert brute[threshold] == pytest.approx(best)


def test_bad_series_csv_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("time,val\n1,2\n")
    with pytest.raises(CorpusError, match="missing column"):
        read_series_csv(path)
    path.write_text("timestamp,value\n2024-01-01 00:00,1\n2024-01-01 00:01,oops\n")
    with pytest.raises(CorpusError, match="bad timestamp or value"):
        read_series_csv(path)
    path.write_text("timestamp,value\n2024-01-01 00:01,1\n2024-01-01 00:00,2\n")
    with pytest.raises(CorpusError, match="must increase"):
        read_series_csv(path)
