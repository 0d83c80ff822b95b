"""Streaming anomaly detector for one metric series: LSTM forecast + causal scoring.

The same settings serve every series (no per-file tuning): the forecaster learns on the first
stretch of the series (NAB's probationary period: 15 % of it, at most 750 rows), then scores
the rest causally and is fine-tuned on recent history every ``refit_every`` rows
(:class:`ForecastSchedule`). Its one-step residuals and the values become four scale-free
signals per row (:mod:`.threshold`, :mod:`.signals`), voted into one score and gated
(:mod:`.alerting`): an onset gate reports each excursion once, and after an onset lower scores
stay silent for ``AlertConfig.rest_warmups`` warm-up lengths. Live, ``prime`` feeds recent
history through the same signals and ``update`` scores one bucket at a time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ott_runtime.models.series.alerting import (
    AlertConfig,
    StreamingScorer,
    onset_series,
    signal_series,
)
from ott_runtime.models.series.lstm import (
    LstmConfig,
    LstmForecaster,
    Timestamps,
    calendar_features,
)
from ott_runtime.models.series.seasonal import daily_period
from ott_runtime.models.series.threshold import ThresholdConfig

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ForecastSchedule:
    """When the forecaster learns on a whole series: the warm-up, then periodic fine-tuning."""

    warmup_fraction: float = 0.15
    warmup_max: int = 750
    warmup_min: int = 120
    refit_every: int = 1500
    refit_history: int = 3000
    refit_epochs: int = 2


@dataclass(frozen=True)
class DetectorConfig:
    lstm: LstmConfig = field(default_factory=LstmConfig)
    threshold: ThresholdConfig = field(default_factory=ThresholdConfig)
    schedule: ForecastSchedule = field(default_factory=ForecastSchedule)
    alert: AlertConfig = field(default_factory=AlertConfig)


@dataclass(frozen=True)
class SeriesScore:
    """One scored bucket: its forecast, anomaly score, onset score and whether it alerts."""

    forecast: float
    score: float
    onset: float
    alert: bool


class SeriesAnomalyDetector:
    """Per-tenant, per-metric detector; ``score_series`` for a whole file, ``update`` live."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        self.forecaster = LstmForecaster(self.config.lstm)
        self.scorer: StreamingScorer | None = None
        self._recent: deque[tuple[np.datetime64, float]] = deque(
            maxlen=self.config.lstm.lookback + 1
        )

    def warmup_rows(self, n_rows: int) -> int:
        cfg = self.config.schedule
        return int(max(cfg.warmup_min, min(cfg.warmup_fraction * n_rows, cfg.warmup_max)))

    def residual_series(self, timestamps: Timestamps, values: FloatArray) -> FloatArray:
        """Causal one-step residuals of a whole series (in-sample during the warm-up)."""
        cfg = self.config.schedule
        n_rows = len(values)
        warmup = self.warmup_rows(n_rows)
        lookback = self.config.lstm.lookback
        if n_rows <= warmup + 1:
            raise ValueError(f"series of {n_rows} rows is too short (warm-up {warmup})")
        self.forecaster.fit(timestamps[:warmup], values[:warmup])
        residuals = np.zeros(n_rows)
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
        return residuals

    def score_series(self, timestamps: Timestamps, values: FloatArray) -> FloatArray:
        """Onset anomaly score in [0, 1] for every row, computed causally (0 while warming up)."""
        values = np.asarray(values, dtype=np.float64)
        residuals = self.residual_series(timestamps, values)
        return self.score_residuals(timestamps, values, residuals)

    def score_residuals(
        self, timestamps: Timestamps, values: FloatArray, residuals: FloatArray
    ) -> FloatArray:
        """The onset scores of a whole series from its residuals (the forecaster's scaler)."""
        warmup = self.warmup_rows(len(values))
        signals = self.signal_series(timestamps, values, residuals)
        self._remember(timestamps, values)
        return onset_series(
            signals,
            self.config.alert,
            warmup,
            self.rest_rows(warmup),
            self.config.threshold.max_delay,
        )

    def signal_series(
        self, timestamps: Timestamps, values: FloatArray, residuals: FloatArray
    ) -> FloatArray:
        """Every row's signals (``alerting.SIGNALS``), which no ``AlertConfig`` changes."""
        warmup = self.warmup_rows(len(values))
        period, counts = self._series_kind(timestamps, values[:warmup])
        assert self.forecaster.scaler is not None
        values = np.asarray(values, dtype=np.float64)
        residuals = np.asarray(residuals, dtype=np.float64)
        return signal_series(
            values, residuals, self.config.threshold, self.forecaster.scaler, period, counts
        )

    def rest_rows(self, warmup: int) -> int:
        return max(int(self.config.alert.rest_warmups * warmup), 1)

    def _series_kind(self, timestamps: Timestamps, seen: FloatArray) -> tuple[int, bool]:
        """Rows per day and whether the values are counts (never negative while warming up)."""
        if self.forecaster.scaler is None:
            raise RuntimeError("forecaster is not fitted")
        return daily_period(timestamps), bool(len(seen)) and float(np.min(seen)) >= 0.0

    def _new_scorer(self, timestamps: Timestamps, seen: FloatArray) -> StreamingScorer:
        """A live scorer for this series, learning from ``seen``."""
        period, counts = self._series_kind(timestamps, seen)
        assert self.forecaster.scaler is not None
        rest = self.rest_rows(self.warmup_rows(len(seen)))
        return StreamingScorer(
            self.config.threshold, self.config.alert, self.forecaster.scaler, period, rest, counts
        )

    def _remember(self, timestamps: Timestamps, values: FloatArray) -> None:
        tail = self.config.lstm.lookback + 1
        self._recent.clear()
        self._recent.extend(
            zip(timestamps[-tail:], np.asarray(values[-tail:], dtype=float).tolist(), strict=True)
        )

    def fit(self, timestamps: Timestamps, values: FloatArray) -> list[float]:
        """Train on a history and prime the scorer with its residuals."""
        losses = self.forecaster.fit(timestamps, values)
        self.prime(timestamps, values)
        return losses

    def prime(self, timestamps: Timestamps, values: FloatArray) -> None:
        """Feed recent history through the scorer (no alerts) and keep the last window."""
        values = np.asarray(values, dtype=np.float64)
        residuals = np.zeros(len(values))
        lookback = self.config.lstm.lookback
        residuals[lookback:] = self.forecaster.residuals(timestamps, values)
        self.scorer = self._new_scorer(timestamps, values)
        for value, residual in zip(values, residuals, strict=True):
            self.scorer.step(float(value), float(residual), scored=False)
        self._remember(timestamps, values)

    def update(self, timestamp: np.datetime64, value: float) -> SeriesScore:
        """Score one new bucket against the forecast made from the buckets before it."""
        if self.scorer is None:
            raise RuntimeError("prime the detector with recent history before update")
        self._recent.append((timestamp, float(value)))
        lookback = self.config.lstm.lookback
        if len(self._recent) <= lookback:
            return SeriesScore(float(value), 0.0, 0.0, False)
        stamps = np.array([t for t, _ in self._recent], dtype="datetime64[ns]")
        values = np.array([v for _, v in self._recent], dtype=np.float64)
        residual = float(self.forecaster.residuals(stamps, values)[-1])
        assert self.forecaster.scaler is not None
        # the residual is against the clipped value, so the forecast is too
        actual_scaled = float(self.forecaster.scaled(values[-1:])[0])
        forecast = float(self.forecaster.scaler.inverse(np.array([actual_scaled - residual]))[0])
        score, onset = self.scorer.step(float(value), residual)
        alert = onset >= self.config.threshold.alert_level
        return SeriesScore(forecast, score, onset, alert)


__all__ = ["DetectorConfig", "SeriesAnomalyDetector", "SeriesScore", "calendar_features"]
