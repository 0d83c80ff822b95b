"""The sync loop: list + watch the pool namespace's tenant ConfigMaps and Secrets and keep
the folders of :class:`PoolFolders` equal to them.

Each kind is listed (full resync: write every object, remove folders whose object is gone)
and then watched from the list's resourceVersion; a watch that ends (server timeout,
``resync_seconds``) or expires (410 Gone) starts over with a list, so a missed event is
repaired at the next resync at the latest.

Webhook signing secrets (``spec.notifications.webhooks[].secretRef``): a SecretKeyRef names
no namespace and ComplianceTenants are cluster-scoped; the pool's pods can only read Secrets
of their own namespace, so a pooled tenant's signing Secret lives in the pool namespace,
beside the tenant's other objects (a dedicated tenant's lives in ``ottc-<tenant>``). They are
copied to ``<webhooks>/<secret>/<key>`` after every change of a tenant's config and at every
resync (not watched: they carry no label of ours), read with ``list`` and a name field
selector, so the pool's Role needs list and watch only. Secrets the operator manages (keyrings,
API keys) are never copied as signing secrets.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from ott_runtime.domain.contract import FIELD_MANAGER, MANAGED_BY, TENANT_LABEL, managed_selector
from ott_runtime.poolsync.files import InvalidObject, Part, PoolFolders, classify, object_part

log = logging.getLogger(__name__)
GONE = 410


class PoolSync:
    def __init__(
        self,
        api: client.CoreV1Api,
        namespace: str,
        folders: PoolFolders,
        *,
        resync_seconds: int = 300,
    ) -> None:
        self.api, self.namespace, self.folders = api, namespace, folders
        self.resync_seconds = resync_seconds
        self._lock = threading.Lock()  # one writer at a time across the two watches

    def _lister(self, kind: str) -> Callable[..., Any]:
        if kind == "ConfigMap":
            return self.api.list_namespaced_config_map
        return self.api.list_namespaced_secret

    def _parts(self, kind: str) -> tuple[Part, ...]:
        return (Part.CONFIG,) if kind == "ConfigMap" else (Part.KEYS, Part.API_KEY)

    def apply(self, kind: str, event_type: str, obj: Any) -> bool:
        """One watch event (ADDED, MODIFIED, DELETED); True if a folder changed."""
        meta = obj.metadata
        object_labels = meta.labels or {}
        tenant = object_labels.get(TENANT_LABEL, "")
        with self._lock:
            if event_type == "DELETED":
                part = object_part(kind, meta.name, tenant)
                if part is None or not tenant:
                    return False
                changed = self.folders.remove(part, tenant)
            else:
                try:
                    item = classify(kind, meta.name, object_labels, obj.data)
                except InvalidObject as error:
                    log.error("skipped: %s", error)
                    return False
                if item is None:
                    return False
                changed = self.folders.write(item)
                part = item.part
            if changed:
                log.info("%s %s/%s of tenant %s", event_type.lower(), kind, meta.name, tenant)
            if changed and part is Part.CONFIG:
                self.sync_webhooks()
            return changed

    def resync(self, kind: str) -> str:
        """Lists ``kind``, writes every tenant object, removes folders whose object went;
        returns the list's resourceVersion to watch from."""
        listing = self._lister(kind)(self.namespace, label_selector=managed_selector())
        present: dict[Part, set[str]] = {part: set() for part in self._parts(kind)}
        for obj in listing.items:
            self.apply(kind, "ADDED", obj)
            tenant = (obj.metadata.labels or {}).get(TENANT_LABEL, "")
            part = object_part(kind, obj.metadata.name, tenant)
            if part is not None:
                present[part].add(tenant)
        with self._lock:
            for part, tenants in present.items():
                for gone in self.folders.prune(part, tenants):
                    log.info("removed %s of tenant %s (object gone)", part.value, gone)
            self.sync_webhooks()
        return str(listing.metadata.resource_version)

    def sync_webhooks(self) -> None:
        """Copies every signing secret a served tenant refers to; drops the others."""
        wanted: set[tuple[str, str]] = set()
        for tenant in self.folders.tenants(Part.CONFIG):
            wanted |= self.folders.webhook_refs(tenant)
        copied: set[tuple[str, str]] = set()
        for name in sorted({name for name, _ in wanted}):
            try:
                found = self.api.list_namespaced_secret(
                    self.namespace, field_selector=f"metadata.name={name}"
                ).items
            except ApiException as error:
                log.error("webhook secret %s not read: %s", name, error.reason)
                continue
            if not found:
                log.warning("webhook secret %s not found in %s", name, self.namespace)
                continue
            secret: Any = found[0]
            if (secret.metadata.labels or {}).get(MANAGED_BY) == FIELD_MANAGER:
                log.error("refused: %s is the operator's Secret, not a signing secret", name)
                continue
            for secret_name, key in wanted:
                raw = (secret.data or {}).get(key) if secret_name == name else None
                if raw is None:
                    continue
                try:
                    self.folders.write_webhook_secret(name, key, decode_secret_value(raw))
                    copied.add((name, key))
                except InvalidObject as error:
                    log.error("webhook secret %s/%s: %s", name, key, error)
        self.folders.prune_webhooks(copied)

    def watch_kind(self, kind: str, stop: threading.Event) -> None:
        """List, then watch, again and again until ``stop`` is set."""
        while not stop.is_set():
            try:
                version = self.resync(kind)
                stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                    self._lister(kind),
                    self.namespace,
                    label_selector=managed_selector(),
                    resource_version=version,
                    timeout_seconds=self.resync_seconds,
                )
                for event in stream:
                    if stop.is_set():
                        return
                    if event["type"] == "ERROR":  # 410 Gone: our version expired, list again
                        break
                    self.apply(kind, event["type"], event["object"])
            except ApiException as error:
                if error.status != GONE:
                    log.error("%s watch failed (%s); listing again shortly", kind, error.reason)
                    stop.wait(2.0)
            except Exception:  # network blips: keep the last good folders, retry
                log.exception("%s sync failed; retrying", kind)
                stop.wait(2.0)

    def run(self, stop: threading.Event) -> list[threading.Thread]:
        threads = [
            threading.Thread(
                target=self.watch_kind, args=(kind, stop), name=f"pool-sync-{kind}", daemon=True
            )
            for kind in ("ConfigMap", "Secret")
        ]
        for thread in threads:
            thread.start()
        return threads


def kube_api(kubeconfig: Path | None = None) -> client.CoreV1Api:
    """The in-cluster ServiceAccount, else ``kubeconfig`` or $KUBECONFIG."""
    if kubeconfig is not None:
        config.load_kube_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    else:
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except config.ConfigException:
            config.load_kube_config()  # type: ignore[no-untyped-call]
    return client.CoreV1Api()


def folders_from_env(env: Mapping[str, str]) -> PoolFolders:
    """The folders `ottc serve` reads, from the same environment variables."""
    return PoolFolders(
        Path(env.get("OTTC_CONFIG_DIR") or "/var/run/ottc/config"),
        Path(env.get("OTTC_KEYS_DIR") or "/var/run/ottc/keys"),
        Path(env.get("OTTC_API_KEYS_DIR") or "/var/run/ottc/api-keys"),
        Path(env.get("OTTC_WEBHOOK_SECRETS_DIR") or "/var/run/ottc/webhooks"),
    )


def start_in_process(env: Mapping[str, str]) -> threading.Event:
    """`ottc serve` in the pool (``OTTC_POOL_NAMESPACE`` set): one full list first, so the
    tenants are on disk before the service reads them, then the watches in daemon threads.
    Returns the event that stops them."""
    folders = folders_from_env(env)
    sync = PoolSync(
        kube_api(),
        env["OTTC_POOL_NAMESPACE"],
        folders,
        resync_seconds=int(env.get("OTTC_POOL_RESYNC_SECONDS") or 300),
    )
    for kind in ("ConfigMap", "Secret"):
        sync.resync(kind)
    stop = threading.Event()
    sync.run(stop)
    return stop


def decode_secret_value(raw: str) -> bytes:
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidObject("value is not base64") from None
