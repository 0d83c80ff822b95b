"""Service, HPA, PodDisruptionBudget and the model-retrain CronJob."""

from __future__ import annotations

from collections.abc import Callable

from ott_operator.builders.context import TenantContext
from ott_operator.builders.cronjob import model_retrain_cronjob
from ott_operator.builders.hpa import horizontal_pod_autoscaler
from ott_operator.builders.pdb import pod_disruption_budget
from ott_operator.builders.service import service
from ott_operator.settings import OperatorSettings

ContextFactory = Callable[..., TenantContext]
EXTERNAL = {"mode": "external", "databaseSecretRef": {"name": "acme-db", "key": "url"}}
SELECTOR = {
    "app.kubernetes.io/name": "ottc",
    "app.kubernetes.io/component": "scoring",
    "compliance.ott.dev/tenant": "acme",
}


def test_service_selects_the_scoring_pods(make_context: ContextFactory) -> None:
    svc = service(make_context())
    assert svc["metadata"]["name"] == "scoring"
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["selector"] == SELECTOR
    assert svc["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]


def test_hpa_takes_bounds_and_target_from_the_spec(make_context: ContextFactory) -> None:
    ctx = make_context(
        storage=EXTERNAL, scoring={"replicas": {"min": 2, "max": 7}, "targetCPUUtilization": 55}
    )
    hpa = horizontal_pod_autoscaler(ctx)
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "scoring",
    }
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 7)
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 55},
            },
        }
    ]


def test_hpa_bounds_default_to_the_plan(make_context: ContextFactory) -> None:
    plan = OperatorSettings().plans["enterprise"]
    spec = horizontal_pod_autoscaler(make_context(storage=EXTERNAL, plan="enterprise"))["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (plan.replicas_min, plan.replicas_max)


def test_pdb_lets_one_pod_go_at_a_time(make_context: ContextFactory) -> None:
    pdb = pod_disruption_budget(make_context())
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": SELECTOR}}


def test_retrain_cronjob_runs_ottc_train_on_the_tenant_schedule(
    make_context: ContextFactory,
) -> None:
    cron = model_retrain_cronjob(make_context(scoring={"retrainSchedule": "30 2 * * 1"}))
    assert (cron["apiVersion"], cron["kind"]) == ("batch/v1", "CronJob")
    assert cron["metadata"]["name"] == "model-retrain"
    spec = cron["spec"]
    assert spec["schedule"] == "30 2 * * 1"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["suspend"] is False
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["train", "--tenant", "acme", "--from-db"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["restartPolicy"] == "OnFailure"
    assert "DATABASE_URL" in {e["name"] for e in container["env"]}


def test_retrain_is_suspended_with_the_tenant_or_without_models(
    make_context: ContextFactory,
) -> None:
    assert model_retrain_cronjob(make_context(suspended=True))["spec"]["suspend"] is True
    no_models = {"models": {"lstm": False, "transformer": False}}
    assert model_retrain_cronjob(make_context(scoring=no_models))["spec"]["suspend"] is True


def test_retrain_and_scoring_share_the_model_registry_on_the_data_volume(
    make_context: ContextFactory,
) -> None:
    from ott_operator.builders.deployment import deployment

    embedded = make_context()
    cron = model_retrain_cronjob(embedded)
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["OTTC_MODEL_DIR"] == "/var/lib/ottc/models"
    assert {"OTTC_CONFIG_DIR", "OTTC_KEYS_DIR", "DATABASE_URL"} <= set(env)
    assert any(m["mountPath"] == "/var/lib/ottc" for m in container["volumeMounts"])
    (scoring,) = deployment(embedded)["spec"]["template"]["spec"]["containers"]
    assert {"name": "OTTC_MODEL_DIR", "value": "/var/lib/ottc/models"} in scoring["env"]
    # no shared folder without the data volume: nothing to retrain into
    external = model_retrain_cronjob(make_context(storage=EXTERNAL))
    assert external["spec"]["suspend"] is True
    (container,) = external["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert "OTTC_MODEL_DIR" not in {e["name"] for e in container["env"]}
