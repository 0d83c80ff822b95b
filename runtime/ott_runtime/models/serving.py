"""What the runtime's scoring hook holds per tenant: the promoted models, hot-swappable.

``TenantModels.start`` loads the promoted versions; ``refresh`` (called on a promotion notice
or a timer) swaps in a newly promoted version only once it loaded cleanly. ``score_sessions``
scores a micro-batch of sessions and explains the ones at or above the alert level.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from ott_runtime.models.ensemble import RiskEnsemble
from ott_runtime.models.registry import ModelRefused, ModelRegistry, ModelSlot
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
    versions: tuple[int | None, int | None] = (None, None)  # (Transformer, ensemble) used


BACKGROUND_MIN_ROWS = 16  # a batch at least this big replaces the explanation background
# permutation repeats per alert when serving: each costs one Transformer row per feature
EXPLAIN_REPEATS = 2


class TenantModels:
    def __init__(
        self,
        registry: ModelRegistry,
        tenant: str,
        alert_level: float = 0.5,
        *,
        with_series: bool = True,
    ) -> None:
        """``with_series``: also keep the LSTM series detector in service (the per-event
        scoring hook needs only the session models)."""
        self.tenant = tenant
        self.alert_level = alert_level
        self.series: ModelSlot[SeriesAnomalyDetector] = ModelSlot(
            registry, tenant, SERIES_MODEL, load_series, list(SERIES_SCHEMA)
        )
        self.with_series = with_series
        self.sessions: ModelSlot[SessionRiskModel] = ModelSlot(
            registry, tenant, SESSION_MODEL, load_session_model, SESSION_SCHEMA
        )
        self.ensemble: ModelSlot[RiskEnsemble] = ModelSlot(
            registry, tenant, ENSEMBLE_MODEL, load_ensemble, SESSION_SCHEMA
        )
        self.background: SessionBatch | None = None  # reference sessions for explanations
        self._pair_lock = threading.Lock()  # scoring reads the pair that refresh swaps
        self._seen: dict[str, int | None] = {}

    def refresh(self) -> dict[str, str]:
        """Load newly promoted versions; returns each model's state for status and logs.

        The Transformer and the ensemble go into service as a pair: an ensemble's weights
        hold only for the Transformer version whose outputs they were fitted on, so neither
        is swapped unless the pair that results matches."""
        if self.with_series:
            self.series.refresh()
        self._refresh_pair()
        slots = (self.series, self.sessions, self.ensemble)
        states = {}
        for slot in slots if self.with_series else slots[1:]:
            if slot.last_error:
                states[slot.model] = f"refused ({slot.last_error}); serving v{slot.version}"
            else:
                swapped = slot.version is not None and slot.version != self._seen.get(slot.model)
                states[slot.model] = f"{'swapped to' if swapped else 'serving'} v{slot.version}"
                self._seen[slot.model] = slot.version
        return states

    def _refresh_pair(self) -> None:
        session_new = ensemble_new = None
        try:
            session_new = self.sessions.candidate()
        except ModelRefused as error:
            self.sessions.refuse(error)
        try:
            ensemble_new = self.ensemble.candidate()
        except ModelRefused as error:
            self.ensemble.refuse(error)
        if session_new is None and ensemble_new is None:
            return
        session_version = session_new[1].version if session_new else self.sessions.version
        ensemble_meta = ensemble_new[1] if ensemble_new else self.ensemble.metadata
        wanted = (
            None if ensemble_meta is None else ensemble_meta.params.get("session_model_version")
        )
        if ensemble_new is not None and wanted != session_version:
            self.ensemble.refuse(
                ModelRefused(
                    f"{self.tenant}/{ENSEMBLE_MODEL} v{ensemble_new[1].version}: fitted on "
                    f"{SESSION_MODEL} v{wanted}, but v{session_version} is in service"
                )
            )
            ensemble_new, ensemble_meta = None, self.ensemble.metadata
            wanted = (
                None if ensemble_meta is None else ensemble_meta.params.get("session_model_version")
            )
        if session_new is not None and ensemble_meta is not None and wanted != session_version:
            self.sessions.refuse(
                ModelRefused(
                    f"{self.tenant}/{SESSION_MODEL} v{session_version}: waits for a promoted "
                    f"{ENSEMBLE_MODEL} fitted on it (v{ensemble_meta.version} was fitted "
                    f"on v{wanted})"
                )
            )
            session_new = None
        with self._pair_lock:
            if session_new is not None:
                self.sessions.install(*session_new)
            if ensemble_new is not None:
                self.ensemble.install(*ensemble_new)

    start = refresh

    @property
    def serving(self) -> bool:
        """Whether the session Transformer and its ensemble are both in service."""
        return self.sessions.current is not None and self.ensemble.current is not None

    @property
    def max_events(self) -> int:
        return self.sessions.get().config.max_events

    def versions(self) -> tuple[int | None, int | None]:
        """(Transformer, ensemble) versions in service."""
        return self.sessions.version, self.ensemble.version

    def score_sessions(self, sessions: Sequence[Sequence[SessionEvent]]) -> list[SessionRisk]:
        return self.score_batch(encode_sessions(sessions, self.max_events))

    def score_batch(self, batch: SessionBatch) -> list[SessionRisk]:
        """Calibrated risk of each encoded session; explanations for those at the alert level.

        The two models are read once, so a swap during the call cannot mix versions."""
        with self._pair_lock:
            model, ensemble = self.sessions.get(), self.ensemble.get()
            versions = self.versions()
        transformer_risk = model.predict(batch)
        risk = ensemble.predict(transformer_risk, batch)
        alerts = [i for i, r in enumerate(risk) if r >= self.alert_level]
        explanations: dict[int, Explanation] = {}
        if self.background is None or len(batch) >= BACKGROUND_MIN_ROWS:
            self.background = batch  # recent sessions: what "typical" means for permutation
        if alerts:
            assert self.background is not None
            chosen = SessionBatch(batch.types[alerts], batch.numeric[alerts])
            explanations = dict(
                zip(
                    alerts,
                    model.explain(chosen, self.background, repeats=EXPLAIN_REPEATS),
                    strict=True,
                )
            )
        return [
            SessionRisk(float(risk[i]), float(transformer_risk[i]), explanations.get(i), versions)
            for i in range(len(risk))
        ]


__all__ = ["ModelRefused", "SessionRisk", "TenantModels"]
