"""The ingest pipeline, framework-free: REST, GraphQL and the demo all call it.

validate -> tenant (from the authenticated scope) -> drop already-stored ids -> aggregates
-> CEL rules -> risk scorer -> encrypt protected fields -> ONE transaction (events, blind
indexes, violations, risk, usage) -> publish -> result. A result is returned only after
the commit, so a 2xx answer means the events are durable; a retried batch finds its ids
stored and is answered the same way without storing anything twice.

The aggregate windows must only hold committed events. A batch feeds them before its
transaction, journalled: on success the journal is dropped, on failure it is undone (in
time proportional to the batch; nothing is read from storage). If the commit itself failed
its outcome is unknown, so the batch's ids are looked up (then, or before the tenant's next
batch if the database cannot answer) to keep or undo it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import Span
from sqlalchemy.exc import IntegrityError

from ott_runtime.ingest import windows
from ott_runtime.ingest.batch import TypeValidator, ValidEvent, parse_body, validate_batch
from ott_runtime.ingest.errors import IngestError
from ott_runtime.ingest.publishing import RiskScore as RiskJson
from ott_runtime.ingest.publishing import Violation as ViolationJson
from ott_runtime.ingest.publishing import batch_messages, publish_batch, risk_json, risk_message
from ott_runtime.ingest.publishing import violation_json as violation_json  # re-exported
from ott_runtime.ingest.pubsub import Broker, Message
from ott_runtime.ingest.scoring import NoRiskScorer, RiskScore, RiskScorer, ScoringInput
from ott_runtime.ingest.tenants import (
    Hit,
    TenantRegistry,
    TenantRuntime,
    WindowsInDoubt,
)
from ott_runtime.storage import (
    NewEvent,
    NewRiskScore,
    NewViolation,
    Store,
    TenantData,
    TenantScope,
)
from ott_runtime.storage.rollups import ViolationRollups
from ott_runtime.telemetry import attributes as attr
from ott_runtime.telemetry import (
    bound_tenant,
    set_span_attributes,
    start_span,
)

log = logging.getLogger(__name__)
# (transaction data, tenant, violation rows, (risk id, score) pairs) -> None
TransactionHook = Callable[
    [TenantData, TenantRuntime, Sequence[Any], Sequence[tuple[int, NewRiskScore]]],
    Awaitable[None],
]
# sends a batch's live messages to the other replicas from inside its transaction
Announcer = Callable[[TenantData, Sequence[Message]], Awaitable[None]]
# the tenant's pending API calls of an hour, stored with the batch's usage (usage.meter)
ApiCallsTaker = Callable[[TenantData, datetime], Awaitable[int]]


@dataclass
class IngestResult:
    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    violations: list[ViolationJson] = field(default_factory=list)
    risk: list[RiskJson] = field(default_factory=list)
    rule_evaluations: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": len(self.accepted),
            "duplicates": self.duplicates,
            "violations": self.violations,
            "risk": self.risk,
        }


@dataclass
class _Progress:
    """How far a batch got: the ids it stores, and whether its commit had begun."""

    event_ids: tuple[str, ...] = ()
    committing: bool = False


@dataclass
class _Scored:
    event: ValidEvent
    hits: Sequence[Hit]
    score: RiskScore | None = None


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


class IngestPipeline:
    def __init__(
        self,
        store: Store,
        tenants: TenantRegistry,
        validators: Mapping[str, TypeValidator],
        *,
        broker: Broker | None = None,
        scorer: RiskScorer | None = None,
    ) -> None:
        self.store = store
        self.tenants = tenants
        self.validators = validators
        self.broker = broker or Broker()
        self.scorer: RiskScorer = scorer or NoRiskScorer()
        # run inside the ingest transaction, after the rows are written; they commit with it
        self.transaction_hooks: list[TransactionHook] = []
        self.announcer: Announcer | None = None
        self.api_calls: ApiCallsTaker | None = None

    async def add_risk_scores(
        self, runtime: TenantRuntime, scores: Sequence[NewRiskScore], seqs: dict[str, int]
    ) -> list[tuple[int, NewRiskScore]]:
        """Risk rows scored outside a batch (the series detector's alerts): written with the
        transaction hooks (webhooks) as a batch's are, published once committed."""
        async with self.store.write(TenantScope(runtime.name)) as data:
            ids = await data.risk.add(scores, seqs, datetime.now(UTC))
            stored = list(zip(ids, scores, strict=True))
            for hook in self.transaction_hooks:
                await hook(data, runtime, [], stored)
        for risk_id, score in stored:
            self.broker.publish(Message(runtime.name, "risk", risk_message(risk_id, score)))
        return stored

    def runtime(self, scope: TenantScope) -> TenantRuntime:
        runtime = self.tenants.get(scope.tenant_id)
        if runtime is None:
            raise IngestError(
                403,
                "Tenant not served here",
                "this key's tenant is not served by this process",
                type_slug="tenant-not-served",
            )
        if runtime.spec.suspended:
            raise IngestError(
                423,
                "Tenant suspended",
                "the tenant is suspended; ingest is refused",
                type_slug="tenant-suspended",
            )
        return runtime

    async def rebuild_windows(self, runtime: TenantRuntime, now: datetime | None = None) -> int:
        """Replays the tenant's windows from storage (at start and after a reload)."""
        return await windows.rebuild(self.store, runtime, now)

    async def ingest_body(self, scope: TenantScope, body: bytes) -> IngestResult:
        started = time.perf_counter()
        runtime = self.tenants.get(scope.tenant_id)
        validators = runtime.validators if runtime and runtime.validators else self.validators
        events = validate_batch(parse_body(body), validators)
        result = await self.ingest(scope, events, body_bytes=len(body))
        result.timings_ms["total"] = (time.perf_counter() - started) * 1000
        return result

    async def ingest(
        self, scope: TenantScope, events: Sequence[ValidEvent], *, body_bytes: int = 0
    ) -> IngestResult:
        span_attributes = {attr.TENANT: scope.tenant_id, attr.EVENT_COUNT: len(events)}
        with bound_tenant(scope.tenant_id), start_span("ottc.ingest", span_attributes) as span:
            result = await self._ingest_serialized(scope, events, body_bytes)
            set_span_attributes(
                span,
                {
                    attr.DUPLICATE_COUNT: len(result.duplicates),
                    attr.VIOLATION_COUNT: len(result.violations),
                },
            )
            log.debug(
                "stored %d events (%d duplicates, %d violations)",
                len(result.accepted),
                len(result.duplicates),
                len(result.violations),
            )
            return result

    async def _ingest_serialized(
        self, scope: TenantScope, events: Sequence[ValidEvent], body_bytes: int
    ) -> IngestResult:
        runtime = self.runtime(scope)
        # one batch of a tenant at a time: duplicate checks and window updates stay ordered
        async with runtime.lock:
            for attempt in (1, 2):
                await windows.settle(self.store, runtime)
                if runtime.windows_stale:
                    await self.rebuild_windows(runtime)
                fed, progress = runtime.windows, _Progress()
                fed.begin()
                try:
                    result = await self._ingest_locked(scope, runtime, events, body_bytes, progress)
                except IntegrityError:
                    # another replica stored some of these ids between our check and commit;
                    # the retry finds them stored and skips them
                    windows.undo(runtime, fed)
                    if attempt == 2:
                        raise
                    log.info(
                        "concurrent insert of the same event ids for %s; retrying", scope.tenant_id
                    )
                    continue
                except BaseException:
                    if not progress.committing:
                        windows.undo(runtime, fed)  # rolled back with the transaction
                    else:  # the commit failed: it may have taken effect or not
                        runtime.windows_in_doubt = WindowsInDoubt(fed, progress.event_ids)
                        with contextlib.suppress(Exception):
                            await windows.settle(self.store, runtime)
                    raise
                fed.commit()
                return result
        raise AssertionError("unreachable")

    async def _ingest_locked(
        self,
        scope: TenantScope,
        runtime: TenantRuntime,
        events: Sequence[ValidEvent],
        body_bytes: int,
        progress: _Progress,
    ) -> IngestResult:
        result = IngestResult()
        async with self.store.read(scope) as data:
            stored = await data.events.existing_ids([e.id for e in events])
        fresh = [e for e in events if e.id not in stored]
        result.duplicates = [e.id for e in events if e.id in stored]
        progress.event_ids = tuple(e.id for e in fresh)

        scored: list[_Scored] = []
        inputs: list[ScoringInput] = []
        tenant_attributes = {attr.TENANT: scope.tenant_id, attr.EVENT_COUNT: len(fresh)}
        stage_started = time.perf_counter()
        with start_span("ottc.rules.evaluate", tenant_attributes) as rules_span:
            for event in fresh:
                values = runtime.windows.observe(event.body)
                hits = runtime.rules.evaluate(event.body, values)
                result.rule_evaluations += runtime.rules.evaluations_for(event.type)
                scored.append(_Scored(event, hits))
                inputs.append(
                    ScoringInput(
                        tenant=scope.tenant_id,
                        event=event.body,
                        rule_hits=[
                            {
                                "regulation": h.regulation,
                                "ruleId": h.rule_id,
                                "severity": h.severity,
                            }
                            for h in hits
                        ],
                        aggregates=values,
                    )
                )
            hit_ids = sorted({h.rule_id for item in scored for h in item.hits})
            set_span_attributes(
                rules_span,
                {attr.RULE_EVALUATIONS: result.rule_evaluations, attr.RULE_IDS_HIT: hit_ids},
            )
        result.timings_ms["rules"] = (time.perf_counter() - stage_started) * 1000
        if inputs:
            stage_started = time.perf_counter()
            with start_span("ottc.model.score", tenant_attributes) as model_span:
                model_scores = await self.scorer.score(inputs)
                models = sorted({score.model for score in model_scores if score is not None})
                if models:  # "name@version"
                    name, _, version = models[0].partition("@")
                    set_span_attributes(
                        model_span, {attr.MODEL_NAME: name, attr.MODEL_VERSION: version or None}
                    )
            for item, score in zip(scored, model_scores, strict=True):
                item.score = score
            result.timings_ms["model"] = (time.perf_counter() - stage_started) * 1000

        now = datetime.now(UTC)
        protected, searchable = runtime.encrypted_fields, runtime.searchable_fields
        cipher = runtime.cipher if protected else None
        new_events: list[NewEvent] = []
        new_violations: list[NewViolation] = []
        new_scores: list[NewRiskScore] = []
        stage_started = time.perf_counter()
        crypto_span: AbstractContextManager[Span | None] = (
            start_span(
                "ottc.crypto.encrypt",
                {**tenant_attributes, attr.FIELD_COUNT: len(protected)},
            )
            if cipher is not None
            else nullcontext()
        )
        with crypto_span as sealing:
            sealed = (
                cipher.encrypt_documents(
                    [(item.event.body, item.event.id) for item in scored],
                    protected,
                    indexed=searchable,
                )
                if cipher is not None
                else None
            )
            for position, item in enumerate(scored):
                event = item.event
                payload, key_version = event.body, None
                indexes: dict[str, bytes] = {}
                if sealed is not None:
                    document = sealed[position]
                    payload, key_version = document.document, document.key_version
                    indexes = document.blind_indexes
                new_events.append(
                    NewEvent(
                        event_id=event.id,
                        type=event.type,
                        occurred_at=event.occurred_at,
                        received_at=now,
                        content_id=event.content_id,
                        payload=payload,
                        key_version=key_version,
                        max_severity=max((h.severity_rank for h in item.hits), default=None),
                        blind_indexes=indexes,
                    )
                )
                new_violations.extend(
                    NewViolation(
                        event_id=event.id,
                        event_type=event.type,
                        regulation=h.regulation,
                        rule_id=h.rule_id,
                        severity=h.severity,
                        severity_rank=h.severity_rank,
                        message=h.message,
                        reference=h.reference,
                        content_id=event.content_id,
                        occurred_at=event.occurred_at,
                    )
                    for h in item.hits
                )
                if item.score is not None:
                    new_scores.append(
                        NewRiskScore(
                            event.id, item.score.score, item.score.model, item.score.explanation
                        )
                    )

            if sealing is not None and new_events:
                set_span_attributes(sealing, {attr.KEY_ID: new_events[-1].key_version})
        result.timings_ms["encrypt" if cipher is not None else "rows"] = (
            time.perf_counter() - stage_started
        ) * 1000

        stage_started = time.perf_counter()
        announcer = self.announcer

        def live_messages() -> list[Message]:
            result.violations = [violation_json(row) for row in violation_rows]
            result.risk = [risk_json(s) for s in new_scores]
            return batch_messages(
                scope.tenant_id,
                new_events,
                seqs,
                list(zip(result.violations, violation_rows, strict=True)),
                list(zip(result.risk, risk_ids, strict=True)),
                notified=announcer is not None,
            )

        async with self.store.write(scope) as data:
            # first: the tenant's commit-order lock, then the dashboard's hourly rollup
            await data.repository(ViolationRollups).record_batch(new_events, new_violations)
            seqs = await data.events.add(new_events)
            violation_rows = await data.violations.add(new_violations, seqs)
            risk_ids = await data.risk.add(new_scores, seqs, now)
            scores = list(zip(risk_ids, new_scores, strict=True))
            for hook in self.transaction_hooks:  # e.g. the notification outbox
                await hook(data, runtime, violation_rows, scores)
            await data.usage.add(
                _hour(now),
                events=len(new_events),
                bytes_in=body_bytes,
                rule_evaluations=result.rule_evaluations,
                # this request's own call among them: answered only after this commit
                api_calls=await self.api_calls(data, _hour(now)) if self.api_calls else 0,
            )
            if announcer is not None:
                # delivered to the other replicas at commit, in commit order (see fanout);
                # without one (SQLite) the messages are built after the commit, outside
                # the single writer's lock
                messages = live_messages()
                if messages:
                    await announcer(data, messages)
            progress.committing = True  # what fails from here on may have committed
        result.timings_ms["store"] = (time.perf_counter() - stage_started) * 1000
        # committed: only now is anything announced here
        result.accepted = [e.event_id for e in new_events]
        if announcer is None:
            messages = live_messages()
        publish_batch(self.broker, scope.tenant_id, messages)
        return result
