"""`ottc bench` runs tests/bench/bench_*.py scripts; BenchReport prints and writes JSON."""

from __future__ import annotations

import json
import random
import statistics
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from ott_runtime.benchreport import BenchReport, median_interval, percentile
from ott_runtime.cli import cli

GOOD_BENCH = textwrap.dedent(
    """
    from ott_runtime.benchreport import BenchReport
    report = BenchReport("toy", "Toy benchmark", ["case", "ratio"])
    report.add(case="fast", ratio=1.0)
    report.add(case="slow", ratio=2.5)
    report.emit()
    """
)


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bench_dir = tmp_path / "tests" / "bench"
    bench_dir.mkdir(parents=True)
    (bench_dir / "bench_toy.py").write_text(GOOD_BENCH)
    (bench_dir / "bench_broken.py").write_text("raise SystemExit(3)\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_list_shows_every_benchmark(checkout: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "--list"])
    assert result.exit_code == 0
    assert "toy" in result.output
    assert "broken" in result.output


def test_runs_a_benchmark_and_writes_json(checkout: Path) -> None:
    out = checkout / "results"
    result = CliRunner().invoke(cli, ["bench", "toy", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "toy.json").read_text())
    assert data["benchmark"] == "toy"
    assert [row["case"] for row in data["rows"]] == ["fast", "slow"]


def test_failing_benchmark_fails_the_command(checkout: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "broken", "--out", str(checkout / "r")])
    assert result.exit_code != 0
    assert "failed: broken" in result.output


def test_unknown_benchmark_is_named(checkout: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", "nope"])
    assert result.exit_code == 2
    assert "unknown benchmark nope" in result.output


def test_report_rejects_unknown_columns() -> None:
    report = BenchReport("x", "X", ["a"])
    with pytest.raises(ValueError, match="unknown columns"):
        report.add(b=1)


def test_percentile_nearest_rank() -> None:
    sample = [float(v) for v in range(1, 101)]
    assert percentile(sample, 50) == 50.0
    assert percentile(sample, 99) == 99.0
    assert percentile(sample, 100) == 100.0
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)


def test_median_interval_holds_the_median_and_narrows_with_more_rounds() -> None:
    spread = random.Random(7)
    few = [1.08 + spread.gauss(0, 0.1) for _ in range(10)]
    many = [1.08 + spread.gauss(0, 0.1) for _ in range(400)]
    low, high = median_interval(few)
    assert low <= statistics.median(few) <= high
    many_low, many_high = median_interval(many)
    assert many_low <= 1.08 <= many_high
    assert many_high - many_low < (high - low) / 2
    assert median_interval([1.0, 1.0, 1.0]) == (1.0, 1.0)
    with pytest.raises(ValueError, match="empty"):
        median_interval([])
