"""A plain statistical forecast for the dashboard's predictive chart: Holt's linear
exponential smoothing with bands from the one-step residuals. It is labelled as such;
the LSTM forecaster of ``ott_runtime.models`` replaces it where a trained model exists.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

METHOD = "statistical: Holt linear exponential smoothing (alpha 0.5, beta 0.1), 95% band"


@dataclass(frozen=True)
class Fitted:
    fitted: list[float]  # one-step-ahead predictions for each observed point (first = itself)
    forecast: list[float]
    lower: list[float]
    upper: list[float]


def holt(series: Sequence[float], horizon: int, alpha: float = 0.5, beta: float = 0.1) -> Fitted:
    """One-step fits for ``series`` and ``horizon`` forecasts with a 95% band that widens
    with the horizon. An empty series forecasts zeros with no band."""
    if horizon < 0:
        raise ValueError("horizon must be >= 0")
    if not series:
        return Fitted([], [0.0] * horizon, [0.0] * horizon, [0.0] * horizon)
    level, trend = float(series[0]), 0.0
    if len(series) > 1:
        trend = float(series[1] - series[0])
    fitted = [float(series[0])]
    for value in series[1:]:
        prediction = level + trend
        fitted.append(prediction)
        new_level = alpha * value + (1 - alpha) * (level + trend)
        trend = beta * (new_level - level) + (1 - beta) * trend
        level = new_level
    residuals = [a - f for a, f in zip(series[1:], fitted[1:], strict=True)]
    sigma = math.sqrt(sum(r * r for r in residuals) / len(residuals)) if residuals else 0.0
    forecast, lower, upper = [], [], []
    for step in range(1, horizon + 1):
        point = max(0.0, level + step * trend)  # counts are never negative
        spread = 1.96 * sigma * math.sqrt(1 + (step - 1) * alpha * alpha)
        forecast.append(point)
        lower.append(max(0.0, point - spread))
        upper.append(point + spread)
    return Fitted(fitted, forecast, lower, upper)
