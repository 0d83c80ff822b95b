"""``status.usage``: the operator copies each tenant's metered usage from its runtime.

The runtime meters (it sees every request); the operator asks it for this month's totals on
a timer and writes them into the tenant's status, so ``kubectl get ctenant -o yaml`` shows
them and the deletion finalizer records them. It asks the way a tenant app does: the
tenant's own Service, with the tenant's own API key, so no extra credential or RBAC exists
for it. An unreachable runtime (no pods yet, a restart) keeps the last value in status.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import ValidationError

from ott_operator.inputs import parse_tenant
from ott_operator.kube import TENANTS, KubeAPI, get_custom, secret_data
from ott_operator.naming import TenantNames
from ott_operator.settings import OperatorSettings
from ott_operator.status_patch import patch_status
from ott_runtime.domain.contract import API_KEY_FILE
from ott_runtime.domain.tenant import UsageStatus

log = logging.getLogger(__name__)
USAGE_FIELDS = ("period", "events", "apiCalls", "estimatedCharge")


class RuntimeUnavailable(Exception):
    """The tenant's runtime did not answer (or not usefully); the message says why."""


class UsageUnavailable(RuntimeUnavailable):
    """The runtime could not tell the tenant's usage; the message says why."""


def runtime_url(settings: OperatorSettings, names: TenantNames, path: str) -> str:
    base = settings.runtime_url.format(
        service=names.service, namespace=names.namespace, tenant=names.tenant
    )
    return f"{base.rstrip('/')}{path}"


def usage_url(settings: OperatorSettings, names: TenantNames) -> str:
    return runtime_url(settings, names, "/v1/usage")


def usage_status(document: Mapping[str, Any]) -> dict[str, Any]:
    """The ``status.usage`` part of a ``GET /v1/usage`` answer, checked against the CRD's
    shape so a runtime of another version cannot make the status patch fail."""
    picked = {key: document[key] for key in USAGE_FIELDS if key in document}
    try:
        return UsageStatus.model_validate(picked).to_document()
    except ValidationError as exc:
        raise UsageUnavailable(f"the runtime's usage does not fit status.usage: {exc}") from exc


def fetch_json(url: str, api_key: str, *, timeout: float = 5.0) -> dict[str, Any]:
    """GET ``url`` with the tenant's key: the JSON object it answers."""
    try:
        response = httpx.get(url, headers={"X-API-Key": api_key}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise RuntimeUnavailable(f"GET {url}: {exc or type(exc).__name__}") from exc
    if response.status_code != 200:
        raise RuntimeUnavailable(f"GET {url}: HTTP {response.status_code}: {response.text[:200]}")
    try:
        document = response.json()
    except ValueError as exc:
        raise RuntimeUnavailable(f"GET {url}: not JSON") from exc
    if not isinstance(document, dict):
        raise RuntimeUnavailable(f"GET {url}: expected an object")
    return document


def _usage_of(ask: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``status.usage`` from what ``ask`` fetched; any failure as UsageUnavailable."""
    try:
        return usage_status(ask())
    except UsageUnavailable:
        raise
    except RuntimeUnavailable as exc:
        raise UsageUnavailable(str(exc)) from exc


def fetch_usage(url: str, api_key: str, *, timeout: float = 5.0) -> dict[str, Any]:
    return _usage_of(lambda: fetch_json(url, api_key, timeout=timeout))


def runtime_document(
    kube: KubeAPI, settings: OperatorSettings, body: Mapping[str, Any], path: str
) -> dict[str, Any]:
    """``GET path`` of the tenant's runtime, asked as a tenant app asks: its own Service
    and API key (raises RuntimeUnavailable)."""
    tenant = parse_tenant(body)
    names = TenantNames.of(tenant, settings)
    data, _ = secret_data(kube, names.namespace, names.api_key_secret)
    if API_KEY_FILE not in data:
        raise RuntimeUnavailable(f"Secret {names.namespace}/{names.api_key_secret} has no API key")
    api_key = base64.b64decode(data[API_KEY_FILE]).decode()
    return fetch_json(
        runtime_url(settings, names, path), api_key, timeout=settings.usage_timeout_seconds
    )


def current_usage(
    kube: KubeAPI, settings: OperatorSettings, body: Mapping[str, Any]
) -> dict[str, Any]:
    """Ask the tenant's runtime for this month's usage."""
    return _usage_of(lambda: runtime_document(kube, settings, body, "/v1/usage"))


def tenant_to_ask(kube: KubeAPI, name: str) -> dict[str, Any] | None:
    """The tenant, when its runtime can be asked: not deleted, not being deleted, and not
    suspended (scaled to zero: nobody to ask, and nothing new to meter)."""
    body = get_custom(kube, TENANTS, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return None
    if (body.get("spec") or {}).get("suspended"):
        return None
    return body


def refresh_usage(kube: KubeAPI, settings: OperatorSettings, name: str) -> dict[str, Any] | None:
    """Write the runtime's usage into ``status.usage`` when it changed; returns what the
    status now holds (None when there was nothing to ask or the runtime did not answer)."""
    body = tenant_to_ask(kube, name)
    if body is None:
        return None
    try:
        usage = current_usage(kube, settings, body)
    except (UsageUnavailable, ValueError) as exc:  # ValueError: an unreadable spec
        log.debug("tenant %s: usage not refreshed: %s", name, exc)
        return None

    def transaction(current: Mapping[str, Any]) -> Mapping[str, Any] | None:
        # the answer took a round trip: a conflict re-reads and compares again
        return None if (current.get("status") or {}).get("usage") == usage else {"usage": usage}

    patch_status(kube, TENANTS, name, transaction, read=body)
    return usage
