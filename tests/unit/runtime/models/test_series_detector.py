"""The LSTM series detector learns a seasonal series, catches a blatant anomaly, stays quiet
on a clean series, and scores the same in batch and in streaming."""

from __future__ import annotations

import numpy as np
import pytest

from ott_runtime.models.series.detector import DetectorConfig, SeriesAnomalyDetector
from ott_runtime.models.series.lstm import LstmConfig, calendar_features
from ott_runtime.models.series.seasonal import SeasonalDeviation, daily_period
from ott_runtime.models.series.threshold import OnsetGate, ResidualLikelihood, ThresholdConfig

TINY = DetectorConfig(lstm=LstmConfig(lookback=12, units=8, epochs=8, batch_size=32, seed=3))


def seasonal(n_rows: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Ten-minute buckets with a daily cycle and mild noise."""
    rng = np.random.default_rng(seed)
    stamps = np.datetime64("2026-01-05T00:00") + np.arange(n_rows) * np.timedelta64(10, "m")
    phase = 2 * np.pi * np.arange(n_rows) / 144
    values = 100 + 40 * np.sin(phase) + rng.normal(0, 3, n_rows)
    return stamps.astype("datetime64[ns]"), values


@pytest.fixture(scope="module")
def clean_scores() -> tuple[SeriesAnomalyDetector, np.ndarray]:
    stamps, values = seasonal()
    detector = SeriesAnomalyDetector(TINY)
    return detector, detector.score_series(stamps, values)


def test_calendar_features_encode_hour_and_weekday() -> None:
    stamps = np.array(
        ["2026-01-05T06:00", "2026-01-05T18:00", "2026-01-12T06:00"], "datetime64[ns]"
    )
    features = calendar_features(stamps)
    assert features.shape == (3, 4)
    assert features[0, 0] == pytest.approx(1.0)  # 06:00 -> sin = 1
    assert features[1, 0] == pytest.approx(-1.0)
    np.testing.assert_allclose(features[0], features[2], atol=1e-9)  # same hour, a week later


def test_loss_falls_while_training(clean_scores: tuple[SeriesAnomalyDetector, np.ndarray]) -> None:
    history = clean_scores[0].forecaster.history
    assert len(history) >= 3
    assert history[-1] < 0.5 * history[0]


def test_clean_series_raises_no_alert(
    clean_scores: tuple[SeriesAnomalyDetector, np.ndarray],
) -> None:
    detector, scores = clean_scores
    assert scores.max() < detector.config.threshold.alert_level


def test_blatant_spike_is_caught() -> None:
    stamps, values = seasonal()
    values[800] += 400  # ten times the noise band
    detector = SeriesAnomalyDetector(TINY)
    scores = detector.score_series(stamps, values)
    alerts = np.flatnonzero(scores >= detector.config.threshold.alert_level)
    assert len(alerts) == 1  # the onset, not a flood
    assert 800 <= alerts[0] <= 802  # reported when its rise ends


def test_streaming_update_alerts_on_a_spike(
    clean_scores: tuple[SeriesAnomalyDetector, np.ndarray],
) -> None:
    detector, _ = clean_scores
    stamps, values = seasonal(1100)
    detector.prime(stamps[:1000], values[:1000])
    quiet = [detector.update(stamps[i], values[i]) for i in range(1000, 1050)]
    assert not any(s.alert for s in quiet)
    spike = detector.update(stamps[1050], values[1050] + 400)
    assert 0.9 <= spike.score <= 1.0  # a new extreme the forecast missed
    assert abs(spike.forecast - values[1050]) < 30  # the forecast followed the cycle
    after = detector.update(stamps[1051], values[1051])
    assert after.alert  # the excursion, reported once
    assert after.onset == spike.score
    assert not any(detector.update(stamps[i], values[i]).alert for i in range(1052, 1100))


def test_onset_gate_reports_a_rising_run_once_with_its_peak() -> None:
    gate = OnsetGate(rest=20, max_delay=5)
    scores = [0.1, 0.1, 0.6, 0.7, 0.8, 0.3, 0.75, 0.2] + [0.0] * 20 + [0.5, 0.0]
    onsets = [gate.step(s) for s in scores]
    assert onsets[5] == 0.8  # the staircase 0.6, 0.7, 0.8: one report, its peak
    assert onsets[6] == 0.0  # lower than the peak within the rest period: not news
    assert [i for i, o in enumerate(onsets) if o > 0.1] == [5, 29]  # after the rest: news again
    long_rise = [gate.step(0.6 + 0.01 * i) for i in range(10)]
    assert long_rise[5] == pytest.approx(0.65)  # a long rise is reported after max_delay rows
    assert sum(o > 0 for o in long_rise) == 1
    assert gate.step(0.0) == pytest.approx(0.69)  # the rest of the rise, when it pauses


def test_residual_likelihood_scores_a_sustained_run_above_a_lone_blip() -> None:
    rng = np.random.default_rng(2)
    config = ThresholdConfig(window=200, long_window=500)
    noise = rng.normal(size=600)
    lone, run = ResidualLikelihood(config), ResidualLikelihood(config)
    lone_scores = [lone.step(r) for r in np.concatenate([noise, [4.0], rng.normal(size=5)])]
    run_scores = [run.step(r) for r in np.concatenate([noise, [4.0] * 6])]
    assert max(lone_scores[:600]) < 0.5  # ordinary noise stays low
    assert max(run_scores[600:]) > max(lone_scores[600:]) + 0.1
    assert max(run_scores[600:]) > 0.6


def test_seasonal_deviation_sees_a_flattened_day_and_no_ghost_the_next_day() -> None:
    stamps = np.datetime64("2026-01-05T00:00") + np.arange(144 * 5) * np.timedelta64(10, "m")
    assert daily_period(stamps.astype("datetime64[ns]")) == 144
    cycle = np.sin(2 * np.pi * np.arange(144 * 5) / 144)
    values = cycle + np.random.default_rng(3).normal(0, 0.05, len(cycle))
    values[144 * 3 + 20 : 144 * 3 + 80] = 0.0  # the daily curve flattens for ten hours
    seasonal = SeasonalDeviation(ThresholdConfig(), daily_period(stamps))
    scores = np.array([seasonal.step(v, v) for v in values])
    assert scores[: 144 * 3].max() < 0.5
    assert scores[144 * 3 + 20 : 144 * 3 + 90].max() > 0.8
    assert scores[144 * 4 :].max() < 0.5  # remembered as expected: no echo a day later


def test_too_short_series_is_refused() -> None:
    stamps, values = seasonal(100)
    with pytest.raises(ValueError, match="too short"):
        SeriesAnomalyDetector(TINY).score_series(stamps, values)


def test_a_broken_daily_pattern_is_caught_where_each_step_looks_plausible() -> None:
    stamps, values = seasonal()
    broken = values.copy()
    broken[700:790] = 100 + np.random.default_rng(4).normal(0, 3, 90)  # the cycle flattens
    detector = SeriesAnomalyDetector(TINY)
    scores = detector.score_series(stamps, broken)
    alerts = np.flatnonzero(scores >= detector.config.threshold.alert_level)
    assert len(alerts) >= 1
    assert 700 <= alerts[0] < 800
    assert (alerts < 700).sum() == 0


@pytest.mark.parametrize(
    ("step", "scale"),
    [(np.timedelta64(5, "s"), 1e-3), (np.timedelta64(1, "D"), 1e6)],
    ids=["every 5 s, milli-units", "daily, millions"],
)
def test_a_level_shift_is_caught_at_any_sampling_rate_and_unit(
    step: np.timedelta64, scale: float
) -> None:
    rng = np.random.default_rng(7)
    stamps = (np.datetime64("2026-01-05") + np.arange(900) * step).astype("datetime64[ns]")
    values = (500 + rng.normal(0, 5, 900)) * scale
    values[700:] += 60 * scale  # twelve noise deviations up, for good
    detector = SeriesAnomalyDetector(TINY)
    scores = detector.score_series(stamps, values)
    alerts = np.flatnonzero(scores >= detector.config.threshold.alert_level)
    assert len(alerts) >= 1
    assert 700 <= alerts[0] < 715  # caught within a few rows of the shift
    assert (alerts < 700).sum() == 0  # and nothing before it


def test_a_flat_series_raises_nothing() -> None:
    stamps = np.datetime64("2026-01-05") + np.arange(800) * np.timedelta64(1, "m")
    detector = SeriesAnomalyDetector(TINY)
    scores = detector.score_series(stamps.astype("datetime64[ns]"), np.full(800, 42.0))
    assert scores.max() < detector.config.threshold.alert_level
