"""The evaluation protocols: leave-one-category-out never scores a category with a choice made
on it, in-sample says so; the forecast cache trains once; `ottc eval` names its protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ott_runtime.cli import cli
from ott_runtime.models.evaluation import forecast_cache
from ott_runtime.models.evaluation.loco import in_sample, leave_one_category_out
from ott_runtime.models.evaluation.nab import LabelledFile
from ott_runtime.models.series.detector import DetectorConfig, SeriesAnomalyDetector
from ott_runtime.models.series.lstm import LstmConfig

N = 400
STAMPS = (np.datetime64("2026-01-01") + np.arange(N) * np.timedelta64(5, "m")).astype(
    "datetime64[ns]"
)
WINDOW = [(STAMPS[300], STAMPS[340])]


def file_with(detect_at: int | None) -> LabelledFile:
    scores = np.zeros(N)
    if detect_at is not None:
        scores[detect_at] = 0.9
    return LabelledFile(STAMPS, scores, list(WINDOW))


def corpus(hits: dict[str, int | None]) -> dict[str, LabelledFile]:
    return {name: file_with(row) for name, row in hits.items()}


# "early" finds the window in categories a and b, "late" only in c (and misses a and b)
CANDIDATES = {
    "early": corpus({"a/1.csv": 305, "a/2.csv": 305, "b/1.csv": 305, "c/1.csv": None}),
    "late": corpus({"a/1.csv": None, "a/2.csv": None, "b/1.csv": None, "c/1.csv": 320}),
}


def test_a_held_out_category_gets_the_choice_of_the_others() -> None:
    result = leave_one_category_out(CANDIDATES)
    choices = {fold.category: fold.choice for fold in result.folds}
    assert choices == {"a": "early", "b": "early", "c": "early"}  # c never chooses for itself
    held_c = next(f for f in result.folds if f.category == "c").profiles["standard"]
    assert (held_c.tp, held_c.fn) == (0, 1)  # and is scored as it comes: its window missed
    assert held_c.score == pytest.approx(0.0)  # no better than the null detector there
    assert result.protocol == "leave-one-category-out"


def test_in_sample_chooses_on_every_file_and_says_so() -> None:
    result = in_sample(CANDIDATES)
    assert result.protocol.startswith("in-sample")
    assert {fold.choice for fold in result.folds} == {"early"}  # best on all four files
    assert result.pooled["standard"] > 0


def test_the_threshold_is_chosen_without_the_held_out_category() -> None:
    # the same detector; in c its detection scores 0.3, below what a and b need (0.9)
    files = corpus({"a/1.csv": 305, "b/1.csv": 305, "c/1.csv": None})
    low = np.zeros(N)
    low[305] = 0.3
    low[100] = 0.2  # and a false alarm that a threshold of 0.2 would let in
    files["c/1.csv"] = LabelledFile(STAMPS, low, list(WINDOW))
    folds = {f.category: f for f in leave_one_category_out({"only": files}).folds}
    assert folds["c"].profiles["standard"].tp == 0  # c's own best threshold (0.3) not used
    assert folds["a"].profiles["standard"].tp == 1


def test_loco_needs_two_categories() -> None:
    with pytest.raises(ValueError, match="two categories"):
        leave_one_category_out({"x": corpus({"a/1.csv": 305, "a/2.csv": None})})


TINY = DetectorConfig(lstm=LstmConfig(lookback=12, units=8, epochs=2, batch_size=32, seed=3))


def test_the_forecast_is_computed_once_and_keyed_by_data_and_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = 10 + np.sin(np.arange(N) / 10.0)
    first = forecast_cache.forecast(STAMPS, values, TINY, tmp_path)
    cached = forecast_cache.signals(STAMPS, values, TINY, tmp_path)

    def no_training(*_: object) -> None:
        raise AssertionError("trained again")

    monkeypatch.setattr(SeriesAnomalyDetector, "residual_series", no_training)
    again = forecast_cache.forecast(STAMPS, values, TINY, tmp_path)
    np.testing.assert_array_equal(first.residuals, again.residuals)
    assert first.scaler == again.scaler
    np.testing.assert_array_equal(cached, forecast_cache.signals(STAMPS, values, TINY, tmp_path))
    key = forecast_cache.cache_key(STAMPS, values, TINY)
    assert key != forecast_cache.cache_key(STAMPS, values + 1, TINY)
    other = DetectorConfig(lstm=LstmConfig(lookback=12, units=8, epochs=3, seed=3))
    assert key != forecast_cache.cache_key(STAMPS, values, other)
    assert not list(tmp_path.glob("*.partial.npz"))


def test_eval_refuses_an_unknown_protocol(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", "--protocol", "best-case", "--out", "x.json"])
    assert result.exit_code != 0
    assert "'loco'" in result.output
    assert "'in-sample'" in result.output


def test_eval_help_names_the_protocols() -> None:
    result = CliRunner().invoke(cli, ["eval", "--help"])
    assert result.exit_code == 0
    assert "leave-one-category-out" in result.output
    assert "seeds 0-4" in result.output


def tiny_corpus(folder: Path) -> Path:
    """Two categories of two short files each, in NAB's layout, one window per file."""
    import json

    rng = np.random.default_rng(4)
    windows = {}
    for category in ("catA", "catB"):
        (folder / "data" / category).mkdir(parents=True)
        for index in range(2):
            values = 10 + rng.normal(0, 1, 300)
            values[250:] += 15
            stamps = STAMPS[:300]
            lines = [
                f"{np.datetime_as_string(t, 's')},{v}" for t, v in zip(stamps, values, strict=True)
            ]
            name = f"{category}/f{index}.csv"
            (folder / "data" / name).write_text("timestamp,value\n" + "\n".join(lines) + "\n")
            windows[name] = [[str(STAMPS[240]), str(STAMPS[270])]]
    (folder / "labels").mkdir()
    (folder / "labels" / "combined_windows.json").write_text(json.dumps(windows))
    return folder


def test_eval_names_the_protocol_of_every_row(tmp_path: Path) -> None:
    import json

    corpus = tiny_corpus(tmp_path / "nab")
    out = tmp_path / "eval.json"
    args = ["eval", "--nab", str(corpus), "--protocol", "loco", "--protocol", "in-sample"]
    result = CliRunner().invoke(
        cli, [*args, "--no-cache", "--out", str(out)], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "catA" in line or "catB" in line]
    assert len(rows) == 4  # each category, once per protocol
    assert sum("leave-one-category-out" in line for line in rows) == 2
    assert sum("in-sample" in line for line in rows) == 2
    saved = json.loads(out.read_text())["nab"]
    assert set(saved["detector"]) == {"loco", "in-sample"}
    assert saved["detector"]["loco"]["protocol"] == "leave-one-category-out"
    assert saved["cost"]["files"] == 4
    assert saved["cost"]["files_read_from_cache"] == 0  # --no-cache: all computed
