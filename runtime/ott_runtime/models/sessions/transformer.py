"""Transformer encoder over a session's recent events -> risk score with an explanation.

Each event is its type (embedded), numeric features and the time since the event before it
(log seconds); a learned position embedding marks order. One encoder block (multi-head
self-attention + feed-forward) is pooled over the real (non-padding) events into a risk in
[0, 1]. The explanation per session combines the attention that the pooled events pay to each
event with permutation importance: how much the risk moves when one feature is replaced by
the same feature of other sessions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ott_runtime.models.sessions.features import (
    EVENT_TYPES,
    NUMERIC_FEATURES,
    SessionBatch,
)
from ott_runtime.models.tf import inference_function, keras, seed_everything

FloatArray = npt.NDArray[np.float64]
EXPLAINED_FEATURES = ("event_type", "time_delta", *NUMERIC_FEATURES)


@dataclass(frozen=True)
class TransformerConfig:
    max_events: int = 32
    model_dim: int = 32
    heads: int = 2
    ff_dim: int = 64
    dropout: float = 0.1
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 2e-3
    patience: int = 3
    seed: int = 11


@dataclass(frozen=True)
class Explanation:
    risk: float
    top_features: list[tuple[str, float]]  # (feature, importance), most important first
    top_events: list[tuple[int, str, float]]  # (position from the end, event type, attention)


@dataclass
class SessionRiskModel:
    config: TransformerConfig = field(default_factory=TransformerConfig)
    model: Any = None
    history: list[float] = field(default_factory=list)
    _forward: tuple[Any, Any] | None = field(default=None, repr=False)

    def build(self) -> Any:
        k = keras()
        ops = k.ops
        cfg = self.config
        types = k.Input((cfg.max_events,), dtype="int32", name="event_type")
        numeric = k.Input((cfg.max_events, len(NUMERIC_FEATURES) + 1), name="numeric")
        mask = ops.cast(ops.greater(types, 0), "float32")  # 0 = padding
        positions = ops.arange(cfg.max_events)
        x = (
            k.layers.Embedding(len(EVENT_TYPES) + 1, cfg.model_dim, name="type_embedding")(types)
            + k.layers.Dense(cfg.model_dim, name="numeric_projection")(numeric)
            + k.layers.Embedding(cfg.max_events, cfg.model_dim, name="position")(positions)
        )
        pair_mask = ops.cast(mask[:, :, None] * mask[:, None, :], "bool")
        attended, attention = k.layers.MultiHeadAttention(
            cfg.heads, cfg.model_dim // cfg.heads, dropout=cfg.dropout, name="attention"
        )(x, x, attention_mask=pair_mask, return_attention_scores=True)
        x = k.layers.LayerNormalization(name="norm_1")(x + attended)
        ff = k.layers.Dense(cfg.ff_dim, activation="gelu", name="ff_1")(x)
        ff = k.layers.Dense(cfg.model_dim, name="ff_2")(k.layers.Dropout(cfg.dropout)(ff))
        x = k.layers.LayerNormalization(name="norm_2")(x + ff)
        weights = mask[:, :, None]
        pooled = ops.sum(x * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)
        risk = k.layers.Dense(1, activation="sigmoid", name="risk")(pooled)
        # attention each real event receives, averaged over heads and over attending events
        received = ops.sum(ops.mean(attention, axis=1) * weights, axis=1) / ops.maximum(
            ops.sum(weights, axis=1), 1.0
        )
        received = k.layers.Identity(name="attention_received")(received)
        # served and saved: risk and attention; trained: the same layers, risk only
        return k.Model([types, numeric], [risk, received], name="session_transformer")

    def trainer(self) -> Any:
        k = keras()
        trainer = k.Model(self.model.inputs, self.model.outputs[0], name="session_risk_trainer")
        trainer.compile(
            optimizer=k.optimizers.Adam(self.config.learning_rate),
            loss="binary_crossentropy",
            metrics=["accuracy"],
        )
        return trainer

    def fit(
        self, batch: SessionBatch, labels: npt.ArrayLike, callbacks: list[Any] | None = None
    ) -> list[float]:
        seed_everything(self.config.seed)
        self.model = self.model or self.build()
        k = keras()
        stop = k.callbacks.EarlyStopping(
            monitor="val_loss", patience=self.config.patience, restore_best_weights=True
        )
        fitted = self.trainer().fit(
            [batch.types, batch.numeric],
            np.asarray(labels, dtype=np.float32),
            epochs=self.config.epochs,
            batch_size=self.config.batch_size,
            validation_split=0.2,
            verbose=0,
            callbacks=[stop, *(callbacks or [])],
        )
        losses = [float(x) for x in fitted.history["loss"]]
        self.history.extend(losses)
        return losses

    def _run(
        self, types: npt.NDArray[np.int32], numeric: npt.NDArray[np.float32]
    ) -> tuple[FloatArray, FloatArray]:
        if self.model is None:
            raise RuntimeError("session model is not trained")
        if self._forward is None or self._forward[0] is not self.model:
            self._forward = (self.model, inference_function(self.model))
        risk, received = self._forward[1](types.astype(np.int32), numeric.astype(np.float32))
        to_numpy = keras().ops.convert_to_numpy
        return (
            np.asarray(to_numpy(risk), dtype=np.float64)[:, 0],
            np.asarray(to_numpy(received), dtype=np.float64),
        )

    def predict(self, batch: SessionBatch) -> FloatArray:
        return self._run(batch.types, batch.numeric)[0]

    def explain(
        self, batch: SessionBatch, background: SessionBatch, top: int = 3, repeats: int = 4
    ) -> list[Explanation]:
        """Risk and top features/events per session (permutation over ``background``)."""
        risk, received = self._run(batch.types, batch.numeric)
        rng = np.random.default_rng(self.config.seed)
        n, n_feat = len(risk), len(EXPLAINED_FEATURES)
        donors = rng.integers(0, len(background.types), size=(n_feat, repeats, n))
        types = np.tile(batch.types, (n_feat * repeats, 1))
        numeric = np.tile(batch.numeric, (n_feat * repeats, 1, 1))
        for f in range(n_feat):
            for r in range(repeats):
                rows = slice((f * repeats + r) * n, (f * repeats + r + 1) * n)
                if f == 0:
                    types[rows] = np.where(
                        batch.types > 0, np.maximum(background.types[donors[f, r]], 1), 0
                    )
                else:
                    numeric[rows, :, f - 1] = background.numeric[donors[f, r], :, f - 1]
        permuted = self._run(types, numeric)[0].reshape(n_feat, repeats, n)
        importance = np.abs(permuted - risk[None, None, :]).mean(axis=1)  # (features, sessions)
        explanations = []
        for i in range(n):
            order = np.argsort(-importance[:, i])[:top]
            real = np.flatnonzero(batch.types[i] > 0)
            by_attention = real[np.argsort(-received[i, real])][:top]
            explanations.append(
                Explanation(
                    risk=float(risk[i]),
                    top_features=[(EXPLAINED_FEATURES[j], float(importance[j, i])) for j in order],
                    top_events=[
                        (
                            int(self.config.max_events - p),
                            EVENT_TYPES[batch.types[i, p] - 1],
                            float(received[i, p]),
                        )
                        for p in by_attention
                    ],
                )
            )
        return explanations

    def metadata(self) -> dict[str, Any]:
        return {"config": asdict(self.config)}

    @classmethod
    def from_parts(cls, model: Any, metadata: dict[str, Any]) -> SessionRiskModel:
        return cls(TransformerConfig(**metadata["config"]), model)
