"""Pool sync's file writing: what each operator object becomes on disk, atomic and quiet
rewrites, removal, malformed objects, webhook secrets."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from ott_runtime.domain.contract import FIELD_MANAGER, MANAGED_BY, TENANT_LABEL
from ott_runtime.poolsync.files import InvalidObject, Part, PoolFolders, classify

MANAGED = {MANAGED_BY: FIELD_MANAGER, TENANT_LABEL: "acme"}


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _folders(tmp_path: Path) -> PoolFolders:
    return PoolFolders(
        tmp_path / "config", tmp_path / "keys", tmp_path / "api-keys", tmp_path / "webhooks"
    )


def _config(tenant: str = "acme", webhooks: list[dict[str, Any]] | None = None) -> dict[str, str]:
    settings = {"tenant": tenant, "notifications": {"webhooks": webhooks or []}}
    return {"rules.json": '{"regulations": []}', "tenant.json": json.dumps(settings)}


def test_classify_each_object() -> None:
    config = classify("ConfigMap", "acme-config", MANAGED, _config())
    assert config is not None
    assert config.part is Part.CONFIG
    assert config.tenant == "acme"
    assert config.files["rules.json"] == b'{"regulations": []}'
    keys = classify("Secret", "acme-keys", MANAGED, {"keyring.json": _b64(b"{ring}")})
    assert keys is not None
    assert keys.part is Part.KEYS
    assert keys.files == {"keyring.json": b"{ring}"}
    api = classify("Secret", "acme-api-key", MANAGED, {"key": _b64(b"ottc_x")})
    assert api is not None
    assert api.part is Part.API_KEY
    assert api.files == {"key": b"ottc_x"}


@pytest.mark.parametrize(
    ("kind", "name", "object_labels"),
    [
        ("ConfigMap", "acme-config", {TENANT_LABEL: "acme"}),  # not the operator's
        ("ConfigMap", "other-config", MANAGED),  # another tenant's name
        ("Secret", "acme-config", MANAGED),  # a Secret named like the ConfigMap
        ("ConfigMap", "acme-keys", MANAGED),  # a ConfigMap named like the keyring
        ("Secret", "acme-db", MANAGED),
    ],
)
def test_classify_ignores_other_objects(
    kind: str, name: str, object_labels: dict[str, str]
) -> None:
    assert classify(kind, name, object_labels, {"keyring.json": _b64(b"x")}) is None


def test_classify_refuses_malformed_objects() -> None:
    with pytest.raises(InvalidObject, match=r"missing tenant\.json"):
        classify("ConfigMap", "acme-config", MANAGED, {"rules.json": "{}"})
    with pytest.raises(InvalidObject, match="not base64"):
        classify("Secret", "acme-keys", MANAGED, {"keyring.json": "***"})
    bad = {MANAGED_BY: FIELD_MANAGER, TENANT_LABEL: "../etc"}
    with pytest.raises(InvalidObject, match="not a valid name"):
        classify("ConfigMap", "../etc-config", bad, _config())


def test_write_is_atomic_quiet_and_removable(tmp_path: Path) -> None:
    folders = _folders(tmp_path)
    item = classify("ConfigMap", "acme-config", MANAGED, _config())
    assert item is not None
    assert folders.write(item) is True
    tenant_json = tmp_path / "config" / "acme" / "tenant.json"
    before = tenant_json.stat()
    assert folders.write(item) is False  # same content: not rewritten, mtime and inode kept
    assert (tenant_json.stat().st_ino, tenant_json.stat().st_mtime_ns) == (
        before.st_ino,
        before.st_mtime_ns,
    )
    changed = classify(
        "ConfigMap", "acme-config", MANAGED, _config(webhooks=[]) | {"rules.json": "[]"}
    )
    assert changed is not None
    assert folders.write(changed) is True
    assert (tmp_path / "config" / "acme" / "rules.json").read_text() == "[]"
    assert tenant_json.stat().st_ino == before.st_ino  # only the changed file was replaced
    assert sorted(p.name for p in (tmp_path / "config" / "acme").iterdir()) == [
        "rules.json",
        "tenant.json",
    ]  # no temporary files left behind
    assert oct((tmp_path / "config" / "acme" / "rules.json").stat().st_mode & 0o777) == "0o600"
    assert folders.tenants(Part.CONFIG) == {"acme"}
    assert folders.remove(Part.CONFIG, "acme") is True
    assert not (tmp_path / "config" / "acme").exists()
    assert list((tmp_path / "config").iterdir()) == []
    assert folders.remove(Part.CONFIG, "acme") is False


def test_prune_removes_only_tenants_whose_objects_went(tmp_path: Path) -> None:
    folders = _folders(tmp_path)
    for tenant in ("acme", "beta"):
        ring = classify(
            "Secret",
            f"{tenant}-keys",
            MANAGED | {TENANT_LABEL: tenant},
            {"keyring.json": _b64(tenant.encode())},
        )
        assert ring is not None
        folders.write(ring)
    assert folders.prune(Part.KEYS, {"beta"}) == {"acme"}
    assert folders.tenants(Part.KEYS) == {"beta"}
    assert (tmp_path / "keys" / "beta" / "keyring.json").read_bytes() == b"beta"


def test_webhook_refs_and_secrets(tmp_path: Path) -> None:
    folders = _folders(tmp_path)
    hooks: list[dict[str, Any]] = [
        {"url": "https://h.example/a", "secretRef": {"name": "acme-hook", "key": "hmac"}},
        {"url": "https://h.example/b", "secretRef": {"name": "../escape", "key": "hmac"}},
    ]
    item = classify("ConfigMap", "acme-config", MANAGED, _config(webhooks=hooks))
    assert item is not None
    folders.write(item)
    assert folders.webhook_refs("acme") == {("acme-hook", "hmac")}  # the unsafe one is dropped
    assert folders.webhook_refs("nobody") == set()
    folders.write_webhook_secret("acme-hook", "hmac", b"s3cret")
    folders.write_webhook_secret("old-hook", "hmac", b"old")
    assert (tmp_path / "webhooks" / "acme-hook" / "hmac").read_bytes() == b"s3cret"
    folders.prune_webhooks({("acme-hook", "hmac")})
    assert not (tmp_path / "webhooks" / "old-hook").exists()
    assert (tmp_path / "webhooks" / "acme-hook" / "hmac").exists()
    with pytest.raises(InvalidObject):
        folders.write_webhook_secret("acme-hook", "../key", b"x")
