"""The LSTM series detector learns a seasonal series, catches a blatant anomaly, stays quiet
on a clean series, and scores the same in batch and in streaming."""

from __future__ import annotations

import numpy as np
import pytest

from ott_runtime.models.series.detector import DetectorConfig, SeriesAnomalyDetector
from ott_runtime.models.series.lstm import LstmConfig, calendar_features
from ott_runtime.models.series.threshold import DynamicThreshold, ThresholdConfig

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
    assert 800 in alerts
    assert len(alerts) <= 3  # the onset, not a flood


def test_streaming_update_alerts_on_a_spike(
    clean_scores: tuple[SeriesAnomalyDetector, np.ndarray],
) -> None:
    detector, _ = clean_scores
    stamps, values = seasonal(1100)
    detector.prime(stamps[:1000], values[:1000])
    quiet = [detector.update(stamps[i], values[i]) for i in range(1000, 1050)]
    assert not any(s.alert for s in quiet)
    spike = detector.update(stamps[1050], values[1050] + 400)
    assert spike.alert
    assert 0.0 <= spike.score <= 1.0
    assert abs(spike.forecast - values[1050]) < 30  # the forecast followed the cycle


def test_threshold_batch_and_streaming_agree() -> None:
    residuals = np.random.default_rng(1).normal(size=600)
    residuals[500] += 15
    residuals[200] += 4  # a mild miss that is also a new extreme: the breakout lifts it
    breakouts = np.zeros(600)
    breakouts[[200, 300]] = 1.0  # row 300 is a new extreme the forecast expected: not news
    config = ThresholdConfig(window=100, rest=50)
    batch_scores, batch_onsets = DynamicThreshold(config).score_batch(residuals, breakouts)
    stream = DynamicThreshold(config)
    streamed = np.array(
        [stream.update(float(r), bool(b)) for r, b in zip(residuals, breakouts, strict=True)]
    )
    np.testing.assert_allclose(batch_scores, streamed[:, 0], atol=1e-12)
    np.testing.assert_allclose(batch_onsets, streamed[:, 1], atol=1e-12)
    assert stream.is_alert(batch_onsets[500])
    assert (batch_onsets[501:551] == 0).all()  # rest period after the onset
    assert batch_scores[200] >= 0.9
    assert batch_scores[300] < 0.5


def test_too_short_series_is_refused() -> None:
    stamps, values = seasonal(100)
    with pytest.raises(ValueError, match="too short"):
        SeriesAnomalyDetector(TINY).score_series(stamps, values)
