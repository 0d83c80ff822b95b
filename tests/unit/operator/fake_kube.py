"""A small stand-in for the API server, as far as the operator's ``KubeAPI`` reaches.

Objects live in a dict keyed by (apiVersion, kind, namespace, name). Every write bumps the
object's ``resourceVersion``; a status patch that carries another one is refused with
``StatusConflict``, as the API server answers 409. Apply keeps the live status (server-side
apply of the spec never touches it); ``report_status`` plays the cluster's own controllers
(the Deployment controller, the ingress controller) writing theirs. Events are recorded.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ott_operator.kube import CustomResource, Object, StatusConflict
from ott_runtime.domain.merge_patch import merge_patch

Key = tuple[str, str, str, str]


@dataclass(frozen=True)
class PostedEvent:
    regarding: str
    warning: bool
    reason: str
    message: str


@dataclass(frozen=True)
class StatusPatch:
    plural: str
    name: str
    resource_version: str
    status: dict[str, Any]


def _key(api_version: str, kind: str, name: str, namespace: str | None) -> Key:
    return (api_version, kind, namespace or "", name)


def _matches(labels: Mapping[str, str], selector: str) -> bool:
    for term in selector.split(","):
        key, _, value = term.partition("=")
        if key not in labels or (value and labels[key] != value):
            return False
    return True


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[Key, Object] = {}
        self.events: list[PostedEvent] = []
        self.status_patches: list[StatusPatch] = []
        # called once, at the next status patch, before it is checked: another writer
        # getting in between the read and the write
        self.before_status_patch: Callable[[], None] | None = None
        self._version = 0

    # -- test side -----------------------------------------------------------------

    def _store(self, obj: Object) -> Object:
        self._version += 1
        obj["metadata"]["resourceVersion"] = str(self._version)
        meta = obj["metadata"]
        self.objects[_key(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))] = (
            obj
        )
        return copy.deepcopy(obj)

    def create(self, obj: Mapping[str, Any]) -> Object:
        return self._store(copy.deepcopy(dict(obj)))

    def update_spec(self, api_version: str, kind: str, name: str, **spec: Any) -> None:
        """A user's edit: the spec changes and the generation goes up."""
        obj = self.objects[_key(api_version, kind, name, None)]
        obj["spec"] = {**obj.get("spec", {}), **spec}
        obj["metadata"]["generation"] = int(obj["metadata"].get("generation") or 0) + 1
        self._store(obj)

    def report_status(
        self, api_version: str, kind: str, name: str, namespace: str | None, status: Object
    ) -> None:
        obj = self.objects[_key(api_version, kind, name, namespace)]
        obj["status"] = copy.deepcopy(status)
        self._store(obj)

    def has(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        return _key(api_version, kind, name, namespace) in self.objects

    def reasons(self) -> list[str]:
        return [event.reason for event in self.events]

    # -- KubeAPI -------------------------------------------------------------------

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Object | None:
        found = self.objects.get(_key(api_version, kind, name, namespace))
        return copy.deepcopy(found) if found is not None else None

    def apply(self, obj: Object) -> Object:
        meta = obj["metadata"]
        live = self.objects.get(
            _key(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        )
        applied = copy.deepcopy(obj)
        if live is not None and "status" in live:
            applied["status"] = live["status"]
        return self._store(applied)

    def list_labelled(
        self, api_version: str, kind: str, namespace: str | None, selector: str
    ) -> list[Object]:
        return [
            copy.deepcopy(obj)
            for (version, found_kind, found_namespace, _), obj in self.objects.items()
            if (version, found_kind, found_namespace) == (api_version, kind, namespace or "")
            and _matches(obj["metadata"].get("labels") or {}, selector)
        ]

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None) -> None:
        self.objects.pop(_key(api_version, kind, name, namespace), None)

    def patch_status(
        self,
        resource: CustomResource,
        name: str,
        status: Mapping[str, Any],
        *,
        resource_version: str,
    ) -> None:
        hook, self.before_status_patch = self.before_status_patch, None
        if hook is not None:
            hook()
        self.status_patches.append(
            StatusPatch(resource.plural, name, resource_version, dict(status))
        )
        obj = self.objects.get(_key(resource.api_version, resource.kind, name, None))
        if obj is None:
            return  # gone: as Kube.patch_status, nothing to report on
        if obj["metadata"]["resourceVersion"] != resource_version:
            raise StatusConflict(f"{resource.kind} {name}: the object has been modified")
        obj["status"] = merge_patch(obj.get("status") or {}, status)
        self._store(obj)

    def post_event(
        self, regarding: Mapping[str, Any], *, warning: bool, reason: str, message: str
    ) -> None:
        about = f"{regarding['kind']} {regarding['metadata']['name']}"
        self.events.append(PostedEvent(about, warning, reason, message))
