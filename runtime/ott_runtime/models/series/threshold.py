"""From LSTM residuals to an anomaly score, causally, one row at a time (no global cut-off).

Three signals, each computed from the rows up to the current one only:

* **Residual likelihood** (Numenta's "anomaly likelihood", Ahmad et al. 2017): the LSTM's
  one-step residual becomes a robust z-score against the median and IQR of the residuals before
  it (the spread no narrower than 5 % of the series' own IQR, so a near-perfect forecast of a
  clean synthetic series does not turn rounding noise into alarms); the short-term mean of
  those z-scores is compared with the long-term distribution of such means (a rolling
  Gaussian), and the tail probability becomes the score. A lone large residual
  in a noisy stretch scores lower than a run of moderately large ones in a quiet one.
* **Seasonal deviation** (:mod:`.seasonal`): the smoothed value against the same time of day
  the day before, so a broken daily pattern shows even when each step is well forecast.
* **Range breakout**: a value beyond every value seen so far, which the forecast also missed,
  scores at least 0.9 (as Numenta's detector does with its "spatial anomaly").

The combined score then passes an :class:`OnsetGate`, which reports each excursion once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BREAKOUT_SCORE = 0.9
IQR_TO_SIGMA = 1 / 1.349  # the IQR of a normal distribution is 1.349 sigma
LOG10 = math.log(10.0)


@dataclass(frozen=True)
class ThresholdConfig:
    window: int = 1000  # residuals kept for the rolling median and IQR
    min_history: int = 30  # residuals needed before a residual gets a z-score
    z_clip: float = 20.0  # larger z-scores carry no more information
    scale_floor: float = 0.05  # smallest residual spread, in units of the series' IQR
    short_window: int = 10  # rows in the short-term mean of the z-scores
    long_window: int = 8000  # short-term means kept for their long-term Gaussian
    long_min_history: int = 100
    likelihood_half: float = 5.0  # -log10 tail probability that maps to score 0.5
    breakout_margin: float = 0.01  # beyond the range seen by this share of the range
    breakout_min_z: float = 3.0  # a new extreme counts only when the forecast missed it too
    seasonal_smooth: float = 1 / 24  # smoothing window, as a share of the daily period
    seasonal_min_smooth: int = 6  # rows, at least (hourly data: six hours)
    seasonal_window: int = 2000  # seasonal deviations kept for their median and IQR
    seasonal_clean_z: float = 4.0  # rows this far off are remembered as their expected value
    seasonal_z_half: float = 12.0  # robust z of the seasonal deviation that maps to 0.5
    rest: int = 150  # minimum rows after an onset during which a lower score is not news
    max_delay: int = 12  # a rising run is reported after at most this many rows
    alert_level: float = 0.5  # onset score that raises an alert


class RingBuffer:
    """The last ``size`` floats, for rolling statistics (order does not matter to them)."""

    def __init__(self, size: int) -> None:
        self.data = np.zeros(max(size, 1))
        self.count = 0

    def push(self, value: float) -> None:
        self.data[self.count % len(self.data)] = value
        self.count += 1

    def values(self) -> FloatArray:
        return self.data[: min(self.count, len(self.data))]

    def __len__(self) -> int:
        return min(self.count, len(self.data))


def robust_z(value: float, history: RingBuffer, min_history: int, floor: float = 1e-9) -> float:
    """z-score of ``value`` against the median and IQR of ``history`` (0 while too short)."""
    if len(history) < min_history:
        return 0.0
    low, median, high = np.quantile(history.values(), [0.25, 0.5, 0.75])
    return float((value - median) / max(IQR_TO_SIGMA * float(high - low), floor))


def tail_score(z: float, half: float) -> float:
    """-log10 of the upper Gaussian tail probability of ``z``, mapped monotonically to [0, 1)."""
    from scipy.special import log_ndtr

    surprise = max(-float(log_ndtr(-z)) / LOG10, 0.0)
    return surprise / (surprise + half)


class ResidualLikelihood:
    """Streaming anomaly likelihood of forecast residuals (see the module doc)."""

    def __init__(self, config: ThresholdConfig) -> None:
        self.config = config
        self.residuals = RingBuffer(config.window)
        self.recent_z = RingBuffer(config.short_window)
        self.means = RingBuffer(config.long_window)
        self.last_z = 0.0

    def step(self, residual: float) -> float:
        cfg = self.config
        z = robust_z(residual, self.residuals, cfg.min_history, cfg.scale_floor)
        z = min(abs(z), cfg.z_clip)
        self.residuals.push(residual)
        self.recent_z.push(z)
        short_mean = float(self.recent_z.values().mean())
        score = 0.0
        if len(self.means) >= cfg.long_min_history:
            means = self.means.values()
            spread = max(float(means.std(ddof=1)), 1e-3)
            score = tail_score((short_mean - float(means.mean())) / spread, cfg.likelihood_half)
        self.means.push(short_mean)
        self.last_z = z
        return score


class RangeBreakout:
    """Whether a value lies beyond every value before it by more than a share of their range."""

    def __init__(self, margin: float) -> None:
        self.margin = margin
        self.low, self.high = math.inf, -math.inf

    def step(self, value: float) -> bool:
        slack = self.margin * (self.high - self.low) if self.high >= self.low else 0.0
        beyond = self.high >= self.low and not self.low - slack <= value <= self.high + slack
        self.low, self.high = min(self.low, value), max(self.high, value)
        return beyond


class OnsetGate:
    """Reports each excursion of the score once, with its peak.

    A row *rises* when its score exceeds every score of the last ``rest`` rows. A run of
    rising rows is one excursion: it is reported (its peak score) on the first row after the
    run, or after ``max_delay`` rows of it, and every other row reports 0. Whatever threshold
    is later applied, a staircase of rising scores is then one detection, not one per step.
    """

    def __init__(self, rest: int, max_delay: int) -> None:
        self.recent = RingBuffer(rest)
        self.max_delay = max_delay
        self.pending = 0.0
        self.run_start = -1
        self.row = 0

    def step(self, score: float) -> float:
        rising = score > 0.0 and score > (self.recent.values().max() if len(self.recent) else 0.0)
        self.recent.push(score)
        emitted = 0.0
        if rising:
            if self.pending == 0.0:
                self.run_start = self.row
            self.pending = max(self.pending, score)
        if self.pending > 0.0 and (not rising or self.row - self.run_start >= self.max_delay):
            emitted, self.pending = self.pending, 0.0
        self.row += 1
        return emitted

    def is_alert(self, onset: float, level: float) -> bool:
        return onset >= level
