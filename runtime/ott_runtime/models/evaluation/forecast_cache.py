"""The expensive stages of an evaluation, computed once per series and kept on disk.

The LSTM forecast is the expensive stage (minutes for the NAB subset on two cores), then the
per-row signals (:func:`ott_runtime.models.series.alerting.signal_series`, seconds); fusing
them under each candidate ``AlertConfig`` and gating is cheap. So each file's residuals are
stored under ``.artifacts/cache/forecasts/`` keyed by a hash of the series itself (its stamps
and values) and of every setting the forecast depends on (the LSTM's and the refit
schedule's), and its signals beside them, keyed by the same plus the signals' constants: a
settings search reads them back instead of training the network again. A changed file or
setting is a new key; ``FORMAT`` is bumped when the code changes what it computes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ott_runtime.models.series.detector import DetectorConfig, SeriesAnomalyDetector
from ott_runtime.models.series.lstm import Scaler

FloatArray = npt.NDArray[np.float64]
FORMAT = 1
SIGNALS_FORMAT = 3
DEFAULT_CACHE_DIR = Path(".artifacts/cache/forecasts")


@dataclass(frozen=True)
class Forecast:
    """A whole series' causal one-step residuals (scaled units) and the forecaster's scaler."""

    residuals: FloatArray
    scaler: Scaler


def forecast_settings(config: DetectorConfig) -> dict[str, Any]:
    """The settings the residuals depend on (the post-processing's are not among them)."""
    return {
        "format": FORMAT,
        "lstm": asdict(config.lstm),
        "schedule": asdict(config.schedule),
    }


def cache_key(
    timestamps: npt.NDArray[np.datetime64], values: FloatArray, config: DetectorConfig
) -> str:
    digest = hashlib.sha256(json.dumps(forecast_settings(config), sort_keys=True).encode())
    digest.update(np.ascontiguousarray(timestamps.astype("datetime64[ns]")).tobytes())
    digest.update(np.ascontiguousarray(values, dtype=np.float64).tobytes())
    return digest.hexdigest()[:32]


def _load(path: Path | None) -> dict[str, npt.NDArray[Any]] | None:
    if path is None or not path.is_file():
        return None
    with np.load(path) as stored:
        return {key: stored[key] for key in stored.files}


def _store(path: Path | None, **arrays: Any) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")  # a killed run leaves no half file behind
    np.savez(partial, **arrays)
    partial.replace(path)


def forecast(
    timestamps: npt.NDArray[np.datetime64],
    values: FloatArray,
    config: DetectorConfig | None = None,
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
) -> Forecast:
    """The residuals of ``values``: from the cache when there, else computed and stored."""
    config = config or DetectorConfig()
    values = np.asarray(values, dtype=np.float64)
    key = cache_key(timestamps, values, config)
    path = None if cache_dir is None else cache_dir / f"{key}.npz"
    stored = _load(path)
    if stored is not None:
        scaler = Scaler(float(stored["center"]), float(stored["spread"]), bool(stored["log"]))
        return Forecast(np.asarray(stored["residuals"], dtype=np.float64), scaler)
    detector = SeriesAnomalyDetector(config)
    residuals = detector.residual_series(timestamps, values)
    fitted = detector.forecaster.scaler
    assert fitted is not None
    _store(path, residuals=residuals, center=fitted.center, spread=fitted.spread, log=fitted.log)
    return Forecast(residuals, fitted)


def _signals_path(
    timestamps: npt.NDArray[np.datetime64],
    values: FloatArray,
    config: DetectorConfig,
    cache_dir: Path | None,
) -> Path | None:
    digest = hashlib.sha256(cache_key(timestamps, values, config).encode())
    digest.update(json.dumps([SIGNALS_FORMAT, asdict(config.threshold)]).encode())
    return None if cache_dir is None else cache_dir / f"signals-{digest.hexdigest()[:32]}.npz"


def is_cached(
    timestamps: npt.NDArray[np.datetime64],
    values: FloatArray,
    config: DetectorConfig | None = None,
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
) -> bool:
    """Whether :func:`signals` would only read the cache for this series."""
    values = np.asarray(values, dtype=np.float64)
    path = _signals_path(timestamps, values, config or DetectorConfig(), cache_dir)
    return path is not None and path.is_file()


def signals(
    timestamps: npt.NDArray[np.datetime64],
    values: FloatArray,
    config: DetectorConfig | None = None,
    cache_dir: Path | None = DEFAULT_CACHE_DIR,
) -> FloatArray:
    """Every row's signals (``alerting.SIGNALS``) from the (cached) forecast, cached too."""
    config = config or DetectorConfig()
    values = np.asarray(values, dtype=np.float64)
    path = _signals_path(timestamps, values, config, cache_dir)
    stored = _load(path)
    if stored is not None:
        return np.asarray(stored["signals"], dtype=np.float64)
    result = forecast(timestamps, values, config, cache_dir)
    detector = SeriesAnomalyDetector(config)
    detector.forecaster.scaler = result.scaler
    rows = detector.signal_series(timestamps, values, result.residuals)
    _store(path, signals=rows)
    return rows
