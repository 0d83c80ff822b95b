"""The operator's only door to the API server (the official ``kubernetes`` client).

Server-side apply with the operator's field manager, reads by name, pruning by label,
status writes under an optimistic lock and Events. Thread-safe: kopf runs the (sync)
handlers in a thread pool. Nothing here logs object contents (Secrets pass through
``apply``). ``KubeAPI`` is what the rest of the operator needs of it, so the reconciler's
unit tests can stand a small fake in its place.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import kubernetes
from kubernetes.client import ApiClient, CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

from ott_operator.conditions import timestamp
from ott_operator.labels import TRACE_ID
from ott_runtime.domain.contract import (
    API_GROUP,
    API_VERSION,
    FIELD_MANAGER,
    REGULATION_SET_KIND,
    REGULATION_SET_PLURAL,
    TENANT_KIND,
    TENANT_PLURAL,
)
from ott_runtime.telemetry import current_trace_id

Object = dict[str, Any]


class ApplyError(RuntimeError):
    """The API server refused an object; the message names it and says why."""


class StatusConflict(RuntimeError):
    """A status write carried a ``resourceVersion`` the object no longer has (HTTP 409):
    someone wrote it since it was read. Read it again and recompute."""


@dataclass(frozen=True)
class CustomResource:
    """One of our cluster-scoped custom resources: its kind (to read) and plural (to patch)."""

    kind: str
    plural: str
    api_version: str = f"{API_GROUP}/{API_VERSION}"


TENANTS = CustomResource(TENANT_KIND, TENANT_PLURAL)
REGULATION_SETS = CustomResource(REGULATION_SET_KIND, REGULATION_SET_PLURAL)


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        meta = obj["metadata"]
        return cls(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


def _reason(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "{}")
        return str(body.get("message") or exc.reason)
    except ValueError:
        return str(exc.reason)


class KubeAPI(Protocol):
    """What the operator asks of the API server (``Kube``, or a fake in unit tests)."""

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Object | None: ...

    def apply(self, obj: Object) -> Object: ...

    def list_labelled(
        self, api_version: str, kind: str, namespace: str | None, selector: str
    ) -> list[Object]: ...

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None) -> None: ...

    def patch_status(
        self,
        resource: CustomResource,
        name: str,
        status: Mapping[str, Any],
        *,
        resource_version: str,
    ) -> None: ...

    def post_event(
        self, regarding: Mapping[str, Any], *, warning: bool, reason: str, message: str
    ) -> None: ...


def get_custom(kube: KubeAPI, resource: CustomResource, name: str) -> Object | None:
    return kube.get(resource.api_version, resource.kind, name)


def secret_data(kube: KubeAPI, namespace: str, name: str) -> tuple[dict[str, str], dict[str, str]]:
    """(data, annotations) of a Secret, or two empty dicts when it does not exist."""
    secret = kube.get("v1", "Secret", name, namespace)
    if secret is None:
        return {}, {}
    data = {str(k): str(v) for k, v in (secret.get("data") or {}).items()}
    annotations = dict((secret.get("metadata") or {}).get("annotations") or {})
    return data, annotations


class Kube:
    def __init__(self, api_client: ApiClient) -> None:
        self.api_client = api_client
        self.dynamic = DynamicClient(api_client)  # type: ignore[no-untyped-call]
        self.core = CoreV1Api(api_client)
        self.custom = CustomObjectsApi(api_client)
        self._resources: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def connect(cls) -> Kube:
        """In-cluster credentials when running in a pod, the kubeconfig otherwise."""
        try:
            kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]
        return cls(ApiClient())

    def resource(self, api_version: str, kind: str) -> Any:
        """The discovered resource; raises ResourceNotFoundError when its CRD is absent."""
        key = (api_version, kind)
        with self._lock:  # discovery is not thread-safe
            if key not in self._resources:
                self._resources[key] = self.dynamic.resources.get(
                    api_version=api_version, kind=kind
                )
            return self._resources[key]

    def apply(self, obj: Object) -> Object:
        """Server-side apply, forcing conflicts: the operator owns what it declares."""
        ref = ObjectRef.of(obj)
        try:
            resource = self.resource(ref.api_version, ref.kind)
            result = self.dynamic.server_side_apply(  # type: ignore[no-untyped-call]
                resource,
                body=obj,
                name=ref.name,
                namespace=ref.namespace,
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
            )
        except ResourceNotFoundError as exc:
            raise ApplyError(f"{ref}: the API server does not serve {ref.api_version}") from exc
        except ApiException as exc:
            raise ApplyError(f"{ref}: {_reason(exc)}") from None
        applied: Object = result.to_dict()
        return applied

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Object | None:
        try:
            resource = self.resource(api_version, kind)
            found: Object = self.dynamic.get(  # type: ignore[no-untyped-call]
                resource, name=name, namespace=namespace
            ).to_dict()
            return found
        except (NotFoundError, ResourceNotFoundError):
            return None

    def list_labelled(
        self, api_version: str, kind: str, namespace: str | None, selector: str
    ) -> list[Object]:
        """Objects carrying ``selector``; none when the kind is not served here."""
        try:
            resource = self.resource(api_version, kind)
        except ResourceNotFoundError:
            return []
        listed = self.dynamic.get(  # type: ignore[no-untyped-call]
            resource, namespace=namespace, label_selector=selector
        )
        items: list[Object] = listed.to_dict().get("items", [])
        return items

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None) -> None:
        try:
            resource = self.resource(api_version, kind)
            self.dynamic.delete(resource, name=name, namespace=namespace)  # type: ignore[no-untyped-call]
        except (NotFoundError, ResourceNotFoundError):
            pass

    def patch_status(
        self,
        resource: CustomResource,
        name: str,
        status: Mapping[str, Any],
        *,
        resource_version: str,
    ) -> None:
        """Merge-patch the status subresource of one of our cluster-scoped objects, on the
        condition that it still has ``resource_version`` (raises StatusConflict if not)."""
        patch = {"metadata": {"resourceVersion": resource_version}, "status": dict(status)}
        try:
            self.custom.patch_cluster_custom_object_status(
                API_GROUP, API_VERSION, resource.plural, name, patch
            )
        except ApiException as exc:
            if exc.status == 409:
                raise StatusConflict(f"{resource.kind} {name}: {_reason(exc)}") from None
            if exc.status != 404:  # deleted meanwhile: nothing to report on
                raise

    def post_event(
        self, regarding: Mapping[str, Any], *, warning: bool, reason: str, message: str
    ) -> None:
        """A core/v1 Event about one of our objects (cluster-scoped: namespace default)."""
        meta = regarding["metadata"]
        namespace = meta.get("namespace") or "default"
        now = timestamp()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{meta['name']}.",
                "namespace": namespace,
                # the reconcile's trace (Jaeger), when tracing is on
                "annotations": {TRACE_ID: trace_id} if (trace_id := current_trace_id()) else {},
            },
            "involvedObject": {
                "apiVersion": regarding["apiVersion"],
                "kind": regarding["kind"],
                "name": meta["name"],
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
            },
            "type": "Warning" if warning else "Normal",
            "reason": reason,
            "message": message[:1024],
            "source": {"component": FIELD_MANAGER},
            "reportingComponent": FIELD_MANAGER,
            "reportingInstance": FIELD_MANAGER,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        # an Event is best effort; never fail a reconcile for it
        with contextlib.suppress(ApiException):
            self.core.create_namespaced_event(namespace, body)  # type: ignore[arg-type]
