"""The example tenants, provisioned by the real operator: status and every owned object."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from ott_runtime.domain.keyring import KeyRing

MANAGER = "ott-compliance-operator"


def _owned_by(obj: dict[str, Any], tenant: dict[str, Any]) -> None:
    meta = obj["metadata"]
    assert meta["labels"]["app.kubernetes.io/managed-by"] == MANAGER, meta["name"]
    assert meta["labels"]["compliance.ott.dev/tenant"] == tenant["metadata"]["name"]
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "compliance.ott.dev/v1alpha1",
            "kind": "ComplianceTenant",
            "name": tenant["metadata"]["name"],
            "uid": tenant["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ], meta["name"]
    managers = {m["manager"] for m in meta["managedFields"] if m["operation"] == "Apply"}
    assert managers == {MANAGER}, meta["name"]


def test_example_tenants_settle_with_honest_status(
    cluster: Any, example_tenants: list[str]
) -> None:
    for name in example_tenants:
        tenant = cluster.tenant(name)
        status = tenant["status"]
        assert status["phase"] == "Provisioning", name  # no kubelet: never Ready here
        assert status["observedGeneration"] == tenant["metadata"]["generation"]
        conditions = {c["type"]: c for c in status["conditions"]}
        assert conditions["Ready"]["status"] == "False"
        assert "ScoringAvailable" in conditions["Ready"]["message"]
        assert "waiting for pods" in conditions["ScoringAvailable"]["message"]
        assert conditions["GatewayReady"]["reason"] == "WaitingForGateway"
        for condition in conditions.values():
            assert condition["observedGeneration"] == tenant["metadata"]["generation"]
            assert condition["lastTransitionTime"].endswith("Z")
        assert status["keys"]["activeVersion"] == 1
        assert status["keys"]["versions"] == [
            {"version": 1, "state": "primary", "created": status["keys"]["lastRotation"]}
        ]
        assert status["regulations"], name


def test_dedicated_managed_tenant_objects(cluster: Any, example_tenants: list[str]) -> None:
    tenant = cluster.tenant("acme-stream")
    ns = "ottc-acme-stream"
    assert tenant["status"]["namespace"] == ns
    assert tenant["status"]["endpoint"] == "https://api.acme-stream.example/tenants/acme-stream"
    assert tenant["status"]["apiKeySecret"] == f"{ns}/tenant-api-key"
    assert [r["name"] for r in tenant["status"]["regulations"]] == [
        "gdpr",
        "eu-avmsd",
        "india-it-rules-2021",
        "geo-licensing",
        "custom",
    ]

    namespace = cluster.get("namespace", ns)
    _owned_by(namespace, tenant)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert "istio-injection" not in namespace["metadata"]["labels"]

    quota = cluster.get("resourcequota", "tenant-quota", ns)
    _owned_by(quota, tenant)
    assert quota["spec"]["hard"]["pods"] == "100"  # enterprise
    assert quota["spec"]["hard"]["requests.cpu"] == "16"
    _owned_by(cluster.get("limitrange", "tenant-limits", ns), tenant)

    policy = cluster.get("networkpolicy", "tenant-ingress", ns)
    _owned_by(policy, tenant)
    peers = policy["spec"]["ingress"][0]["from"]
    assert {"podSelector": {}} in peers
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kong"}}} in peers

    account = cluster.get("serviceaccount", "scoring", ns)
    _owned_by(account, tenant)
    assert account["automountServiceAccountToken"] is False

    config = cluster.get("configmap", "tenant-config", ns)
    _owned_by(config, tenant)
    rules = json.loads(config["data"]["rules.json"])
    by_name = {r["name"]: r for r in rules["regulations"]}
    assert by_name["eu-avmsd"]["parameters"]["adSecondsPerHourMax"] == 600  # tenant override
    assert "childrens-programme-interrupted" not in {r["id"] for r in by_name["eu-avmsd"]["rules"]}
    assert [r["id"] for r in by_name["custom"]["rules"]] == ["preroll-too-long"]
    runtime = json.loads(config["data"]["tenant.json"])
    assert runtime["encryption"]["fields"] == [
        "viewer.id",
        "viewer.email",
        "device.ip",
        "viewer.accountId",
    ]

    keys = cluster.get("secret", "tenant-keys", ns)
    _owned_by(keys, tenant)
    ring = KeyRing.from_secret_data(keys["data"])
    assert (ring.tenant, ring.primary_version, len(ring.keys)) == ("acme-stream", 1, 1)

    api_key = cluster.get("secret", "tenant-api-key", ns)
    _owned_by(api_key, tenant)
    assert api_key["metadata"]["labels"]["konghq.com/credential"] == "key-auth"
    assert base64.b64decode(api_key["data"]["key"]).decode().startswith("ottc_")

    deployment = cluster.get("deployment", "scoring", ns)
    _owned_by(deployment, tenant)
    template = deployment["spec"]["template"]
    digest = hashlib.sha256(
        json.dumps(config["data"], sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert template["metadata"]["annotations"]["compliance.ott.dev/config-digest"] == digest
    (container,) = template["spec"]["containers"]
    assert container["image"] == "example.invalid/ottc:e2e"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}
    env = {e["name"]: e for e in container["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "tenant-db-app",
        "key": "uri",
    }
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"

    service = cluster.get("service", "scoring", ns)
    _owned_by(service, tenant)
    assert service["spec"]["ports"][0]["port"] == 80

    hpa = cluster.get("hpa", "scoring", ns)
    _owned_by(hpa, tenant)
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    _owned_by(cluster.get("pdb", "scoring", ns), tenant)

    cron = cluster.get("cronjob", "model-retrain", ns)
    _owned_by(cron, tenant)
    assert cron["spec"]["schedule"] == "0 3 * * 0"
    job = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert job["args"] == ["train", "--tenant", "acme-stream", "--from-db"]

    database = cluster.get("clusters.postgresql.cnpg.io", "tenant-db", ns)
    _owned_by(database, tenant)
    assert database["spec"]["instances"] == 3
    assert database["spec"]["storage"]["size"] == "50Gi"

    consumer = cluster.get("kongconsumer", "ottc-acme-stream", ns)
    _owned_by(consumer, tenant)
    assert consumer["credentials"] == ["tenant-api-key"]
    limit = cluster.get("kongplugin", "ottc-acme-stream-rate-limit", ns)
    _owned_by(limit, tenant)
    assert (limit["config"]["second"], limit["config"]["minute"]) == (200, 10000)
    assert cluster.get("kongplugin", "ottc-acme-stream-key-auth", ns)["plugin"] == "key-auth"

    ingress = cluster.get("ingress", "ottc-acme-stream", ns)
    _owned_by(ingress, tenant)
    assert ingress["spec"]["ingressClassName"] == "kong"
    assert ingress["metadata"]["annotations"]["konghq.com/strip-path"] == "true"
    assert ingress["metadata"]["annotations"]["konghq.com/plugins"] == (
        "ottc-acme-stream-key-auth,ottc-acme-stream-rate-limit"
    )
    assert ingress["spec"]["rules"][0]["host"] == "api.acme-stream.example"


def test_dedicated_embedded_tenant_has_one_replica_on_a_volume(
    cluster: Any, example_tenants: list[str]
) -> None:
    tenant = cluster.tenant("tinytoons")
    ns = "ottc-tinytoons"
    claim = cluster.get("pvc", "tenant-data", ns)
    _owned_by(claim, tenant)
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    deployment = cluster.get("deployment", "scoring", ns)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert cluster.get("hpa", "scoring", ns) is None
    assert cluster.get("clusters.postgresql.cnpg.io", "tenant-db", ns) is None


def test_pooled_tenants_live_in_the_pool(cluster: Any, example_tenants: list[str]) -> None:
    for name in ("indie-films", "desi-play"):
        tenant = cluster.tenant(name)
        assert tenant["status"]["namespace"] == "ottc-pool"
        assert cluster.get("namespace", f"ottc-{name}") is None
        for kind, object_name in (
            ("configmap", f"{name}-config"),
            ("secret", f"{name}-keys"),
            ("secret", f"{name}-api-key"),
            ("kongconsumer", f"ottc-{name}"),
            ("kongplugin", f"ottc-{name}-key-auth"),
            ("kongplugin", f"ottc-{name}-rate-limit"),
            ("ingress", f"ottc-{name}"),
        ):
            _owned_by(cluster.get(kind, object_name, "ottc-pool"), tenant)
        ingress = cluster.get("ingress", f"ottc-{name}", "ottc-pool")
        backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]
        assert backend == {"service": {"name": "ottc-pool", "port": {"number": 80}}}
    limit = cluster.get("kongplugin", "ottc-desi-play-rate-limit", "ottc-pool")
    assert (limit["config"]["second"], limit["config"]["minute"]) == (20, 1000)


def test_regulation_sets_report_compilation_and_users(
    cluster: Any, example_tenants: list[str]
) -> None:
    gdpr = cluster.get("regulationset", "gdpr")
    status = gdpr["status"]
    assert status["ruleCount"] == len(gdpr["spec"]["rules"])
    assert status["conditions"][0]["type"] == "Compiled"
    assert status["conditions"][0]["status"] == "True"
    # other tests add users of their own; the example users are always there
    assert {"acme-stream", "indie-films"} <= set(status["usedBy"])
    assert status["usedBy"] == sorted(status["usedBy"])
