from __future__ import annotations

from pathlib import Path

import pytest

from ott_operator.settings import GatewayMode, OperatorSettings
from ott_runtime.domain.tenant import Plan


def test_defaults_cover_every_plan_and_parse_intervals() -> None:
    settings = OperatorSettings()
    assert set(settings.plans) == set(Plan)
    assert settings.gateway_mode is GatewayMode.KONG_INGRESS
    assert settings.drift_seconds == 60
    assert settings.rotation_check_seconds == 300
    enterprise = settings.plan(Plan.ENTERPRISE)
    free = settings.plan(Plan.FREE)
    assert enterprise.rate_limit.per_second > free.rate_limit.per_second
    assert enterprise.replicas_max > free.replicas_max


def test_from_file_reads_camel_case(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(
        "runtimeImage: example/ottc:1.2.3\ngatewayMode: gateway-api\nmesh: true\n"
        "driftInterval: 2s\npoolNamespace: shared\npeeringLifetime: 15s\n"
    )
    settings = OperatorSettings.from_file(path)
    assert settings.runtime_image == "example/ottc:1.2.3"
    assert settings.gateway_mode is GatewayMode.GATEWAY_API
    assert settings.mesh is True
    assert settings.drift_seconds == 2
    assert settings.pool_namespace == "shared"
    assert settings.peering_lifetime_seconds == 15


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("gatewayMode: nginx\n", "gatewayMode"),
        ("driftInterval: soon\n", "driftInterval"),
        ("noSuchSetting: 1\n", "noSuchSetting"),
        ("- a list\n", "mapping"),
    ],
)
def test_bad_settings_file_names_the_problem(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(content)
    with pytest.raises(ValueError, match=fragment) as caught:
        OperatorSettings.from_file(path)
    assert str(path) in str(caught.value)


def test_a_plan_table_missing_a_plan_is_refused() -> None:
    plans = OperatorSettings().plans
    with pytest.raises(ValueError, match="no profile for enterprise"):
        OperatorSettings(plans={p: plans[p] for p in (Plan.FREE, Plan.STANDARD)})


def test_missing_settings_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read operator settings"):
        OperatorSettings.from_file(tmp_path / "absent.yaml")
