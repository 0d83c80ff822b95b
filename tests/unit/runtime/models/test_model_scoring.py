"""Serving: the compiled forest gives scikit-learn's numbers, live sessions encode like
training does, and the registry-backed scorer scores, explains, swaps and refuses."""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from ott_runtime.domain.tenant import ComplianceTenantSpec
from ott_runtime.ingest.scoring import ScoringInput
from ott_runtime.ingest.tenants import TenantRegistry
from ott_runtime.models.ensemble import CompiledForest, RiskEnsemble, session_aggregates
from ott_runtime.models.evaluation.ott_benchmark import generate_sessions
from ott_runtime.models.registry import DirectoryBackend, ModelRegistry
from ott_runtime.models.sessions.features import SessionEvent, encode_sessions, from_event
from ott_runtime.models.sessions.live import LiveSessions
from ott_runtime.models.sessions.transformer import SessionRiskModel, TransformerConfig
from ott_runtime.models.training import ENSEMBLE_MODEL, SESSION_MODEL, train_sessions
from ott_runtime.scoring.models import ModelRiskScorer

TINY = TransformerConfig(max_events=16, model_dim=8, heads=2, ff_dim=16, epochs=8, seed=1)


def test_compiled_forest_gives_sklearn_scores() -> None:
    from sklearn.ensemble import IsolationForest

    rng = np.random.default_rng(0)
    train = rng.normal(size=(600, 7))
    train[:, 2] = rng.integers(0, 3, 600)  # ties on thresholds, like counts in sessions
    forest = IsolationForest(n_estimators=30, max_features=0.7, random_state=1).fit(train)
    probe = np.vstack([rng.normal(size=(50, 7)) * 3, train[:20]])
    probe[:, 2] = rng.integers(0, 4, len(probe))
    compiled = CompiledForest(forest)
    np.testing.assert_allclose(compiled.score_samples(probe), forest.score_samples(probe))


def test_ensemble_predict_is_the_combiners_probability_and_survives_pickling() -> None:
    sessions, labels, _ = generate_sessions(seed=3, n_sessions=300)
    batch = encode_sessions(sessions, 16)
    ensemble = RiskEnsemble()
    ensemble.fit_isolation(batch)
    fake_transformer = labels * 0.6 + np.random.default_rng(0).uniform(0, 0.4, len(labels))
    ensemble.fit_combiner(fake_transformer, batch, labels)
    expected = ensemble.combiner.predict_proba(ensemble.inputs(fake_transformer, batch))[:, 1]
    np.testing.assert_allclose(ensemble.predict(fake_transformer, batch), expected)
    stream = io.BytesIO()
    joblib.dump(ensemble, stream)  # the compiled forest is rebuilt after loading, not stored
    assert b"CompiledForest" not in stream.getvalue()
    stream.seek(0)
    loaded = joblib.load(stream)
    np.testing.assert_allclose(loaded.predict(fake_transformer, batch), expected)
    assert -loaded.isolation.score_samples(session_aggregates(batch)) == pytest.approx(
        loaded.inputs(fake_transformer, batch)[:, 1]
    )


def test_live_sessions_encode_like_training() -> None:
    sessions, _, _ = generate_sessions(seed=5, n_sessions=6)
    # interleave the viewers' events, as they arrive at the runtime
    arrivals = sorted(
        (
            (event.time, viewer, index)
            for viewer, s in enumerate(sessions)
            for index, event in enumerate(s)
        ),
    )
    live = LiveSessions(max_events=8)
    keys = [f"viewer-{viewer}" for _, viewer, _ in arrivals]
    events = [sessions[viewer][index] for _, viewer, index in arrivals]
    rows = live.observe(keys, events)
    for row, (_, viewer, index) in enumerate(arrivals):
        expected = encode_sessions([sessions[viewer][: index + 1]], 8)
        np.testing.assert_array_equal(rows.types[row], expected.types[0])
        np.testing.assert_allclose(rows.numeric[row], expected.numeric[0], rtol=1e-6)
    assert len(live) == 6
    assert not any("viewer" in repr(key) for key in live._windows)  # only keyed hashes kept


def test_live_sessions_start_over_after_a_pause_and_stay_bounded() -> None:
    live = LiveSessions(max_events=4, capacity=3, gap_seconds=60)
    first = live.observe(
        ["a", "a"], [SessionEvent("playback.start", 0), SessionEvent("ad.impression", 10)]
    )
    assert (first.types[1] > 0).sum() == 2
    later = live.observe(["a"], [SessionEvent("playback.start", 500)])  # 490 s later
    assert (later.types[0] > 0).sum() == 1
    live.observe(["b", "c", "d", None], [SessionEvent("playback.start", 600)] * 4)
    assert len(live) == 3  # "a" was the least recently seen; the keyless event is not kept


# -- the runtime's scorer ---------------------------------------------------------------


@dataclass
class Tenant:
    name: str
    threshold: float = 0.5
    transformer: bool = True
    spec: Any = field(init=False)

    def __post_init__(self) -> None:
        self.spec = ComplianceTenantSpec.model_validate(
            {
                "displayName": self.name,
                "plan": "standard",
                "scoring": {
                    "riskThreshold": self.threshold,
                    "models": {"transformer": self.transformer},
                },
            }
        )


def event_json(viewer: str, event: SessionEvent) -> dict[str, Any]:
    """The OTT event (ingest JSON) that ``from_event`` turns back into ``event``."""
    f = event.features
    body: dict[str, Any] = {
        "type": event.type,
        "time": datetime.fromtimestamp(1_790_000_000 + event.time, UTC).isoformat(),
        "viewer": {"id": viewer, "country": "DE", "isKidsProfile": bool(f["kids_profile"])},
        "geo": {"country": "US" if f["geo_mismatch"] else "DE", "isProxy": bool(f["proxy"])},
        "content": {"rating": "18" if f["mature_content"] else "7"},
        "playback": {"watchedSeconds": float(np.expm1(f["watched_seconds_log"]))},
    }
    if event.type == "ad.impression":
        body["ad"] = {
            "durationSeconds": float(np.expm1(f["ad_seconds_log"])),
            "targeted": bool(f["targeted_ad"]),
        }
    return body


def inputs_for(tenant: str, sessions: list[list[SessionEvent]], prefix: str) -> list[ScoringInput]:
    return [
        ScoringInput(
            tenant,
            event_json(f"{prefix}-{n}", event),
            [{"ruleId": "r"}] * int(event.features["rule_hits"]),
            {},
        )
        for n, session in enumerate(sessions)
        for event in session
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelRegistry, Any, Any]:
    registry = ModelRegistry(DirectoryBackend(tmp_path_factory.mktemp("registry")))
    sessions, labels, kinds = generate_sessions(seed=9, n_sessions=500)
    train_sessions(registry, "acme", sessions, labels, SessionRiskModel(TINY))
    return registry, sessions, kinds


def test_event_json_round_trips_the_session_features(trained: tuple) -> None:
    _, sessions, _ = trained
    for event in sessions[0]:
        again = from_event(event_json("v", event), int(event.features["rule_hits"]))
        assert again.features == pytest.approx(dict(event.features), abs=1e-6)


def score(scorer: ModelRiskScorer, batch: list[ScoringInput]) -> list[Any]:
    return list(asyncio.run(scorer.score(batch)))


def test_scorer_scores_explains_swaps_and_refuses(
    trained: tuple, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source, sessions, kinds = trained
    registry = ModelRegistry(DirectoryBackend(tmp_path / "registry"))
    shutil.copytree(source.backend.root, registry.backend.root)
    tenants = TenantRegistry([Tenant("acme"), Tenant("bare"), Tenant("off", transformer=False)])  # type: ignore[list-item]
    shutil.copytree(registry.backend.root / "acme", registry.backend.root / "off")
    scorer = ModelRiskScorer(registry, tenants)
    assert scorer.status("acme")["state"] == "not loaded yet"
    status = scorer.refresh()
    assert status["acme"]["state"] == "scoring"
    assert status["acme"]["models"][SESSION_MODEL]["version"] == 1
    assert status["bare"]["state"].startswith("no promoted models")
    assert status["off"]["enabled"] is False

    risky = [s for s, k in zip(sessions, kinds, strict=True) if k == "geo_proxy"][:4]
    clean = [s for s, k in zip(sessions, kinds, strict=True) if k == "clean"][:4]
    batch = inputs_for("acme", risky, "risky") + inputs_for("acme", clean, "clean")
    scores = score(scorer, batch)
    assert len(scores) == len(batch)
    assert all(s is not None for s in scores)
    assert {s.model for s in scores} == {f"{ENSEMBLE_MODEL}@1"}
    n_risky = sum(len(s) for s in risky)
    last_risky = [scores[sum(len(s) for s in risky[: i + 1]) - 1].score for i in range(4)]
    last_clean = [scores[n_risky + sum(len(s) for s in clean[: i + 1]) - 1].score for i in range(4)]
    assert np.mean(last_risky) > 0.5 > np.mean(last_clean)
    alerts = [s for s in scores if s.score >= 0.5]
    assert alerts
    assert all(len(a.explanation["topFeatures"]) == 3 for a in alerts)
    assert all("topFeatures" not in s.explanation for s in scores if s.score < 0.5)
    named = {f["feature"] for a in alerts for f in a.explanation["topFeatures"]}
    assert named & {"proxy", "geo_mismatch", "rule_hits"}
    # nothing for tenants without models (the no-op path)
    assert score(scorer, inputs_for("bare", clean[:1], "x")) == [None] * len(clean[0])
    assert score(scorer, inputs_for("off", clean[:1], "x")) == [None] * len(clean[0])

    # a promoted v2 pair (v1's files, to save training time) is swapped in
    for model in (SESSION_MODEL, ENSEMBLE_MODEL):
        republish(
            registry, model, 1, {"session_model_version": 2} if model == ENSEMBLE_MODEL else {}
        )
    assert scorer.refresh()["acme"]["models"][ENSEMBLE_MODEL]["version"] == 2
    assert {s.model for s in score(scorer, batch[:5])} == {f"{ENSEMBLE_MODEL}@2"}

    # a corrupt v3 Transformer is refused, and so is the ensemble fitted on it: v2 serves
    for model in (SESSION_MODEL, ENSEMBLE_MODEL):
        republish(
            registry, model, 2, {"session_model_version": 3} if model == ENSEMBLE_MODEL else {}
        )
    (registry.backend.version_dir("acme", SESSION_MODEL, 3) / "model.keras").write_bytes(b"junk")
    with caplog.at_level(logging.WARNING, logger="ott_runtime.scoring.models"):
        status = scorer.refresh()["acme"]
    assert "corrupt" in status["models"][SESSION_MODEL]["error"]
    assert status["models"][SESSION_MODEL]["version"] == 2
    assert status["models"][SESSION_MODEL]["promoted"] == 3
    assert (
        "fitted on session-risk v3, but v2 is in service"
        in status["models"][ENSEMBLE_MODEL]["error"]
    )
    assert any("corrupt" in r.getMessage() for r in caplog.records)
    assert {s.model for s in score(scorer, batch[:5])} == {f"{ENSEMBLE_MODEL}@2"}
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ott_runtime.scoring.models"):
        scorer.refresh()  # the same refusal is not logged again on every round
    assert not caplog.records

    # rolling the promotions back to v2 clears the refusal
    registry.rollback("acme", SESSION_MODEL)
    registry.rollback("acme", ENSEMBLE_MODEL)
    status = scorer.refresh()["acme"]
    assert not any(item["error"] for item in status["models"].values())


def republish(registry: ModelRegistry, model: str, version: int, params: dict[str, Any]) -> None:
    """Register (and promote) a copy of ``version`` as the next version."""
    meta = registry.metadata("acme", model, version)
    source = registry.backend.version_dir("acme", model, version)
    artifacts = registry.backend.root / f".copy-{model}-{version}"
    artifacts.mkdir()
    for name in meta.files:
        shutil.copy(source / name, artifacts / name)
    stored = registry.register(
        meta.model_copy(update={"params": {**meta.params, **params}}), artifacts
    )
    shutil.rmtree(artifacts)
    registry.promote("acme", model, stored.version)


def test_a_failing_model_costs_the_risk_not_the_events(
    trained: tuple, caplog: pytest.LogCaptureFixture
) -> None:
    registry, sessions, _ = trained
    scorer = ModelRiskScorer(registry, TenantRegistry([Tenant("acme")]))  # type: ignore[list-item]
    scorer.refresh()
    served = scorer._served["acme"]

    def broken(batch: Any) -> Any:
        raise RuntimeError("graph exploded")

    served.models.score_batch = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="ott_runtime.scoring.models"):
        scores = score(scorer, inputs_for("acme", sessions[:1], "v"))
    assert scores == [None] * len(sessions[0])
    assert "scoring failed" in caplog.text
    assert scorer.status("acme")["lastScoringError"] == "RuntimeError: graph exploded"
