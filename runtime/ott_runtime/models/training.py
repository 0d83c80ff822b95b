"""Training entry points: fit, save as a registry version, promote; and the matching loaders."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ott_runtime.models.ensemble import RiskEnsemble
from ott_runtime.models.registry import ModelMetadata, ModelRefused, ModelRegistry
from ott_runtime.models.series.detector import DetectorConfig, SeriesAnomalyDetector
from ott_runtime.models.series.lstm import FEATURE_SCHEMA as SERIES_SCHEMA
from ott_runtime.models.series.lstm import LstmForecaster
from ott_runtime.models.series.threshold import ThresholdConfig
from ott_runtime.models.sessions.features import FEATURE_SCHEMA as SESSION_SCHEMA
from ott_runtime.models.sessions.features import SessionBatch, SessionEvent, encode_sessions
from ott_runtime.models.sessions.transformer import SessionRiskModel
from ott_runtime.models.tf import keras, library_versions

SERIES_MODEL = "viewing-series"
SESSION_MODEL = "session-risk"
ENSEMBLE_MODEL = "risk-ensemble"
FloatArray = npt.NDArray[np.float64]
EpochCallback = Callable[[int, dict[str, float]], None]
# True: promote the new version; False: only register it; "if-better": promote it when it
# beats the promoted version on the new data's validation part (or nothing usable is promoted)
Promote = bool | Literal["if-better"]
VALIDATION_SHARE = 0.2  # Keras' validation_split: the last 20 % of the windows, never fitted


def forecast_tail_mae(forecaster: LstmForecaster, timestamps: Any, values: Any) -> float:
    """Mean absolute one-step forecast error, in the series' units, over the last
    ``VALIDATION_SHARE`` of the series (what the new model's early stopping held out)."""
    residuals = forecaster.residuals(timestamps, values)
    assert forecaster.scaler is not None
    scaled = np.clip(forecaster.scaler.transform(values), -20, 20)[forecaster.config.lookback :]
    forecast = forecaster.scaler.inverse(scaled - residuals)
    actual = np.asarray(values, dtype=np.float64)[forecaster.config.lookback :]
    tail = max(int(len(actual) * (1 - VALIDATION_SHARE)), 0)
    return float(np.mean(np.abs(actual[tail:] - forecast[tail:])))


def log_loss(labels: npt.ArrayLike, probability: npt.ArrayLike) -> float:
    p = np.clip(np.asarray(probability, dtype=np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _decide(
    registry: ModelRegistry, tenant: str, model: str, version: int, promote: Promote, better: bool
) -> None:
    if promote is True or (promote == "if-better" and better):
        registry.promote(tenant, model, version)


def data_hash(*arrays: npt.ArrayLike) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def epoch_callback(on_epoch: EpochCallback | None) -> list[Any]:
    """A Keras callback that reports each epoch (for a progress bar), or none."""
    if on_epoch is None:
        return []
    report: EpochCallback = on_epoch
    base: Any = keras().callbacks.Callback

    class Report(base):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            report(epoch, dict(logs or {}))

    return [Report()]


def train_series(
    registry: ModelRegistry,
    tenant: str,
    timestamps: npt.NDArray[np.datetime64],
    values: npt.NDArray[np.float64],
    config: DetectorConfig | None = None,
    on_epoch: EpochCallback | None = None,
    promote: Promote = True,
) -> ModelMetadata:
    """Fit the series detector on a tenant's history; register (and promote) the result."""
    detector = SeriesAnomalyDetector(config)
    losses = detector.forecaster.fit(timestamps, values, callbacks=epoch_callback(on_epoch))
    residuals = detector.forecaster.residuals(timestamps, values)
    metrics = {
        "first_loss": losses[0],
        "final_loss": losses[-1],
        "epochs": float(len(losses)),
        "residual_mae": float(np.mean(np.abs(residuals))),
        "validation_mae": forecast_tail_mae(detector.forecaster, timestamps, values),
    }
    better = True
    if promote == "if-better" and registry.promoted(tenant, SERIES_MODEL) is not None:
        try:
            current = registry.load(tenant, SERIES_MODEL, load_series)[0]
            metrics["promoted_validation_mae"] = forecast_tail_mae(
                current.forecaster, timestamps, values
            )
            better = metrics["validation_mae"] <= metrics["promoted_validation_mae"]
        except (ModelRefused, ValueError):
            pass  # what is promoted cannot serve (or read this series): the new one is better
    metadata = ModelMetadata(
        tenant=tenant,
        model=SERIES_MODEL,
        kind="lstm_forecaster",
        metrics=metrics,
        data_hash=data_hash(timestamps.astype("datetime64[ns]"), values),
        feature_schema=list(SERIES_SCHEMA),
        library_versions=library_versions(),
        params={
            **detector.forecaster.metadata(),
            "threshold": asdict(detector.config.threshold),
        },
    )
    with tempfile.TemporaryDirectory() as folder:
        detector.forecaster.model.save(Path(folder) / "model.keras")
        stored = registry.register(metadata, Path(folder))
    _decide(registry, tenant, SERIES_MODEL, stored.version, promote, better)
    return stored


def load_series(folder: Path, metadata: ModelMetadata) -> SeriesAnomalyDetector:
    """Registry loader: the detector with its forecaster (prime it with recent history)."""
    model = keras().models.load_model(folder / "model.keras", compile=False)
    forecaster = LstmForecaster.from_parts(model, metadata.params)
    # the detector's lookback must be the forecaster's (prime and update slice by it)
    # threshold settings are code, not weights: keys a newer detector no longer has are
    # dropped rather than refusing a model whose network is still good
    known = {f.name for f in dataclasses.fields(ThresholdConfig)}
    saved = metadata.params.get("threshold") or {}
    threshold = ThresholdConfig(**{k: v for k, v in saved.items() if k in known})
    detector = SeriesAnomalyDetector(DetectorConfig(lstm=forecaster.config, threshold=threshold))
    detector.forecaster = forecaster
    return detector


def _subset(batch: SessionBatch, rows: npt.NDArray[np.int64]) -> SessionBatch:
    return SessionBatch(batch.types[rows], batch.numeric[rows])


def train_sessions(
    registry: ModelRegistry,
    tenant: str,
    sessions: Sequence[Sequence[SessionEvent]],
    labels: npt.NDArray[np.int64],
    model: SessionRiskModel | None = None,
    on_epoch: EpochCallback | None = None,
    promote: Promote = True,
    seed: int = 5,
) -> tuple[ModelMetadata, ModelMetadata]:
    """Transformer on 80 % of the sessions, ensemble weights on the other 20 %; register both."""
    import joblib

    model = model or SessionRiskModel()
    batch = encode_sessions(sessions, model.config.max_events)
    order = np.random.default_rng(seed).permutation(len(labels))
    cut = int(0.8 * len(order))
    train, validation = order[:cut], order[cut:]
    losses = model.fit(_subset(batch, train), labels[train], callbacks=epoch_callback(on_epoch))
    ensemble = RiskEnsemble()
    ensemble.fit_isolation(_subset(batch, train))
    val_batch = _subset(batch, validation)
    weights = ensemble.fit_combiner(model.predict(val_batch), val_batch, labels[validation])
    val_risk = ensemble.predict(model.predict(val_batch), val_batch)
    common = {
        "tenant": tenant,
        "data_hash": data_hash(batch.types, batch.numeric, labels),
        "feature_schema": list(SESSION_SCHEMA),
        "library_versions": library_versions(),
    }
    session_meta = ModelMetadata(
        model=SESSION_MODEL,
        kind="session_transformer",
        metrics={"first_loss": losses[0], "final_loss": losses[-1]},
        params=model.metadata(),
        **common,
    )
    accuracy = float(np.mean((val_risk >= 0.5) == labels[validation]))
    quality = {
        "validation_accuracy": accuracy,
        "validation_log_loss": log_loss(labels[validation], val_risk),
    }
    better = True
    if promote == "if-better":
        promoted = _promoted_pair_risk(registry, tenant, sessions, validation)
        if promoted is not None:
            quality["promoted_validation_log_loss"] = log_loss(labels[validation], promoted)
            better = quality["validation_log_loss"] <= quality["promoted_validation_log_loss"]
    with tempfile.TemporaryDirectory() as folder:
        model.model.save(Path(folder) / "model.keras")
        stored_session = registry.register(session_meta, Path(folder))
    ensemble_meta = ModelMetadata(
        model=ENSEMBLE_MODEL,
        kind="ensemble",
        metrics={**quality, **{f"weight_{k}": v for k, v in weights.items()}},
        # its weights hold only for the Transformer whose outputs they were fitted on
        params={"inputs": list(weights), "session_model_version": stored_session.version},
        **common,
    )
    with tempfile.TemporaryDirectory() as folder:
        joblib.dump(ensemble, Path(folder) / "ensemble.joblib")
        (Path(folder) / "weights.json").write_text(json.dumps(weights))
        stored_ensemble = registry.register(ensemble_meta, Path(folder))
    _decide(registry, tenant, SESSION_MODEL, stored_session.version, promote, better)
    _decide(registry, tenant, ENSEMBLE_MODEL, stored_ensemble.version, promote, better)
    return stored_session, stored_ensemble


def _promoted_pair_risk(
    registry: ModelRegistry,
    tenant: str,
    sessions: Sequence[Sequence[SessionEvent]],
    rows: npt.NDArray[np.int64],
) -> FloatArray | None:
    """The promoted Transformer + ensemble's risk for ``sessions[rows]``; None when no
    usable pair is promoted (then any new pair is better)."""
    try:
        model = registry.load(tenant, SESSION_MODEL, load_session_model, None, SESSION_SCHEMA)[0]
        ensemble, meta = registry.load(tenant, ENSEMBLE_MODEL, load_ensemble)
    except ModelRefused:
        return None
    if meta.params.get("session_model_version") != registry.promoted(tenant, SESSION_MODEL):
        return None
    batch = encode_sessions([sessions[i] for i in rows], model.config.max_events)
    return ensemble.predict(model.predict(batch), batch)


def load_session_model(folder: Path, metadata: ModelMetadata) -> SessionRiskModel:
    model = keras().models.load_model(folder / "model.keras", compile=False)
    return SessionRiskModel.from_parts(model, metadata.params)


def load_ensemble(folder: Path, metadata: ModelMetadata) -> RiskEnsemble:
    import joblib

    # joblib unpickles: only files whose SHA-256 the registry has just verified get here
    ensemble = joblib.load(folder / "ensemble.joblib")
    if not isinstance(ensemble, RiskEnsemble):
        raise TypeError(f"ensemble.joblib holds a {type(ensemble).__name__}, not a RiskEnsemble")
    return ensemble
