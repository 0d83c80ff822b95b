"""The series detector's scale-free signals, without TensorFlow: each does what its docstring
says on tiny data, in any unit, and the streaming scorer equals the whole-series path."""

from __future__ import annotations

import numpy as np
import pytest

from ott_runtime.models.series.alerting import (
    AlertConfig,
    SignalSet,
    StreamingScorer,
    fuse,
    onset_series,
    signal_series,
)
from ott_runtime.models.series.lstm import Scaler
from ott_runtime.models.series.signals import Z_CLIP, RobustZ, TailCalibration
from ott_runtime.models.series.threshold import OnsetGate, ThresholdConfig


def shifted(scale: float, offset: float, n: int = 600, at: int = 400) -> np.ndarray:
    """Noise in some unit, with a level shift of eight of its standard deviations at ``at``."""
    values = np.random.default_rng(5).normal(0, 1, n)
    values[at:] += 8
    return values * scale + offset


@pytest.mark.parametrize(("scale", "offset"), [(1.0, 0.0), (1e-4, 3e-3), (2e6, 5e9), (7.0, -40)])
def test_a_level_shift_is_caught_in_any_unit(scale: float, offset: float) -> None:
    normaliser = RobustZ(window=300)
    z = np.array([normaliser.step(v) for v in shifted(scale, offset)])
    assert np.abs(z[60:400]).max() < 5  # ordinary noise
    assert z[400:420].min() > 5  # the shift, in its first rows
    reference = RobustZ(window=300)
    expected = np.array([reference.step(v) for v in shifted(1.0, 0.0)])
    np.testing.assert_allclose(z, expected, rtol=1e-6, atol=1e-6)  # the unit does not matter


def test_a_flat_series_scores_nothing_until_it_moves() -> None:
    normaliser, calibration = RobustZ(window=100), TailCalibration(window=1000)
    flat = [calibration.step(abs(normaliser.step(3.0))) for _ in range(500)]
    assert max(flat) == 0.0
    assert normaliser.step(3.5) == Z_CLIP  # any move off an exactly flat history is extreme
    assert calibration.step(Z_CLIP) > 10


def test_mostly_one_value_still_has_a_spread() -> None:
    normaliser = RobustZ(window=200)
    values = np.zeros(200)
    values[::20] = 1.0  # MAD 0: the mean absolute deviation is the spread
    for value in values:
        normaliser.step(float(value))
    assert 0 < normaliser.z(1.0) < Z_CLIP


def test_tail_calibration_extrapolates_and_widens_for_heavy_tails() -> None:
    rng = np.random.default_rng(1)
    light, heavy = TailCalibration(5000), TailCalibration(5000)
    for a, b in zip(np.abs(rng.normal(size=3000)), np.abs(rng.standard_cauchy(3000)), strict=True):
        light.step(float(a))
        heavy.step(float(b))
    assert light.surprise(0.5) < 1  # in the body: common
    assert light.surprise(6.0) > light.surprise(4.5) + 2  # beyond every value: ever rarer
    assert light.surprise(6.0) > 6
    assert heavy.surprise(6.0) < light.surprise(6.0) - 3  # spiky history: not news


def test_breakout_lifts_the_score_only_when_it_votes() -> None:
    row = (0.2, 0.1, 0.3, 1.0)  # likelihood, seasonal, level, breakout
    assert fuse(row, AlertConfig()) >= 0.9
    assert fuse(row, AlertConfig(breakout=False)) == pytest.approx(0.3)
    assert fuse(row, AlertConfig(breakout=False, level=False)) == pytest.approx(0.2)


def test_onset_gate_rests_for_its_window_only() -> None:
    gate = OnsetGate(rest=5, max_delay=3)
    onsets = [gate.step(s) for s in [0.9, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.5, 0.0]]
    assert onsets == [0.0, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5]


def scaled_series(n: int = 900) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    stamps = np.datetime64("2026-01-05") + np.arange(n) * np.timedelta64(10, "m")
    rng = np.random.default_rng(2)
    values = 50 + 20 * np.sin(2 * np.pi * np.arange(n) / 144) + rng.normal(0, 2, n)
    values[700] += 200
    residuals = rng.normal(0, 0.1, n)
    residuals[700] = 8.0
    return stamps.astype("datetime64[ns]"), values, residuals


def test_streaming_scores_equal_the_whole_series_path() -> None:
    _, values, residuals = scaled_series()
    config, alert, scaler = ThresholdConfig(), AlertConfig(), Scaler.fit(values[:150])
    rows = signal_series(values, residuals, config, scaler, period=144, counts=True)
    onsets = onset_series(rows, alert, warmup=150, rest=75, max_delay=config.max_delay)
    scorer = StreamingScorer(config, alert, scaler, period=144, rest=75, counts=True)
    streamed = [
        scorer.step(v, r, row >= 150)[1]
        for row, (v, r) in enumerate(zip(values, residuals, strict=True))
    ]
    np.testing.assert_allclose(onsets, streamed)
    alerts = np.flatnonzero(onsets >= config.alert_level)
    assert alerts.tolist() == [701]  # the spike, reported on the row after it


def test_signals_need_no_daily_period() -> None:
    """Daily data has no intra-day cycle (period 0): the seasonal signal stays silent."""
    _, values, residuals = scaled_series(800)
    signals = SignalSet(ThresholdConfig(), Scaler.fit(values[:100]), period=0, counts=True)
    rows = np.array([signals.step(v, r) for v, r in zip(values, residuals, strict=True)])
    assert rows[:, 1].max() == 0.0
