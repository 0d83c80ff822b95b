"""Scale-free streaming signals: online robust z-scores and a tail calibration of any score.

Both work one row at a time on the rows before the current one only, in any unit and at any
sampling rate (every window is counted in rows):

* :class:`RobustZ`: a value against the median and MAD of the ``window`` values before it
  (online robust normalisation: no assumption of counts, of a scale or of a distribution).
* :class:`TailCalibration`: how rare a score is among the series' own earlier scores, as a
  *surprise* (-log10 of its tail probability). Below the top ``TAIL_SHARE`` of the history
  the empirical distribution answers; above it an exponential tail fitted to the excesses
  (the peaks-over-threshold method of extreme value theory, Siffer et al. 2017) extrapolates,
  so a value far beyond every earlier one is much rarer than one just beyond them, and a
  heavy-tailed series (spiky server metrics) widens its own tail instead of raising alarms.
  Because each signal is ranked against its own history, signals of any kind and scale can
  vote together (:mod:`.alerting`).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

Z_CLIP = 50.0  # robust z-scores beyond this carry no more information
SURPRISE_CAP = 50.0  # -log10 probability reported when a tail is degenerate (a flat history)
TAIL_SHARE = 0.01  # the share of the history above the tail threshold
TAIL_MIN_COUNT = 10  # excesses needed to fit the tail (short histories use a larger share)
MAD_TO_SIGMA = 1.4826  # the MAD of a normal distribution is sigma / 1.4826
MEAN_AD_TO_SIGMA = 1.2533  # and its mean absolute deviation sigma / 1.2533
_BODY = np.array([0.0, 0.5, 0.75, 0.9, 0.95])  # quantiles interpolated below the tail


class RobustZ:
    """z-score of each value against the median and MAD of the ``window`` values before it.

    The median and MAD are recomputed every ``refresh`` rows (a cost per row of a few
    microseconds whatever the window). A MAD of 0 (a series that is mostly one value) falls
    back to the mean absolute deviation, and the spread is never below ``floor``; a history
    that is exactly flat (and no floor) gives 0 for the same value and ``Z_CLIP`` for any
    other, so a flat series scores nothing until it moves. ``step`` scores a value and then
    learns it; ``z`` and ``push`` do either alone (to keep flagged values out).
    """

    def __init__(
        self, window: int, min_history: int = 30, refresh: int = 16, floor: float = 0.0
    ) -> None:
        self.history: deque[float] = deque(maxlen=window)
        self.min_history = min_history
        self.refresh = refresh
        self.floor = floor
        self.center = 0.0
        self.scale = 0.0
        self._age = refresh

    def step(self, value: float) -> float:
        z = self.z(value)
        self.history.append(value)
        return z

    def push(self, value: float) -> None:
        self.history.append(value)

    def z(self, value: float) -> float:
        if len(self.history) < self.min_history:
            return 0.0
        if self._age >= self.refresh:
            self._fit()
        self._age += 1
        deviation = value - self.center
        if self.scale > 0.0:
            return max(-Z_CLIP, min(Z_CLIP, deviation / self.scale))
        return math.copysign(Z_CLIP, deviation) if deviation else 0.0

    def _fit(self) -> None:
        data = np.fromiter(self.history, dtype=np.float64, count=len(self.history))
        self.center = float(np.median(data))
        spread = np.abs(data - self.center)
        mad = float(np.median(spread))
        scale = MAD_TO_SIGMA * mad if mad > 0 else MEAN_AD_TO_SIGMA * float(spread.mean())
        self.scale = max(scale, self.floor)
        self._age = 0


class ShortMean:
    """Mean of the last ``size`` values (a running sum, exact up to rounding)."""

    def __init__(self, size: int) -> None:
        self.values: deque[float] = deque(maxlen=size)
        self.total = 0.0

    def step(self, value: float) -> float:
        if len(self.values) == self.values.maxlen:
            self.total -= self.values[0]
        self.values.append(value)
        self.total += value
        return self.total / len(self.values)


class TailCalibration:
    """Surprise (-log10 tail probability) of each score among the ``window`` scores before it.

    ``min_history`` scores are needed before any surprise is reported (0 until then). The
    body and the tail are refitted every ``refresh`` rows.
    """

    def __init__(self, window: int, min_history: int = 100, refresh: int = 16) -> None:
        self.history: deque[float] = deque(maxlen=window)
        self.min_history = min_history
        self.refresh = refresh
        self._age = refresh
        self._knots = np.zeros(len(_BODY) + 1)
        self._probs = np.append(_BODY, 1.0 - TAIL_SHARE)
        self._threshold = 0.0
        self._mean_excess = 0.0
        self._share = TAIL_SHARE

    def step(self, score: float) -> float:
        surprise = 0.0
        if len(self.history) >= self.min_history:
            if self._age >= self.refresh:
                self._fit()
            self._age += 1
            surprise = self.surprise(score)
        self.history.append(score)
        return surprise

    def surprise(self, score: float) -> float:
        if score <= self._knots[0]:  # at or below every earlier score (a flat history too)
            return 0.0
        excess = score - self._threshold
        if excess <= 0.0:
            below = float(np.interp(score, self._knots, self._probs))
            return -math.log10(1.0 - below)
        if self._mean_excess <= 0.0:
            return SURPRISE_CAP
        return min(
            SURPRISE_CAP, -math.log10(self._share) + excess / self._mean_excess / math.log(10.0)
        )

    def _fit(self) -> None:
        data = np.fromiter(self.history, dtype=np.float64, count=len(self.history))
        self._share = max(TAIL_SHARE, TAIL_MIN_COUNT / len(data))
        self._probs = np.append(_BODY[1.0 - self._share > _BODY], 1.0 - self._share)
        self._knots = np.quantile(data, self._probs)
        self._threshold = float(self._knots[-1])
        tail = data[data > self._threshold]
        self._mean_excess = float(tail.mean() - self._threshold) if len(tail) else 0.0
        self._age = 0
