"""Seasonal deviation: the smoothed value against the same time of day one day before.

A one-step forecaster follows a series that stops following its daily curve (its inputs are
the last few steps, which stay plausible), so a broken daily pattern hardly shows in its
residuals. Here the value, smoothed by a rolling median over a twenty-fourth of a day, at
least six rows (which also ignores short spikes), is compared with the same time yesterday;
counts (a series that was never negative while warming up) are compared on a log scale, so a
weekly swing in volume is one steady ratio rather than a deviation that follows the daily
curve. Rows that deviate
(robust z-score above ``seasonal_clean_z``) are remembered as the value they were expected to
have and stay out of the deviation statistics, so an anomaly neither comes back as a "ghost"
one day later nor widens the band for the next one; a deviation that lasts longer than a day
is a new normal and is learnt. The z-score must hold for half the smoothing window before it
counts, and maps to a score in [0, 1).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import numpy.typing as npt

from ott_runtime.models.series.signals import RobustZ
from ott_runtime.models.series.threshold import RingBuffer, ThresholdConfig

DAY_SECONDS = 24 * 3600
MIN_PERIOD_ROWS = 4


def daily_period(timestamps: npt.NDArray[np.datetime64]) -> int:
    """Rows per day from the median step of the first rows (0 when it is not usable)."""
    steps = np.diff(timestamps[:200].astype("datetime64[ns]")).astype(np.int64) / 1e9
    steps = steps[steps > 0]
    if len(steps) == 0:
        return 0
    period = round(DAY_SECONDS / float(np.median(steps)))
    return period if period >= MIN_PERIOD_ROWS else 0


class SeasonalDeviation:
    """Streaming seasonal-deviation score for one series with ``period`` rows per day."""

    def __init__(self, config: ThresholdConfig, period: int, log_scale: bool = False) -> None:
        self.config = config
        self.period = period
        self.log_scale = log_scale
        self.flagged_run = 0  # consecutive rows remembered as expected
        smooth = round(period * config.seasonal_smooth)
        self.smooth = max(config.seasonal_min_smooth, smooth) if period else 1
        self.recent = RingBuffer(self.smooth)
        self.memory: deque[float] = deque(maxlen=max(period, 1))  # cleaned smoothed values
        self.deviations = RobustZ(config.seasonal_window, max(period // 2, 1), floor=1e-9)
        self.sustain: deque[float] = deque(maxlen=max(1, self.smooth // 2))

    def step(self, value: float, scaled_value: float) -> float:
        """Score one row from its raw value (log scale) or its scaled value (otherwise)."""
        if not self.period:
            return 0.0
        cfg = self.config
        self.recent.push(math.log1p(max(value, 0.0)) if self.log_scale else scaled_value)
        smoothed = (
            float(np.median(self.recent.values())) if self.recent.count >= self.smooth else None
        )
        z = 0.0
        remembered = smoothed
        if smoothed is not None and len(self.memory) == self.period:
            yesterday = self.memory[0]
            if not np.isnan(yesterday):
                deviation = smoothed - yesterday
                z = abs(self.deviations.z(deviation))
                flagged = z > cfg.seasonal_clean_z
                self.flagged_run = self.flagged_run + 1 if flagged else 0
                if flagged and self.flagged_run <= self.period:
                    remembered = yesterday
                else:
                    self.deviations.push(deviation)
        self.memory.append(np.nan if remembered is None else remembered)
        self.sustain.append(z)
        held = min(min(self.sustain), 50.0)
        return held * held / (held * held + cfg.seasonal_z_half**2)
