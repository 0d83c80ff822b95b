"""LSTM one-step forecaster for a metric series with hour-of-day and day-of-week features.

Input at each of the last ``lookback`` steps: the scaled value and the calendar features of
the step *after* it, so the network knows which hour it is predicting. The scaler (median and
interquartile range of the training data, on a log scale for heavy-tailed counts) travels
with the model, so a saved model forecasts raw values by itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ott_runtime.models.tf import inference_function, keras, seed_everything

FloatArray = npt.NDArray[np.float64]
Timestamps = npt.NDArray[np.datetime64]
CALENDAR_FEATURES = ("hour_sin", "hour_cos", "weekday_sin", "weekday_cos")
FEATURE_SCHEMA = ("value", *CALENDAR_FEATURES)
SCALED_LIMIT = 20.0  # standardised units beyond which a value is clipped


def calendar_features(timestamps: Timestamps) -> FloatArray:
    """Hour-of-day and day-of-week on the unit circle: (n, 4)."""
    minutes = (timestamps.astype("datetime64[m]").astype(np.int64)) % (24 * 60)
    days = (timestamps.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 1970-01-01: Thu
    hour_angle = 2 * np.pi * minutes / (24 * 60)
    day_angle = 2 * np.pi * (days + minutes / (24 * 60)) / 7
    return np.stack(
        [np.sin(hour_angle), np.cos(hour_angle), np.sin(day_angle), np.cos(day_angle)], axis=1
    )


@dataclass(frozen=True)
class Scaler:
    center: float
    spread: float
    log: bool

    @classmethod
    def fit(cls, values: FloatArray) -> Scaler:
        # counts that span orders of magnitude (tweets, events per minute) behave on a log scale
        positive = bool(values.min() >= 0)
        low, high = np.quantile(values, [0.05, 0.95]) if len(values) else (0.0, 0.0)
        log = bool(positive and high > 20 * max(low, 1.0))
        data = np.log1p(values) if log else values
        q1, median, q3 = np.quantile(data, [0.25, 0.5, 0.75])
        spread = float(q3 - q1) or float(np.std(data)) or max(abs(float(median)), 1.0)
        return cls(float(median), spread, log)

    def transform(self, values: FloatArray) -> FloatArray:
        data = np.log1p(np.maximum(values, 0)) if self.log else values
        return np.asarray((data - self.center) / self.spread, dtype=np.float64)

    def inverse(self, scaled: FloatArray) -> FloatArray:
        data = scaled * self.spread + self.center
        return np.asarray(np.expm1(data) if self.log else data, dtype=np.float64)


@dataclass(frozen=True)
class LstmConfig:
    lookback: int = 24
    units: int = 24
    epochs: int = 12
    batch_size: int = 64
    learning_rate: float = 3e-3
    patience: int = 3
    seed: int = 7


def windows(scaled: FloatArray, calendar: FloatArray, lookback: int) -> FloatArray:
    """Model inputs predicting rows lookback..n-1: (n - lookback, lookback, 5)."""
    steps = np.concatenate([scaled[:-1, None], calendar[1:]], axis=1)  # value_t, calendar_t+1
    view = np.lib.stride_tricks.sliding_window_view(steps, (lookback, steps.shape[1]))
    return np.ascontiguousarray(view[:, 0], dtype=np.float32)


class LstmForecaster:
    """One-step-ahead forecasts of a series; fit on its past, fine-tuned as it streams."""

    def __init__(self, config: LstmConfig | None = None) -> None:
        self.config = config or LstmConfig()
        self.scaler: Scaler | None = None
        self.model: Any = None
        self.history: list[float] = []  # training loss per epoch, for checks and metadata
        self._forward: tuple[Any, Any] | None = None  # (model, its traced forward pass)

    def build(self) -> Any:
        k = keras()
        cfg = self.config
        inputs = k.Input((cfg.lookback, len(FEATURE_SCHEMA)), name="window")
        hidden = k.layers.LSTM(cfg.units, name="lstm")(inputs)
        outputs = k.layers.Dense(1, name="forecast")(hidden)
        model = k.Model(inputs, outputs, name="lstm_forecaster")
        model.compile(optimizer=k.optimizers.Adam(cfg.learning_rate), loss="huber")
        return model

    def fit(
        self,
        timestamps: Timestamps,
        values: FloatArray,
        epochs: int | None = None,
        callbacks: list[Any] | None = None,
    ) -> list[float]:
        """Fit (or fine-tune, when already fitted) on a stretch of the series."""
        cfg = self.config
        if len(values) <= cfg.lookback + 8:
            raise ValueError(f"need more than {cfg.lookback + 8} rows to train, got {len(values)}")
        if self.model is None:
            seed_everything(cfg.seed)
            self.scaler = Scaler.fit(values)
            self.model = self.build()
        scaled = self.scaled(values)
        inputs = windows(scaled, calendar_features(timestamps), cfg.lookback)
        targets = scaled[cfg.lookback :].astype(np.float32)
        k = keras()
        stop = k.callbacks.EarlyStopping(
            monitor="val_loss", patience=cfg.patience, restore_best_weights=True
        )
        fitted = self.model.fit(
            inputs,
            targets,
            epochs=epochs or cfg.epochs,
            batch_size=cfg.batch_size,
            validation_split=0.2,
            shuffle=True,
            verbose=0,
            callbacks=[stop, *(callbacks or [])],
        )
        losses = [float(x) for x in fitted.history["loss"]]
        self.history.extend(losses)
        return losses

    def scaled(self, values: FloatArray) -> FloatArray:
        """Values in the units the network sees: standardised, clipped so that one absurd
        value cannot swamp a window (residuals and forecasts are in these units)."""
        assert self.scaler is not None
        return np.clip(self.scaler.transform(values), -SCALED_LIMIT, SCALED_LIMIT)

    def residuals(self, timestamps: Timestamps, values: FloatArray) -> FloatArray:
        """Actual minus forecast, in scaled units, for rows lookback..n-1 (each forecast sees
        only the rows before it)."""
        if self.model is None or self.scaler is None:
            raise RuntimeError("forecaster is not fitted")
        scaled = self.scaled(values)
        inputs = windows(scaled, calendar_features(timestamps), self.config.lookback)
        if self._forward is None or self._forward[0] is not self.model:
            self._forward = (self.model, inference_function(self.model))
        output = keras().ops.convert_to_numpy(self._forward[1](inputs))
        forecast = np.asarray(output, dtype=np.float64)[:, 0]
        return np.asarray(scaled[self.config.lookback :] - forecast, dtype=np.float64)

    def metadata(self) -> dict[str, Any]:
        return {
            "config": asdict(self.config),
            "scaler": None if self.scaler is None else asdict(self.scaler),
            "feature_schema": list(FEATURE_SCHEMA),
        }

    @classmethod
    def from_parts(cls, model: Any, metadata: dict[str, Any]) -> LstmForecaster:
        forecaster = cls(LstmConfig(**metadata["config"]))
        forecaster.scaler = Scaler(**metadata["scaler"])
        forecaster.model = model
        return forecaster
