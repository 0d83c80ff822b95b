"""The OTT benchmark's generator and metrics; `ottc train`/`eval` argument handling; the CLI
never pays for TensorFlow unless a model command runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from ott_runtime.cli import cli
from ott_runtime.models.evaluation.ott_benchmark import (
    ANOMALY_KINDS,
    evaluate_series,
    generate_series,
    generate_sessions,
)


def test_generated_series_hold_each_kind_after_the_warmup() -> None:
    series = generate_series(seed=1, n_series=2, days=6)
    assert len(series) == 2
    for item in series:
        assert len(item.values) == 6 * 1440
        assert sorted(a.kind for a in item.anomalies) == sorted(ANOMALY_KINDS * 2)
        assert all(a.start >= item.warmup for a in item.anomalies)
        assert (item.values >= 0).all()
    assert not np.array_equal(series[0].values, series[1].values)
    again = generate_series(seed=1, n_series=2, days=6)
    assert np.array_equal(series[0].values, again[0].values)  # seeded


def test_injected_spike_stands_out_of_the_daily_cycle() -> None:
    item = generate_series(seed=2, n_series=1, days=6)[0]
    spike = next(a for a in item.anomalies if a.kind == "spike")
    before = item.values[spike.start - 60 : spike.start]
    assert item.values[spike.start] > before.max()


def test_segment_metrics_per_kind() -> None:
    series = generate_series(seed=3, n_series=1, days=6)
    perfect = np.zeros(len(series[0].values), dtype=bool)
    for anomaly in series[0].anomalies:
        perfect[anomaly.start] = True
    rows = {m.kind: m for m in evaluate_series(series, [perfect])}
    assert rows["all"].recall == rows["all"].precision == rows["all"].accuracy == 1.0
    silent = evaluate_series(series, [np.zeros_like(perfect)])
    assert all(m.recall == 0.0 for m in silent)
    assert silent[-1].accuracy < 1.0
    noisy = perfect.copy()
    noisy[series[0].warmup + 5] = True  # one false alarm in a clean segment
    assert {m.kind: m for m in evaluate_series(series, [noisy])}["all"].fp == 1


def test_generated_sessions_are_labelled_by_kind() -> None:
    sessions, labels, kinds = generate_sessions(seed=0, n_sessions=400)
    assert len(sessions) == len(labels) == len(kinds) == 400
    assert 0.2 < labels.mean() < 0.4
    assert all((kind == "clean") == (label == 0) for kind, label in zip(kinds, labels, strict=True))


def test_train_needs_a_data_source_and_explains_from_db(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["train", "--tenant", "acme", "--registry", str(tmp_path)])
    assert result.exit_code != 0
    assert "--synthetic, --nab PATH or --from-db" in result.output
    result = runner.invoke(
        cli, ["train", "--tenant", "acme", "--from-db"], env={"OTTC_MODEL_DIR": ""}
    )
    assert result.exit_code != 0
    assert "no model registry" in result.output


def test_eval_refuses_a_folder_that_is_not_a_nab_corpus(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["eval", "--nab", str(tmp_path), "--out", str(tmp_path / "e.json")]
    )
    assert result.exit_code != 0
    assert "combined_windows.json" in result.output


def test_cli_help_does_not_import_tensorflow() -> None:
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom ott_runtime.cli import cli\n"
        "for args in (['--help'], ['train', '--help'], ['eval', '--help']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0, args\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
