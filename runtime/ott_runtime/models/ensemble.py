"""Ensemble of the session Transformer, an IsolationForest and the rule results.

The IsolationForest sees per-session aggregates (unsupervised, fitted on the training
sessions); a logistic regression over [transformer risk, isolation score, rule hits] is fitted
on a held-out validation split. Being a logistic model it both weighs the three and
calibrates the result (Platt scaling), so a risk of 0.8 means about 80 % of such sessions were
violation-prone in validation.

Serving does not go through scikit-learn's ``score_samples``/``predict_proba``: their input
validation and per-tree Python loop cost ~10 ms per micro-batch. :class:`CompiledForest`
walks all trees at once with NumPy (same numbers as ``score_samples``, a test checks), and the
combiner is a dot product and a sigmoid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ott_runtime.models.sessions.features import SessionBatch

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
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


def average_path_length(n: npt.ArrayLike) -> FloatArray:
    """c(n): mean depth of an unsuccessful search in a binary tree of n samples (the
    IsolationForest normaliser, as scikit-learn defines it)."""
    n = np.asarray(n, dtype=np.float64)
    safe = np.maximum(n, 3.0)
    deep = 2.0 * (np.log(safe - 1.0) + np.euler_gamma) - 2.0 * (safe - 1.0) / safe
    return np.where(n <= 1, 0.0, np.where(n == 2, 1.0, deep))


class CompiledForest:
    """A fitted ``IsolationForest``'s trees as flat arrays, scored for all trees in one pass.

    Leaves point to themselves, so every sample takes exactly ``max_depth`` steps and a step
    is four array lookups over (trees x samples). ``score_samples`` returns what scikit-learn's
    does (the opposite of the anomaly score: lower = odder).
    """

    def __init__(self, forest: Any) -> None:
        features, thresholds, lefts, rights, leaf_values, roots = [], [], [], [], [], []
        offset, depth = 0, 0
        for tree, columns in zip(forest.estimators_, forest.estimators_features_, strict=True):
            t = tree.tree_
            nodes = np.arange(t.node_count)
            leaf = t.children_left < 0
            columns = np.asarray(columns)
            features.append(np.where(leaf, 0, columns[np.maximum(t.feature, 0)]))
            thresholds.append(t.threshold)
            lefts.append(np.where(leaf, nodes, t.children_left) + offset)
            rights.append(np.where(leaf, nodes, t.children_right) + offset)
            node_depths = t.compute_node_depths()
            leaf_values.append(node_depths + average_path_length(t.n_node_samples) - 1.0)
            roots.append(offset)
            offset += t.node_count
            depth = max(depth, int(t.max_depth))
        self.feature: IntArray = np.concatenate(features).astype(np.intp)
        self.threshold: FloatArray = np.concatenate(thresholds)
        self.left: IntArray = np.concatenate(lefts).astype(np.intp)
        self.right: IntArray = np.concatenate(rights).astype(np.intp)
        self.leaf_value: FloatArray = np.concatenate(leaf_values)
        self.roots: IntArray = np.asarray(roots, dtype=np.intp)
        self.depth = depth
        self.denominator = len(roots) * float(average_path_length(forest._max_samples))

    def score_samples(self, x: npt.ArrayLike) -> FloatArray:
        # trees compare float32 features against float64 thresholds, like sklearn's apply
        values = np.asarray(x, dtype=np.float32).astype(np.float64)
        n = len(values)
        node = np.repeat(self.roots[:, None], n, axis=1)
        flat = values.ravel()
        row_start = (np.arange(n) * values.shape[1])[None, :]
        for _ in range(self.depth):
            go_left = flat[row_start + self.feature[node]] <= self.threshold[node]
            node = np.where(go_left, self.left[node], self.right[node])
        depths = self.leaf_value[node].sum(axis=0)
        if self.denominator == 0:
            return np.full(n, -1.0)
        return np.asarray(-(2.0 ** (-depths / self.denominator)), dtype=np.float64)


@dataclass
class RiskEnsemble:
    isolation: Any = None  # sklearn IsolationForest
    combiner: Any = None  # sklearn LogisticRegression

    def fit_isolation(self, train: SessionBatch, seed: int = 3) -> None:
        from sklearn.ensemble import IsolationForest

        self.isolation = IsolationForest(n_estimators=100, random_state=seed)
        self.isolation.fit(session_aggregates(train))
        self.__dict__.pop("_compiled", None)

    def _forest(self) -> CompiledForest:
        # built on first use after fitting or unpickling; never pickled (see __getstate__)
        compiled: CompiledForest | None = self.__dict__.get("_compiled")
        if compiled is None:
            if self.isolation is None:
                raise RuntimeError("ensemble is not fitted")
            compiled = self.__dict__["_compiled"] = CompiledForest(self.isolation)
        return compiled

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_compiled"}

    def inputs(self, transformer_risk: FloatArray, batch: SessionBatch) -> FloatArray:
        isolation = -self._forest().score_samples(session_aggregates(batch))  # higher = odder
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
        """Calibrated risk: the combiner's probability of the positive class (what
        ``predict_proba(...)[:, 1]`` gives, without its per-call validation)."""
        if self.combiner is None:
            raise RuntimeError("ensemble is not fitted")
        logit = self.inputs(transformer_risk, batch) @ self.combiner.coef_[0]
        logit += self.combiner.intercept_[0]
        return np.asarray(1.0 / (1.0 + np.exp(-logit)), dtype=np.float64)
