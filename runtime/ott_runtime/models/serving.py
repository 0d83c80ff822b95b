"""What the runtime's scoring hook holds per tenant: the promoted models, hot-swappable.

``TenantModels.start`` loads the promoted versions; ``refresh`` (called on a promotion notice
or a timer) swaps in a newly promoted version only once it loaded cleanly. ``score_sessions``
scores a micro-batch of sessions and explains the ones at or above the alert level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ott_runtime.models.ensemble import RiskEnsemble
from ott_runtime.models.registry import ModelMetadata, ModelRefused, ModelRegistry, ModelSlot
from ott_runtime.models.series.detector import SeriesAnomalyDetector
from ott_runtime.models.series.lstm import FEATURE_SCHEMA as SERIES_SCHEMA
from ott_runtime.models.sessions.features import FEATURE_SCHEMA as SESSION_SCHEMA
from ott_runtime.models.sessions.features import SessionBatch, SessionEvent, encode_sessions
from ott_runtime.models.sessions.transformer import Explanation, SessionRiskModel
from ott_runtime.models.training import (
    ENSEMBLE_MODEL,
    SERIES_MODEL,
    SESSION_MODEL,
    load_ensemble,
    load_series,
    load_session_model,
)


@dataclass(frozen=True)
class SessionRisk:
    risk: float  # calibrated ensemble probability
    transformer_risk: float
    explanation: Explanation | None  # only for alerts


class TenantModels:
    def __init__(self, registry: ModelRegistry, tenant: str, alert_level: float = 0.5) -> None:
        self.tenant = tenant
        self.alert_level = alert_level
        self.series: ModelSlot[SeriesAnomalyDetector] = ModelSlot(
            registry, tenant, SERIES_MODEL, load_series, list(SERIES_SCHEMA)
        )
        self.sessions: ModelSlot[SessionRiskModel] = ModelSlot(
            registry, tenant, SESSION_MODEL, load_session_model, SESSION_SCHEMA
        )
        self.ensemble: ModelSlot[RiskEnsemble] = ModelSlot(
            registry, tenant, ENSEMBLE_MODEL, load_ensemble, SESSION_SCHEMA, self._paired
        )
        self.background: SessionBatch | None = None  # reference sessions for explanations

    def _paired(self, ensemble: ModelMetadata) -> str | None:
        wanted = ensemble.params.get("session_model_version")
        if wanted != self.sessions.version:
            return (
                f"fitted on {SESSION_MODEL} v{wanted}, but v{self.sessions.version} is in service"
            )
        return None

    def refresh(self) -> dict[str, str]:
        """Load newly promoted versions (the Transformer before the ensemble that depends on
        it); returns each model's state for status and logs."""
        states = {}
        for slot in (self.series, self.sessions, self.ensemble):
            swapped = slot.refresh()
            if slot.last_error:
                states[slot.model] = f"refused ({slot.last_error}); serving v{slot.version}"
            else:
                states[slot.model] = f"{'swapped to' if swapped else 'serving'} v{slot.version}"
        return states

    start = refresh

    def score_sessions(self, sessions: Sequence[Sequence[SessionEvent]]) -> list[SessionRisk]:
        model = self.sessions.get()
        ensemble = self.ensemble.get()
        batch = encode_sessions(sessions, model.config.max_events)
        transformer_risk = model.predict(batch)
        risk = ensemble.predict(transformer_risk, batch)
        alerts = [i for i, r in enumerate(risk) if r >= self.alert_level]
        explanations: dict[int, Explanation] = {}
        if alerts:
            if self.background is None:
                self.background = batch
            chosen = SessionBatch(batch.types[alerts], batch.numeric[alerts])
            explanations = dict(zip(alerts, model.explain(chosen, self.background), strict=True))
        return [
            SessionRisk(float(risk[i]), float(transformer_risk[i]), explanations.get(i))
            for i in range(len(risk))
        ]


__all__ = ["ModelRefused", "SessionRisk", "TenantModels"]
