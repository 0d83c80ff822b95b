"""The anchors' published NAB scores and the session models' evaluation, shared by `ottc eval`
and tests/bench/bench_models.py (the series detector's evaluations are in :mod:`.protocols`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ott_runtime.models.evaluation.ott_benchmark import (
    SESSION_KINDS,
    KindMetrics,
    generate_sessions,
)

# NAB's scorer on the published outputs for this same 29-file subset (the corpus README), under
# NAB's own protocol: one threshold per profile optimised on all the files.
NAB_ANCHORS: dict[str, dict[str, float]] = {
    "ARTime": {"standard": 73.1, "reward_low_FP_rate": 63.9, "reward_low_FN_rate": 78.5},
    "Numenta HTM": {"standard": 65.2, "reward_low_FP_rate": 59.7, "reward_low_FN_rate": 69.6},
    "CAD OSE": {"standard": 62.8, "reward_low_FP_rate": 60.2, "reward_low_FN_rate": 66.1},
    "Random Cut Forest": {"standard": 49.0, "reward_low_FP_rate": 37.9, "reward_low_FN_rate": 56.3},
}


def evaluate_ott_sessions(
    seed: int = 0, n_sessions: int = 3000, epochs: int | None = None
) -> list[dict[str, Any]]:
    """Transformer and ensemble on generated sessions: metrics per risk kind on a test split."""
    from dataclasses import replace

    from ott_runtime.models.ensemble import RiskEnsemble
    from ott_runtime.models.sessions.features import SessionBatch, encode_sessions
    from ott_runtime.models.sessions.transformer import SessionRiskModel

    sessions, labels, kinds = generate_sessions(seed, n_sessions)
    model = SessionRiskModel()
    if epochs:
        model.config = replace(model.config, epochs=epochs)
    batch = encode_sessions(sessions, model.config.max_events)
    n = len(labels)
    train, val, test = (
        np.arange(0, int(0.6 * n)),
        np.arange(int(0.6 * n), int(0.8 * n)),
        np.arange(int(0.8 * n), n),
    )

    def part(rows: np.ndarray) -> SessionBatch:
        return SessionBatch(batch.types[rows], batch.numeric[rows])

    model.fit(part(train), labels[train])
    ensemble = RiskEnsemble()
    ensemble.fit_isolation(part(train))
    ensemble.fit_combiner(model.predict(part(val)), part(val), labels[val])
    transformer_risk = model.predict(part(test))
    predictions = {
        "transformer": transformer_risk >= 0.5,
        "ensemble": ensemble.predict(transformer_risk, part(test)) >= 0.5,
    }
    test_kinds = np.array(kinds)[test]
    rows = []
    for name, predicted in predictions.items():
        for kind in (*SESSION_KINDS, "all"):
            positive = test_kinds == kind if kind != "all" else labels[test] == 1
            clean = test_kinds == "clean"
            rows.append(
                {
                    "model": name,
                    **KindMetrics(
                        kind,
                        tp=int((predicted & positive).sum()),
                        fn=int((~predicted & positive).sum()),
                        fp=int((predicted & clean).sum()),
                        tn=int((~predicted & clean).sum()),
                    ).as_row(),
                }
            )
    return rows
