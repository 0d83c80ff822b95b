"""The ingest pipeline's risk scorer backed by each tenant's promoted models.

A tenant is scored when its ``spec.scoring.models.transformer`` is on and the model registry
has a promoted session Transformer and ensemble for it; every other tenant gets ``None`` (no
risk row), exactly as with :class:`~ott_runtime.ingest.scoring.NoRiskScorer`, for the price of
one dict lookup per batch: nothing of TensorFlow is imported until a tenant has models.

Each ingest batch is one micro-batch: every event joins its viewer's live session
(:class:`LiveSessions`) and the sessions as they stand after each event are scored together
(the Transformer's graph once, the compiled forest, the calibrated combiner), off the event
loop. Scores at or above the tenant's ``spec.scoring.riskThreshold`` are alerts and carry
their explanation: top features (permutation importance) and top events (attention).

:meth:`ModelRiskScorer.refresh` (at start, then on a timer) loads newly promoted versions; a
corrupt or incompatible one is refused with a log line and in :meth:`status`, and the
version in service keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ott_runtime.ingest.scoring import RiskScore, ScoringInput
from ott_runtime.ingest.tenants import TenantRegistry, TenantRuntime
from ott_runtime.models.registry import ModelRegistry
from ott_runtime.models.serving import SessionRisk, TenantModels
from ott_runtime.models.sessions.features import from_event, session_key
from ott_runtime.models.sessions.live import LiveSessions
from ott_runtime.models.training import ENSEMBLE_MODEL, SESSION_MODEL

log = logging.getLogger(__name__)
MAX_BATCH = 256  # rows per model call; an ingest batch holds at most 1,000 events
DEFAULT_REFRESH_SECONDS = 15.0


@dataclass
class _Served:
    models: TenantModels
    sessions: LiveSessions
    lock: threading.Lock


def explanation_json(risk: SessionRisk, threshold: float, session_model: str) -> dict[str, Any]:
    document: dict[str, Any] = {
        "transformerRisk": round(risk.transformer_risk, 6),
        "sessionModel": session_model,
    }
    if risk.explanation is not None:
        document["alert"] = True
        document["threshold"] = threshold
        document["topFeatures"] = [
            {"feature": name, "importance": round(value, 6)}
            for name, value in risk.explanation.top_features
        ]
        document["topEvents"] = [
            {"position": position, "type": kind, "attention": round(value, 6)}
            for position, kind, value in risk.explanation.top_events
        ]
    return document


class ModelRiskScorer:
    """A :class:`~ott_runtime.ingest.scoring.RiskScorer` over the model registry."""

    def __init__(
        self,
        registry: ModelRegistry,
        tenants: TenantRegistry,
        *,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        models_factory: Callable[[ModelRegistry, str], TenantModels] | None = None,
    ) -> None:
        self.registry = registry
        self.tenants = tenants
        self.refresh_seconds = refresh_seconds
        self._factory = models_factory or (
            lambda registry, tenant: TenantModels(registry, tenant, with_series=False)
        )
        self._models: dict[str, TenantModels] = {}  # loaded, possibly not (yet) serving
        self._served: dict[str, _Served] = {}  # read by score() without a lock
        self._status: dict[str, dict[str, Any]] = {}
        self._refresh_lock = threading.Lock()
        self.started = asyncio.Event()  # set once the first refresh has finished

    # -- loading -----------------------------------------------------------------------

    def _has_promoted(self, tenant: str) -> bool:
        return any(
            self.registry.promoted(tenant, model) is not None
            for model in (SESSION_MODEL, ENSEMBLE_MODEL)
        )

    def _refresh_tenant(self, runtime: TenantRuntime) -> dict[str, Any]:
        name = runtime.name
        if not runtime.spec.scoring.models.transformer:
            self._models.pop(name, None)
            self._served.pop(name, None)
            return {"enabled": False, "state": "off (spec.scoring.models.transformer is false)"}
        models = self._models.get(name)
        if models is None:
            if not self._has_promoted(name):
                return {"enabled": True, "state": "no promoted models: events are not scored"}
            models = self._models[name] = self._factory(self.registry, name)
        states = models.refresh()
        served = self._served.get(name)
        if models.serving:
            if served is None or served.sessions.max_events != models.max_events:
                window = LiveSessions(models.max_events)
                self._served[name] = _Served(models, window, threading.Lock())
            state = "scoring"
        else:
            state = "not scoring: no usable pair of session model and ensemble"
        return {
            "enabled": True,
            "state": state,
            "models": {
                slot.model: {
                    "version": slot.version,
                    "promoted": self.registry.promoted(name, slot.model),
                    "error": slot.last_error,
                    "state": states.get(slot.model),
                }
                for slot in (models.sessions, models.ensemble)
            },
        }

    def refresh(self) -> dict[str, dict[str, Any]]:
        """Load what is newly promoted for every served tenant (blocking: run it in a
        thread). Logs each change of a tenant's state; returns the status."""
        with self._refresh_lock:
            status: dict[str, dict[str, Any]] = {}
            for runtime in list(self.tenants):
                try:
                    status[runtime.name] = self._refresh_tenant(runtime)
                except Exception as error:  # e.g. an unreadable registry folder
                    log.exception("%s: model refresh failed", runtime.name)
                    previous = self._status.get(runtime.name, {})
                    status[runtime.name] = {**previous, "refreshError": str(error)}
            for gone in set(self._models) - set(status):
                self._models.pop(gone, None)
                self._served.pop(gone, None)
            for tenant, now in status.items():
                if _summary(now) != _summary(self._status.get(tenant, {})):
                    refused = any(m.get("error") for m in now.get("models", {}).values())
                    log.log(
                        logging.WARNING if refused else logging.INFO,
                        "%s: models %s",
                        tenant,
                        _summary(now),
                    )
            self._status = status
            return status

    def status(self, tenant: str) -> dict[str, Any]:
        return self._status.get(tenant) or {"enabled": None, "state": "not loaded yet"}

    async def run(self, _service: Any = None) -> None:
        """Background job: load at start, then pick up promotions every few seconds."""
        while True:
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:  # keep serving what is loaded; the next round retries
                log.exception("model refresh failed")
            self.started.set()
            await asyncio.sleep(self.refresh_seconds)

    # -- scoring -----------------------------------------------------------------------

    async def score(self, batch: Sequence[ScoringInput]) -> Sequence[RiskScore | None]:
        if not batch:
            return []
        served = self._served.get(batch[0].tenant)
        if served is None:
            return [None] * len(batch)
        runtime = self.tenants.get(batch[0].tenant)
        threshold = runtime.spec.scoring.risk_threshold if runtime is not None else 1.0
        try:
            return await asyncio.to_thread(self._score, served, batch, threshold)
        except Exception as error:  # a risk score is never worth losing the events over
            log.exception("%s: scoring failed; the batch is stored without risk", batch[0].tenant)
            self._status.setdefault(batch[0].tenant, {})["lastScoringError"] = (
                f"{type(error).__name__}: {error}"
            )
            return [None] * len(batch)

    def _score(
        self, served: _Served, batch: Sequence[ScoringInput], threshold: float
    ) -> list[RiskScore | None]:
        keys = [session_key(item.event) for item in batch]
        events = [from_event(item.event, len(item.rule_hits)) for item in batch]
        results: list[RiskScore | None] = []
        with served.lock:
            served.models.alert_level = threshold
            for start in range(0, len(batch), MAX_BATCH):
                rows = served.sessions.observe(
                    keys[start : start + MAX_BATCH], events[start : start + MAX_BATCH]
                )
                for risk in served.models.score_batch(rows):
                    session_version, ensemble_version = risk.versions
                    results.append(
                        RiskScore(
                            min(max(risk.risk, 0.0), 1.0),
                            f"{ENSEMBLE_MODEL}@{ensemble_version}",
                            explanation_json(risk, threshold, f"{SESSION_MODEL}@{session_version}"),
                        )
                    )
        return results


def _summary(status: dict[str, Any]) -> str:
    parts = [str(status.get("state"))]
    for model, item in status.get("models", {}).items():
        if item.get("error"):
            parts.append(f"{model} v{item.get('version')} in service, refused: {item['error']}")
        else:
            parts.append(f"{model} v{item.get('version')}")
    return "; ".join(parts)
