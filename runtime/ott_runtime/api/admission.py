"""Admission control for ingest: shed load instead of queueing it.

One uvicorn worker runs every batch's parsing, rules, sealing and ORM work on one event
loop, and SQLite has one writer, so batches admitted together share one core: by Little's
law their latency is about (batches in flight) x (CPU per batch). Without a bound, 200
clients meant 200 batches in flight and seconds of waiting for every one of them. Here the
number of ingest batches in flight is bounded globally and per tenant; a batch beyond it is
refused at once with a problem+json and ``Retry-After``:

- 503 ``server-busy`` when the process already holds ``max_in_flight`` batches,
- 429 ``tenant-busy`` when the batch's tenant already holds ``max_in_flight_per_tenant``
  (checked first: the tenant that floods is the one told to slow down).

The check runs in a pure ASGI middleware before the app reads a byte of the body, so a
refusal costs a header parse and a cached key lookup. There is no waiting queue of our own:
the only queue is the tenant's lock in the pipeline (one batch of a tenant at a time), where
at most ``max_in_flight_per_tenant - 1`` read and validated batches wait. Requests without a
valid key take no slot (authentication refuses them). A slot is held until the response is
sent. GraphQL ``processEvents`` takes a slot the same way (once its document is parsed:
which operation it is cannot be known earlier) and is refused with a GraphQL error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from prometheus_client import CollectorRegistry, Counter, Gauge
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ott_runtime.api.guards import authenticated_by_guard, presented_key
from ott_runtime.api.problems import problem_response

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ott_runtime.service import RuntimeService

log = logging.getLogger(__name__)

MAX_IN_FLIGHT_ENV = "OTTC_MAX_IN_FLIGHT"
MAX_IN_FLIGHT_PER_TENANT_ENV = "OTTC_MAX_IN_FLIGHT_PER_TENANT"
# one core's worth: more in flight only lengthens every accepted batch's wait (README)
DEFAULT_MAX_IN_FLIGHT = 4
# one batch in the pipeline, one read and validated behind it on the tenant's lock
DEFAULT_MAX_IN_FLIGHT_PER_TENANT = 2
RETRY_AFTER_SECONDS = 1  # Retry-After is whole seconds; a slot frees within a batch's time
INGEST_ROUTES = frozenset({("POST", "/v1/events")})


@dataclass(frozen=True)
class AdmissionSettings:
    """Limits on ingest batches in flight; 0 means no limit."""

    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    max_in_flight_per_tenant: int = DEFAULT_MAX_IN_FLIGHT_PER_TENANT

    def __post_init__(self) -> None:
        if self.max_in_flight < 0 or self.max_in_flight_per_tenant < 0:
            raise ValueError("in-flight limits are 0 (no limit) or more")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> AdmissionSettings:
        return cls(
            _whole_number(environ, MAX_IN_FLIGHT_ENV, DEFAULT_MAX_IN_FLIGHT),
            _whole_number(environ, MAX_IN_FLIGHT_PER_TENANT_ENV, DEFAULT_MAX_IN_FLIGHT_PER_TENANT),
        )


def _whole_number(environ: Mapping[str, str], variable: str, default: int) -> int:
    raw = environ.get(variable, "").strip()
    if raw and not raw.isdigit():
        raise ValueError(f"{variable}={raw!r}: expected a whole number (0: no limit)")
    return int(raw) if raw else default


@dataclass(frozen=True)
class Refusal:
    reason: str  # "global" | "tenant": the metric's label
    status: int
    title: str
    detail: str
    slug: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}


class AdmissionControl:
    """Counts the ingest batches in flight (one event loop: plain integers suffice)."""

    def __init__(self, settings: AdmissionSettings, registry: CollectorRegistry) -> None:
        self.settings = settings
        self.in_flight = 0
        self.by_tenant: dict[str, int] = {}
        self.shed = Counter(
            "ottc_ingest_shed",
            "Ingest batches refused by admission control (global: 503, tenant: 429)",
            ["reason", "tenant"],
            registry=registry,
        )
        self.in_flight_gauge = Gauge(
            "ottc_ingest_in_flight",
            "Ingest batches admitted and not yet answered",
            registry=registry,
        )

    def enter(self, tenant: str) -> Refusal | None:
        """Takes a slot for one of ``tenant``'s batches, or says why not (and counts it)."""
        refusal = self._refusal(tenant)
        if refusal is not None:
            self.shed.labels(refusal.reason, tenant).inc()
            return refusal
        self.in_flight += 1
        self.by_tenant[tenant] = self.by_tenant.get(tenant, 0) + 1
        self.in_flight_gauge.inc()
        return None

    def leave(self, tenant: str) -> None:
        self.in_flight -= 1
        left = self.by_tenant[tenant] - 1
        if left:
            self.by_tenant[tenant] = left
        else:  # only tenants with batches in flight are kept
            del self.by_tenant[tenant]
        self.in_flight_gauge.dec()

    def _refusal(self, tenant: str) -> Refusal | None:
        per_tenant, overall = self.settings.max_in_flight_per_tenant, self.settings.max_in_flight
        if per_tenant and self.by_tenant.get(tenant, 0) >= per_tenant:
            return Refusal(
                "tenant", 429, "Too many batches in flight",
                f"this tenant already has {per_tenant} ingest batch(es) in flight; retry "
                f"after {RETRY_AFTER_SECONDS} s (nothing from this request was stored)",
                "tenant-busy",
            )  # fmt: skip
        if overall and self.in_flight >= overall:
            return Refusal(
                "global", 503, "Server busy",
                f"the server already has {overall} ingest batches in flight; retry after "
                f"{RETRY_AFTER_SECONDS} s (nothing from this request was stored)",
                "server-busy",
            )  # fmt: skip
        return None


class AdmitIngest:
    """Pure ASGI middleware: the admission check of ``INGEST_ROUTES``, before the body."""

    def __init__(self, app: ASGIApp, control: AdmissionControl, service: RuntimeService) -> None:
        self.app, self.control, self.service = app, control, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) not in INGEST_ROUTES:
            await self.app(scope, receive, send)
            return
        tenant = await self._tenant(scope)
        if tenant is None:  # authentication refuses it without a slot
            await self.app(scope, receive, send)
            return
        refusal = self.control.enter(tenant)
        if refusal is not None:
            response = problem_response(
                Request(scope), refusal.status, refusal.title, refusal.detail, refusal.slug,
                refusal.headers,
            )  # fmt: skip
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.control.leave(tenant)

    async def _tenant(self, scope: Scope) -> str | None:
        key = presented_key(Headers(scope=scope))
        if key is None:
            return None
        found = authenticated_by_guard(scope, key)  # the request guard's lookup, if any
        try:  # cached by the directory: the dependency's own lookup right after hits it
            found = found or await self.service.store.directory.authenticate(key)
        except Exception:  # e.g. the database is down: authentication answers for it
            log.debug("admission: key lookup failed; leaving the request to authentication")
            return None
        return found.tenant_id if found is not None else None


def install_admission(app: FastAPI, service: RuntimeService, control: AdmissionControl) -> None:
    """``control`` (one per process: the bound is the process's) on ``app``; it is
    ``app.state.admission`` for GraphQL's :func:`graphql_slot`."""
    app.state.admission = control
    app.add_middleware(AdmitIngest, control=control, service=service)


@contextmanager
def graphql_slot(app: Any, tenant: str, response: Any = None) -> Iterator[None]:
    """``processEvents``' slot: refused as a GraphQL error carrying the status and the
    retry delay (and ``Retry-After`` on the HTTP response, when there is one)."""
    control: AdmissionControl | None = getattr(app.state, "admission", None)
    if control is None:
        yield
        return
    refusal = control.enter(tenant)
    if refusal is not None:
        if response is not None:
            response.headers["Retry-After"] = refusal.headers["Retry-After"]
        raise GraphQLError(
            f"{refusal.title}: {refusal.detail}",
            extensions={
                "code": "TENANT_BUSY" if refusal.reason == "tenant" else "SERVER_BUSY",
                "status": refusal.status,
                "retryAfter": RETRY_AFTER_SECONDS,
            },
        )
    try:
        yield
    finally:
        control.leave(tenant)
