"""The session Transformer learns risky sessions and explains them; the ensemble weighs and
calibrates its inputs on a validation split; session features come from OTT events."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ott_runtime.models.ensemble import RiskEnsemble
from ott_runtime.models.evaluation.ott_benchmark import generate_sessions
from ott_runtime.models.sessions.features import (
    EVENT_TYPES,
    SessionBatch,
    SessionEvent,
    encode_sessions,
    from_event,
)
from ott_runtime.models.sessions.transformer import SessionRiskModel, TransformerConfig

TINY = TransformerConfig(max_events=16, model_dim=16, heads=2, ff_dim=32, epochs=12, seed=2)


def part(batch: SessionBatch, rows: slice) -> SessionBatch:
    return SessionBatch(batch.types[rows], batch.numeric[rows])


@pytest.fixture(scope="module")
def trained() -> tuple[SessionRiskModel, SessionBatch, np.ndarray, list[str]]:
    sessions, labels, kinds = generate_sessions(seed=4, n_sessions=900)
    batch = encode_sessions(sessions, TINY.max_events)
    model = SessionRiskModel(TINY)
    model.fit(part(batch, slice(0, 600)), labels[:600])
    return model, batch, labels, kinds


def test_encoding_right_aligns_and_keeps_deltas() -> None:
    events = [SessionEvent("playback.start", 0.0), SessionEvent("ad.impression", 9.0, {"proxy": 1})]
    batch = encode_sessions([events, [SessionEvent("mystery", 5.0)]], max_events=4)
    assert batch.types[0].tolist() == [0, 0, 1, EVENT_TYPES.index("ad.impression") + 1]
    assert batch.numeric[0, 3, 0] == pytest.approx(np.log1p(9.0))
    assert batch.types[1, 3] == len(EVENT_TYPES)  # unknown type -> "other"


def test_features_from_an_ott_event() -> None:
    event = {
        "type": "playback.start",
        "time": "2026-11-26T14:00:00Z",
        "viewer": {"country": "DE", "isKidsProfile": True},
        "geo": {"country": "US", "isProxy": True},
        "content": {"rating": "TV-MA"},
    }
    features = from_event(event, rule_hits=2).features
    assert features["geo_mismatch"] == features["proxy"] == features["kids_profile"] == 1.0
    assert features["mature_content"] == 1.0
    assert features["rule_hits"] == 2.0


def test_transformer_learns_risky_sessions(trained: tuple) -> None:
    model, batch, labels, _ = trained
    assert model.history[-1] < 0.5 * model.history[0]
    risk = model.predict(part(batch, slice(600, 900)))
    assert ((risk >= 0.5) == labels[600:]).mean() > 0.9


def test_explanation_names_the_signal(trained: tuple) -> None:
    model, batch, _, kinds = trained
    geo = [i for i in range(600, 900) if kinds[i] == "geo_proxy"][:5]
    rows = np.array(geo)
    explanations = model.explain(
        SessionBatch(batch.types[rows], batch.numeric[rows]), part(batch, slice(0, 600))
    )
    assert len(explanations) == len(geo)
    for explanation in explanations:
        assert explanation.risk > 0.5
        assert len(explanation.top_features) == 3
        assert len(explanation.top_events) == 3
        attention = [a for _, _, a in explanation.top_events]
        assert attention == sorted(attention, reverse=True)
    named = {name for e in explanations for name, _ in e.top_features}
    assert named & {"proxy", "geo_mismatch", "rule_hits"}


def test_ensemble_weights_and_calibration(trained: tuple) -> None:
    model, batch, labels, _ = trained
    ensemble = RiskEnsemble()
    ensemble.fit_isolation(part(batch, slice(0, 600)))
    weights = ensemble.fit_combiner(
        model.predict(part(batch, slice(600, 750))), part(batch, slice(600, 750)), labels[600:750]
    )
    assert set(weights) == {"transformer", "isolation_forest", "rule_hits"}
    assert weights["transformer"] > 0  # the learned model is trusted
    test = part(batch, slice(750, 900))
    probability = ensemble.predict(model.predict(test), test)
    assert ((probability >= 0.5) == labels[750:]).mean() > 0.9
    assert ((probability >= 0.0) & (probability <= 1.0)).all()


def test_tenant_models_serve_promoted_versions_and_explain_alerts(tmp_path: Path) -> None:
    from ott_runtime.models.registry import DirectoryBackend, ModelRegistry
    from ott_runtime.models.serving import TenantModels
    from ott_runtime.models.training import ENSEMBLE_MODEL, SESSION_MODEL, train_sessions

    registry = ModelRegistry(DirectoryBackend(tmp_path))
    sessions, labels, kinds = generate_sessions(seed=9, n_sessions=400)
    small = TransformerConfig(max_events=16, model_dim=8, heads=2, ff_dim=16, epochs=6, seed=1)
    _, ensemble_meta = train_sessions(registry, "acme", sessions, labels, SessionRiskModel(small))
    assert ensemble_meta.metrics["validation_accuracy"] > 0.8
    served = TenantModels(registry, "acme")
    states = served.start()
    assert states["session-risk"] == "swapped to v1"
    assert "no promoted version" not in states["risk-ensemble"]
    risky = [s for s, k in zip(sessions, kinds, strict=True) if k == "targeted_kids"][:3]
    clean = [s for s, k in zip(sessions, kinds, strict=True) if k == "clean"][:3]
    scored = served.score_sessions([*risky, *clean])
    assert sum(r.risk >= 0.5 for r in scored[:3]) >= 2
    assert all(r.explanation is not None for r in scored if r.risk >= 0.5)
    assert all(r.explanation is None for r in scored if r.risk < 0.5)

    # a promoted version whose weights were damaged is refused; v1 keeps serving
    # (a retrained pair, registered from v1's files to save training time here)
    for model_name in (SESSION_MODEL, ENSEMBLE_MODEL):
        meta = registry.metadata("acme", model_name, 1)
        source = registry.backend.version_dir("acme", model_name, 1)
        artifacts = tmp_path / f"retrained-{model_name}"
        artifacts.mkdir()
        for name in meta.files:
            shutil.copy(source / name, artifacts / name)
        params = (
            {**meta.params, "session_model_version": 2}
            if model_name == ENSEMBLE_MODEL
            else meta.params
        )
        stored = registry.register(meta.model_copy(update={"params": params}), artifacts)
        registry.promote("acme", model_name, stored.version)
    (registry.backend.version_dir("acme", SESSION_MODEL, 2) / "model.keras").write_bytes(b"junk")
    states = served.refresh()
    assert states["session-risk"].startswith("refused")
    assert "corrupt" in states["session-risk"]
    # the new ensemble was fitted on the refused Transformer's outputs: it waits too
    assert states["risk-ensemble"].startswith("refused")
    assert "fitted on session-risk v2, but v1 is in service" in states["risk-ensemble"]
    assert served.ensemble.version == 1
    assert served.sessions.version == 1
    assert len(served.score_sessions(clean)) == 3
