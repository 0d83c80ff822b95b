"""`ottc backtest`: a tenant's stored (encrypted) events replayed through a proposed set
beside the rules in force, per-rule counts and the violations added and removed, with
nothing written."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import orjson
import yaml
from click.testing import CliRunner

from ott_runtime.cli.backtest import backtest
from ott_runtime.config import standalone_config
from ott_runtime.service import RuntimeService
from ott_runtime.storage import TenantScope, ViolationQuery

SET: dict[str, Any] = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "RegulationSet",
    "metadata": {"name": "ads"},
    "spec": {
        "jurisdiction": "EU",
        "version": "1",
        "parameters": {"maxSeconds": 60},
        "rules": [
            {"id": "too-long", "severity": "medium", "appliesTo": ["ad.impression"],
             "when": "event.ad.durationSeconds > params.maxSeconds", "message": "long",
             "reference": "r"},
            {"id": "kids", "severity": "high", "appliesTo": ["ad.impression"],
             "when": "has(event.viewer.isKidsProfile) && event.viewer.isKidsProfile",
             "message": "kids", "reference": "r"},
        ],
    },
}  # fmt: skip
TENANT = {
    "apiVersion": "compliance.ott.dev/v1alpha1",
    "kind": "ComplianceTenant",
    "metadata": {"name": "replayed"},
    "spec": {
        "displayName": "Replayed",
        "regulations": [{"name": "ads"}],
        "encryption": {"fields": ["viewer.id"]},
    },
}


def ad(index: int, seconds: int, kids: bool = False) -> dict[str, Any]:
    return {"specVersion": "1", "id": f"ad-{index}", "type": "ad.impression",
            "time": f"2026-12-01T10:{index:02d}:00Z", "ad": {"durationSeconds": seconds},
            "viewer": {"id": f"viewer-{index}", "isKidsProfile": kids}}  # fmt: skip


async def test_a_proposal_is_compared_with_the_rules_in_force(tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "all.yaml").write_text(yaml.safe_dump_all([SET, TENANT]))
    state = tmp_path / "state"
    config = standalone_config([config_dir], state)
    service = RuntimeService(config.database_url, config.runtimes, config.keys)
    await service.start()
    events = [ad(1, 30), ad(2, 90), ad(3, 45), ad(4, 120, kids=True), ad(5, 50)]
    await service.pipeline.ingest_body(TenantScope("replayed"), orjson.dumps({"events": events}))
    async with service.store.read(TenantScope("replayed")) as data:
        violations_before = len(await data.violations.find(ViolationQuery(limit=100)))
    await service.stop()

    proposal = copy.deepcopy(SET)  # a stricter limit, and the kids rule dropped
    proposal["spec"]["parameters"]["maxSeconds"] = 40
    proposal["spec"]["rules"] = proposal["spec"]["rules"][:1]
    proposed = tmp_path / "proposed.yaml"
    proposed.write_text(yaml.safe_dump(proposal))
    report_path = tmp_path / "report.json"
    # the command runs its own event loop: off this test's
    result = await asyncio.to_thread(CliRunner().invoke, backtest, [
        "--config", str(config_dir), "--proposed", str(proposed), "--tenant", "replayed",
        "--state-dir", str(state), "--json", str(report_path),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert report["events"] == 5
    assert report["unreadable"] == 0  # viewer.id was stored encrypted and opened
    rules = {rule["rule"]: rule for rule in report["rules"]}
    assert (rules["ads/too-long"]["now"], rules["ads/too-long"]["proposed"]) == (2, 4)
    assert rules["ads/too-long"]["addedSamples"] == ["ad-3", "ad-5"]
    assert (rules["ads/kids"]["now"], rules["ads/kids"]["proposed"]) == (1, 0)
    assert rules["ads/kids"]["removedSamples"] == ["ad-4"]
    assert "ads/too-long" in result.output

    service = RuntimeService(config.database_url, config.runtimes, config.keys)
    await service.start()
    async with service.store.read(TenantScope("replayed")) as data:  # nothing was written
        assert len(await data.violations.find(ViolationQuery(limit=100))) == violations_before
    await service.stop()


def test_a_proposal_that_does_not_compile_is_refused(tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "all.yaml").write_text(yaml.safe_dump_all([SET, TENANT]))
    broken = copy.deepcopy(SET)
    broken["spec"]["rules"][0]["when"] = "event.ad.durationSecs > 1"
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken))
    result = CliRunner().invoke(backtest, [
        "--config", str(config_dir), "--proposed", str(tmp_path / "broken.yaml"),
        "--tenant", "replayed", "--state-dir", str(tmp_path / "state"),
    ])  # fmt: skip
    assert result.exit_code == 1
    assert "the proposed rules do not compile" in result.output
    assert "unknown event field 'ad.durationSecs'" in result.output
