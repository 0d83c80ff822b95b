"""What the runtime holds per tenant: its spec, compiled rules, windows and keys.

The rule engine and the aggregate windows come from ``ott_runtime.domain``; this module
only needs the small surface described by the protocols below, so the pipeline can be
tested with any implementation of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from ott_runtime.crypto import FieldCipher, KeyStore
from ott_runtime.domain.durations import parse_duration
from ott_runtime.domain.event_schema import EventExtension
from ott_runtime.domain.rule_health import RuleHealth
from ott_runtime.domain.tenant import ComplianceTenantSpec

if TYPE_CHECKING:
    from ott_runtime.ingest.batch import TypeValidator


@dataclass(frozen=True)
class Hit:
    """A rule that held for an event (the pipeline's view of the engine's RuleHit)."""

    regulation: str
    rule_id: str
    severity: str
    severity_rank: int
    message: str
    reference: str


class RuleEvaluator(Protocol):
    def evaluate(self, event: Mapping[str, Any], aggregates: Mapping[str, Any]) -> Sequence[Hit]:
        """The rules that hold for ``event`` (only those whose appliesTo names its type)."""

    def evaluations_for(self, event_type: str) -> int:
        """How many rules an event of this type is evaluated against (for metering)."""

    def describe(self) -> list[dict[str, Any]]:
        """The resolved rules, for GET /v1/regulations."""

    def health(self) -> Sequence[RuleHealth]:
        """Each rule's evaluations, hits, misses and errors (``ottc_rule_*_total``)."""


class AggregateWindows(Protocol):
    def observe(self, event: Mapping[str, Any]) -> Mapping[str, Any]:
        """Adds the event to every window it feeds; returns the values rules may read."""

    def begin(self) -> None:
        """Journals the changes of one batch from now on."""

    def commit(self) -> None:
        """Keeps the batch's changes (it was committed)."""

    def rollback(self) -> None:
        """Undoes the batch's changes (it was not committed)."""


@dataclass(frozen=True)
class WindowsInDoubt:
    """Windows fed by a batch whose commit failed without telling whether it took effect:
    the batch's event ids, looked up before the tenant's next batch, decide."""

    windows: AggregateWindows
    event_ids: tuple[str, ...]


@dataclass
class TenantRuntime:
    name: str
    spec: ComplianceTenantSpec
    rules: RuleEvaluator
    windows: AggregateWindows
    keys: KeyStore
    # fresh windows and how far back they reach: rebuilt from storage at start and after a
    # reload (the in-memory windows must only ever hold committed events; a failed batch
    # rolls its own changes back instead)
    windows_factory: Callable[[], AggregateWindows] | None = None
    longest_window: timedelta | None = None
    windows_stale: bool = False
    windows_in_doubt: WindowsInDoubt | None = None
    # event validators with the tenant's declared extension fields (None: the pipeline's)
    validators: Mapping[str, TypeValidator] | None = None
    extensions: Mapping[str, EventExtension] = field(default_factory=dict)  # declared fields
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def encrypted_fields(self) -> list[str]:
        return list(self.spec.encryption.fields)

    @property
    def searchable_fields(self) -> list[str]:
        """The encrypted fields with a blind index (equality lookups)."""
        return list(self.spec.encryption.searchable)

    @property
    def cipher(self) -> FieldCipher:
        return self.keys.cipher(self.name)

    @property
    def events_retention(self) -> timedelta:
        return parse_duration(self.spec.retention.events)

    @property
    def violations_retention(self) -> timedelta:
        return parse_duration(self.spec.retention.violations)


class TenantRegistry:
    """The tenants this process serves (one when dedicated, many when pooled)."""

    def __init__(self, runtimes: Sequence[TenantRuntime] = ()) -> None:
        self._runtimes = {r.name: r for r in runtimes}

    def __getitem__(self, name: str) -> TenantRuntime:
        return self._runtimes[name]

    def get(self, name: str) -> TenantRuntime | None:
        return self._runtimes.get(name)

    def replace(self, runtime: TenantRuntime) -> None:
        """Swaps in a re-resolved tenant (rules or spec changed) without a restart."""
        self._runtimes[runtime.name] = runtime

    def remove(self, name: str) -> TenantRuntime | None:
        """Stops serving a tenant (its keys then get 403 "not served here")."""
        return self._runtimes.pop(name, None)

    @property
    def names(self) -> list[str]:
        return sorted(self._runtimes)

    def __iter__(self) -> Any:
        return iter(self._runtimes.values())
