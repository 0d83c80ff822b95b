"""Who may read /metrics and whether it names tenants: settings, token check, the summed
exposition, and the `ottc serve` flags that set them."""

from __future__ import annotations

import os
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from ott_runtime.api.metrics import TENANT_LABEL_ENV, TOKEN_ENV, Metrics, MetricsExposure
from ott_runtime.cli.metrics_options import metrics_options


def _samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


def _busy(metrics: Metrics) -> Metrics:
    metrics.events.labels("acme").inc(3)
    metrics.events.labels("globex").inc(4)
    metrics.violations.labels("acme", "high").inc()
    metrics.violations.labels("globex", "high").inc(2)
    metrics.violations.labels("globex", "low").inc()
    metrics.requests.labels("GET", "/v1/events", "200").inc()
    return metrics


def test_by_default_metrics_are_open_and_per_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.delenv(TENANT_LABEL_ENV, raising=False)
    metrics = _busy(Metrics())
    assert metrics.exposure == MetricsExposure(token=None, tenant_label=True)
    assert metrics.exposure.admits(None)
    samples = _samples(metrics.exposition())
    assert samples[("ottc_events_ingested_total", (("tenant", "globex"),))] == 4


def test_without_the_tenant_label_series_are_summed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TENANT_LABEL_ENV, "false")
    text = _busy(Metrics()).exposition()
    assert b"acme" not in text
    assert b"globex" not in text
    samples = _samples(text)
    assert samples[("ottc_events_ingested_total", ())] == 7
    assert samples[("ottc_violations_total", (("severity", "high"),))] == 3
    assert samples[("ottc_violations_total", (("severity", "low"),))] == 1
    assert ("ottc_events_ingested_created", ()) in samples  # one, the earliest
    route = (("method", "GET"), ("route", "/v1/events"), ("status", "200"))
    assert samples[("ottc_http_requests_total", route)] == 1  # no tenant: as it was


def test_a_token_is_asked_as_a_bearer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "s3cret")
    exposure = Metrics().exposure
    assert exposure.admits("Bearer s3cret")
    assert exposure.admits("bearer s3cret")
    for refused in (None, "", "Bearer", "Bearer s3cre", "Basic s3cret", "Bearer s3cret2"):
        assert not exposure.admits(refused), refused


def test_a_bad_tenant_label_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TENANT_LABEL_ENV, "maybe")
    with pytest.raises(ValueError, match=TENANT_LABEL_ENV):
        Metrics()


@pytest.fixture
def metrics_env_restored() -> Iterator[None]:
    """The flags write os.environ themselves; put both variables back as they were."""
    saved = {name: os.environ.pop(name, None) for name in (TOKEN_ENV, TENANT_LABEL_ENV)}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.mark.usefixtures("metrics_env_restored")
def test_the_serve_flags_set_the_variables() -> None:
    seen: list[MetricsExposure] = []

    @click.command()
    @metrics_options
    def command() -> None:
        seen.append(Metrics().exposure)

    runner = CliRunner()
    result = runner.invoke(command, ["--metrics-token", "Tok", "--no-metrics-tenant-label"])
    assert result.exit_code == 0, result.output
    assert seen == [MetricsExposure(token="Tok", tenant_label=False)]
    for name in (TOKEN_ENV, TENANT_LABEL_ENV):
        del os.environ[name]
    assert runner.invoke(command, []).exit_code == 0
    assert seen[-1] == MetricsExposure(token=None, tenant_label=True)
