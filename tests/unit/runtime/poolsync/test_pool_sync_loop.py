"""PoolSync's decisions without a cluster: a full list writes and prunes, watch events
write and remove, webhook signing secrets are copied (never the operator's own Secrets).
The real API server is in tests/e2e/test_pool_sync.py."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ott_runtime.domain.contract import FIELD_MANAGER, MANAGED_BY, TENANT_LABEL, managed_selector
from ott_runtime.poolsync.files import Part, PoolFolders
from ott_runtime.poolsync.sync import PoolSync


def _obj(name: str, data: dict[str, str], tenant: str | None = None) -> SimpleNamespace:
    object_labels = {MANAGED_BY: FIELD_MANAGER, TENANT_LABEL: tenant} if tenant else {}
    return SimpleNamespace(metadata=SimpleNamespace(name=name, labels=object_labels), data=data)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class FakeCoreApi:
    """Answers the two list calls PoolSync makes, from in-memory objects."""

    def __init__(self) -> None:
        self.config_maps: list[SimpleNamespace] = []
        self.secrets: list[SimpleNamespace] = []

    def _listing(self, items: list[SimpleNamespace]) -> SimpleNamespace:
        return SimpleNamespace(items=items, metadata=SimpleNamespace(resource_version="7"))

    def list_namespaced_config_map(self, namespace: str, **kwargs: Any) -> SimpleNamespace:
        assert kwargs["label_selector"] == managed_selector()
        return self._listing(self.config_maps)

    def list_namespaced_secret(self, namespace: str, **kwargs: Any) -> SimpleNamespace:
        if "field_selector" in kwargs:
            name = kwargs["field_selector"].removeprefix("metadata.name=")
            return self._listing([s for s in self.secrets if s.metadata.name == name])
        assert kwargs["label_selector"] == managed_selector()
        return self._listing([s for s in self.secrets if s.metadata.labels])


def _config(tenant: str, hook: str | None = None) -> SimpleNamespace:
    webhooks = [{"url": "https://h.example/", "secretRef": {"name": hook, "key": "hmac"}}]
    settings = {"tenant": tenant, "notifications": {"webhooks": webhooks if hook else []}}
    return _obj(
        f"{tenant}-config", {"rules.json": "{}", "tenant.json": json.dumps(settings)}, tenant
    )


def test_list_watch_and_webhook_secrets(tmp_path: Path) -> None:
    api = FakeCoreApi()
    folders = PoolFolders(tmp_path / "c", tmp_path / "k", tmp_path / "a", tmp_path / "w")
    sync = PoolSync(api, "pool", folders)  # type: ignore[arg-type]
    api.config_maps = [_config("acme", hook="acme-hook"), _config("beta")]
    api.secrets = [
        _obj("acme-keys", {"keyring.json": _b64("ring-a")}, "acme"),
        _obj("acme-api-key", {"key": _b64("ottc_a")}, "acme"),
        _obj("acme-hook", {"hmac": _b64("signing"), "other": _b64("not needed")}),
    ]
    assert sync.resync("ConfigMap") == "7"
    sync.resync("Secret")
    assert folders.tenants(Part.CONFIG) == {"acme", "beta"}
    assert (tmp_path / "k" / "acme" / "keyring.json").read_text() == "ring-a"
    assert (tmp_path / "a" / "acme" / "key").read_text() == "ottc_a"
    assert (tmp_path / "w" / "acme-hook" / "hmac").read_text() == "signing"
    assert not (tmp_path / "w" / "acme-hook" / "other").exists()  # only the named key

    # a watch event deletes beta's config; a later full list no longer has acme's API key
    assert sync.apply("ConfigMap", "DELETED", _config("beta")) is True
    assert folders.tenants(Part.CONFIG) == {"acme"}
    api.secrets = [s for s in api.secrets if s.metadata.name != "acme-api-key"]
    sync.resync("Secret")
    assert folders.tenants(Part.API_KEY) == set()
    assert folders.tenants(Part.KEYS) == {"acme"}

    # an object without the operator's labels is ignored, a malformed one skipped
    assert sync.apply("ConfigMap", "ADDED", _obj("gamma-config", {"x": "y"})) is False
    assert sync.apply("Secret", "MODIFIED", _obj("acme-keys", {}, "acme")) is False
    assert (tmp_path / "k" / "acme" / "keyring.json").read_text() == "ring-a"


def test_the_operators_own_secrets_are_never_signing_secrets(tmp_path: Path) -> None:
    api = FakeCoreApi()
    folders = PoolFolders(tmp_path / "c", tmp_path / "k", tmp_path / "a", tmp_path / "w")
    sync = PoolSync(api, "pool", folders)  # type: ignore[arg-type]
    # beta's webhook names acme's keyring Secret: it must not be copied anywhere
    api.secrets = [_obj("acme-keys", {"hmac": _b64("ring-a")}, "acme")]
    assert sync.apply("ConfigMap", "ADDED", _config("beta", hook="acme-keys")) is True
    assert not (tmp_path / "w" / "acme-keys").exists()
    # once the webhook goes, a copied secret goes too
    api.secrets.append(_obj("hook", {"hmac": _b64("s")}))
    sync.apply("ConfigMap", "MODIFIED", _config("beta", hook="hook"))
    assert (tmp_path / "w" / "hook" / "hmac").read_text() == "s"
    sync.apply("ConfigMap", "MODIFIED", _config("beta"))
    assert not (tmp_path / "w" / "hook").exists()
