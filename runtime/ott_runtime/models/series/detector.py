"""Streaming anomaly detector for one metric series: LSTM forecast + dynamic threshold.

The same settings serve every series (no per-file tuning): the forecaster learns on the first
stretch of the series (NAB's probationary period: 15 % of it, at most 750 rows), then scores
the rest causally and is fine-tuned on recent history every ``refit_every`` rows. Beside the
forecast residual, a value beyond every value seen so far (a range breakout) always scores
high. After an onset, lower scores stay silent for a rest period (on a whole series: twice the
warm-up, as NAB's detectors derive theirs from the probationary period).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from ott_runtime.models.series.lstm import (
    LstmConfig,
    LstmForecaster,
    Timestamps,
    calendar_features,
)
from ott_runtime.models.series.threshold import DynamicThreshold, ThresholdConfig

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DetectorConfig:
    lstm: LstmConfig = field(default_factory=LstmConfig)
    threshold: ThresholdConfig = field(default_factory=ThresholdConfig)
    warmup_fraction: float = 0.15
    warmup_max: int = 750
    warmup_min: int = 120
    refit_every: int = 1500
    refit_history: int = 3000
    refit_epochs: int = 2
    rest_warmups: float = 2.0  # on a whole series: rest period = this many warm-up lengths
    breakout_margin: float = 0.01  # beyond the range seen by this share of the range


@dataclass(frozen=True)
class SeriesScore:
    """One scored bucket: its forecast, anomaly score, onset score and whether it alerts."""

    forecast: float
    score: float
    onset: float
    alert: bool


def range_breakouts(values: FloatArray, warmup: int, margin: float) -> FloatArray:
    """1.0 where a value lies beyond every value before it (after the warm-up) by more than
    ``margin`` times their range, else 0.0."""
    highest = np.maximum.accumulate(values)[:-1]
    lowest = np.minimum.accumulate(values)[:-1]
    slack = margin * (highest - lowest)
    beyond = np.zeros(len(values))
    beyond[1:] = (values[1:] > highest + slack) | (values[1:] < lowest - slack)
    beyond[:warmup] = 0.0
    return beyond


class SeriesAnomalyDetector:
    """Per-tenant, per-metric detector; ``score_series`` for a whole file, ``update`` live."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        self.forecaster = LstmForecaster(self.config.lstm)
        self.threshold = DynamicThreshold(self.config.threshold)
        self._low, self._high = -np.inf, np.inf  # range seen so far (set by prime/score)
        self._recent: deque[tuple[np.datetime64, float]] = deque(
            maxlen=self.config.lstm.lookback + 1
        )

    def warmup_rows(self, n_rows: int) -> int:
        cfg = self.config
        return int(max(cfg.warmup_min, min(cfg.warmup_fraction * n_rows, cfg.warmup_max)))

    def score_series(self, timestamps: Timestamps, values: FloatArray) -> FloatArray:
        """Onset anomaly score in [0, 1] for every row, computed causally (0 while warming up)."""
        cfg = self.config
        values = np.asarray(values, dtype=np.float64)
        n_rows = len(values)
        warmup = self.warmup_rows(n_rows)
        lookback = cfg.lstm.lookback
        if n_rows <= warmup + 1:
            raise ValueError(f"series of {n_rows} rows is too short (warm-up {warmup})")
        self.forecaster.fit(timestamps[:warmup], values[:warmup])
        residuals = np.zeros(n_rows)
        # warm-up residuals (in-sample) seed the threshold's rolling statistics
        residuals[lookback:warmup] = self.forecaster.residuals(timestamps[:warmup], values[:warmup])
        start = warmup
        while start < n_rows:
            end = min(start + cfg.refit_every, n_rows)
            context = slice(start - lookback, end)
            residuals[start:end] = self.forecaster.residuals(timestamps[context], values[context])
            if end < n_rows:  # fine-tune on the history that has now been seen
                seen = slice(max(0, end - cfg.refit_history), end)
                self.forecaster.fit(timestamps[seen], values[seen], epochs=cfg.refit_epochs)
            start = end
        rest = max(cfg.threshold.rest, int(cfg.rest_warmups * warmup))
        self.threshold = DynamicThreshold(replace(cfg.threshold, rest=rest))
        breakouts = range_breakouts(values, warmup, cfg.breakout_margin)
        _, onsets = self.threshold.score_batch(residuals[lookback:], breakouts[lookback:])
        scores = np.zeros(n_rows)
        scores[lookback:] = onsets
        scores[:warmup] = 0.0
        self._low, self._high = float(values.min()), float(values.max())
        self._recent.extend(zip(timestamps[-lookback - 1 :], values[-lookback - 1 :], strict=True))
        return scores

    def fit(self, timestamps: Timestamps, values: FloatArray) -> list[float]:
        """Train on a history and prime the threshold with its residuals."""
        losses = self.forecaster.fit(timestamps, values)
        self.prime(timestamps, values)
        return losses

    def prime(self, timestamps: Timestamps, values: FloatArray) -> None:
        """Feed recent history through the threshold and keep the last window for ``update``."""
        self.threshold = DynamicThreshold(self.config.threshold)
        self.threshold.score_batch(self.forecaster.residuals(timestamps, values))
        self._low, self._high = float(np.min(values)), float(np.max(values))
        self._recent.clear()
        self._recent.extend(
            zip(
                timestamps[-self.config.lstm.lookback - 1 :],
                np.asarray(values[-self.config.lstm.lookback - 1 :], dtype=float),
                strict=True,
            )
        )

    def update(self, timestamp: np.datetime64, value: float) -> SeriesScore:
        """Score one new bucket against the forecast made from the buckets before it."""
        self._recent.append((timestamp, float(value)))
        lookback = self.config.lstm.lookback
        if len(self._recent) <= lookback:
            return SeriesScore(float(value), 0.0, 0.0, False)
        stamps = np.array([t for t, _ in self._recent], dtype="datetime64[ns]")
        values = np.array([v for _, v in self._recent], dtype=np.float64)
        residual = float(self.forecaster.residuals(stamps, values)[-1])
        assert self.forecaster.scaler is not None
        actual_scaled = float(self.forecaster.scaler.transform(values[-1:])[0])
        forecast = float(self.forecaster.scaler.inverse(np.array([actual_scaled - residual]))[0])
        slack = self.config.breakout_margin * (self._high - self._low)
        breakout = not self._low - slack <= float(value) <= self._high + slack
        self._low, self._high = min(self._low, float(value)), max(self._high, float(value))
        score, onset = self.threshold.update(residual, breakout)
        return SeriesScore(forecast, score, onset, self.threshold.is_alert(onset))


__all__ = ["DetectorConfig", "SeriesAnomalyDetector", "SeriesScore", "calendar_features"]
