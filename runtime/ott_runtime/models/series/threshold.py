"""Dynamic threshold on forecast residuals: rolling robust statistics, no global cut-off.

Each residual is compared with the median and the interquartile range of the residuals
*before* it (a rolling window), so the band widens on noisy stretches and narrows on quiet
ones. The robust z-score maps to an anomaly score in [0, 1]; an alert is raised at the
*onset* of an excursion (a score above the alert level that also exceeds every score of the
last ``rest`` rows), so a long incident is reported once rather than on every row of it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BREAKOUT_SCORE = 0.9
BREAKOUT_MIN_Z = 3.0  # a new extreme counts only when the forecast missed it too
IQR_TO_SIGMA = 1 / 1.349  # the IQR of a normal distribution is 1.349 sigma


@dataclass(frozen=True)
class ThresholdConfig:
    window: int = 1000  # residuals kept for the rolling median and IQR
    min_history: int = 30  # residuals needed before any score is given
    z_half: float = 6.0  # robust z-score that maps to anomaly score 0.5
    scale_floor: float = 0.02  # smallest residual spread, in units of the series' spread
    rest: int = 150  # rows after an onset during which a lower score is not news
    alert_level: float = 0.5  # onset score that raises an alert (z = z_half)


def z_to_score(z: FloatArray) -> FloatArray:
    """A monotone map of |z| onto [0, 1) keeping resolution in the tail (unlike a CDF)."""
    return np.asarray(z * z / (z * z + 1.0), dtype=np.float64)


@dataclass
class DynamicThreshold:
    """Scores residuals in batch or one at a time; both give the same numbers."""

    config: ThresholdConfig = field(default_factory=ThresholdConfig)
    _history: deque[float] = field(init=False)
    _recent_scores: deque[float] = field(init=False)

    def __post_init__(self) -> None:
        self._history = deque(maxlen=self.config.window)
        self._recent_scores = deque(maxlen=self.config.rest)

    def robust_z(self, residuals: FloatArray) -> FloatArray:
        """|z| of each residual against the rolling robust statistics of those before it."""
        import pandas as pd

        cfg = self.config
        series = pd.Series(residuals, dtype=np.float64)
        rolling = series.rolling(cfg.window, min_periods=cfg.min_history)
        median = rolling.median().shift(1).to_numpy()
        iqr = (rolling.quantile(0.75) - rolling.quantile(0.25)).shift(1).to_numpy()
        spread = np.maximum(IQR_TO_SIGMA * iqr, cfg.scale_floor)
        z = np.abs(residuals - median) / spread
        return np.asarray(np.nan_to_num(z, nan=0.0) / cfg.z_half, dtype=np.float64)

    def score_batch(
        self, residuals: FloatArray, breakouts: FloatArray | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """(anomaly score per row, onset score per row: zero unless a new excursion starts).

        ``breakouts`` (0 or 1 per row) marks values outside every value seen before: such a
        row whose residual is also off (robust z >= 3) scores at least 0.9.
        """
        import pandas as pd

        z = self.robust_z(residuals)
        scores = z_to_score(z)
        if breakouts is not None:
            counted = breakouts * (z * self.config.z_half >= BREAKOUT_MIN_Z)
            lifted = counted * (BREAKOUT_SCORE + (1 - BREAKOUT_SCORE) * scores)
            scores = np.maximum(scores, lifted)
        previous_max = (
            pd.Series(scores).rolling(self.config.rest, min_periods=1).max().shift(1).fillna(0.0)
        ).to_numpy()
        onsets = np.where(scores > previous_max, scores, 0.0)
        for value in residuals[-self.config.window :]:
            self._history.append(float(value))
        self._recent_scores.extend(scores[-self.config.rest :].tolist())
        return scores, onsets

    def update(self, residual: float, breakout: bool = False) -> tuple[float, float]:
        """Score one new residual; returns (anomaly score, onset score)."""
        cfg = self.config
        score = z = 0.0
        if len(self._history) >= cfg.min_history:
            past = np.fromiter(self._history, dtype=np.float64)
            low, median, high = np.quantile(past, [0.25, 0.5, 0.75])
            spread = max(IQR_TO_SIGMA * float(high - low), cfg.scale_floor)
            z = abs(residual - float(median)) / spread / cfg.z_half
            score = float(z * z / (z * z + 1.0))
        if breakout and z * cfg.z_half >= BREAKOUT_MIN_Z:
            score = max(score, BREAKOUT_SCORE + (1 - BREAKOUT_SCORE) * score)
        previous_max = max(self._recent_scores, default=0.0)
        onset = score if score > previous_max else 0.0
        self._history.append(residual)
        self._recent_scores.append(score)
        return score, onset

    def is_alert(self, onset: float) -> bool:
        return onset >= self.config.alert_level
