"""Ensemble of the session Transformer, an IsolationForest and the rule results.

The IsolationForest sees per-session aggregates (unsupervised, fitted on the training
sessions); a logistic regression over [transformer risk, isolation score, rule hits] is fitted
on a held-out validation split. Being a logistic model it both weighs the three and
calibrates the result (Platt scaling), so a risk of 0.8 means about 80 % of such sessions were
violation-prone in validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ott_runtime.models.sessions.features import SessionBatch

FloatArray = npt.NDArray[np.float64]
ENSEMBLE_INPUTS = ("transformer", "isolation_forest", "rule_hits")


def session_aggregates(batch: SessionBatch) -> FloatArray:
    """Per-session summary for the classical detector: counts, means and maxima of features."""
    real = (batch.types > 0)[:, :, None]
    count = real.sum(axis=1).clip(min=1)
    numeric = batch.numeric * real
    mean = numeric.sum(axis=1) / count
    peak = numeric.max(axis=1)
    return np.asarray(np.concatenate([count, mean, peak], axis=1), dtype=np.float64)


def rule_hits(batch: SessionBatch) -> FloatArray:
    return np.asarray(batch.numeric[:, :, -1].sum(axis=1), dtype=np.float64)


@dataclass
class RiskEnsemble:
    isolation: Any = None  # sklearn IsolationForest
    combiner: Any = None  # sklearn LogisticRegression

    def fit_isolation(self, train: SessionBatch, seed: int = 3) -> None:
        from sklearn.ensemble import IsolationForest

        # 50 trees: scoring cost grows with the tree count and the hook scores every batch
        self.isolation = IsolationForest(n_estimators=50, random_state=seed)
        self.isolation.fit(session_aggregates(train))

    def inputs(self, transformer_risk: FloatArray, batch: SessionBatch) -> FloatArray:
        if self.isolation is None:
            raise RuntimeError("ensemble is not fitted")
        isolation = -self.isolation.score_samples(session_aggregates(batch))  # higher = odder
        return np.stack([transformer_risk, isolation, np.log1p(rule_hits(batch))], axis=1)

    def fit_combiner(
        self, transformer_risk: FloatArray, batch: SessionBatch, labels: npt.ArrayLike
    ) -> dict[str, float]:
        """Fit the weights on a validation split; returns them by input name."""
        from sklearn.linear_model import LogisticRegression

        self.combiner = LogisticRegression(C=1.0)
        self.combiner.fit(self.inputs(transformer_risk, batch), np.asarray(labels, dtype=int))
        return dict(zip(ENSEMBLE_INPUTS, self.combiner.coef_[0].tolist(), strict=True))

    def predict(self, transformer_risk: FloatArray, batch: SessionBatch) -> FloatArray:
        if self.combiner is None:
            raise RuntimeError("ensemble is not fitted")
        probability = self.combiner.predict_proba(self.inputs(transformer_risk, batch))[:, 1]
        return np.asarray(probability, dtype=np.float64)
