"""A clone of the repository stands alone: nothing reads a folder beside the checkout.

The third-party CRDs live in tests/fixtures/thirdparty-crds and the NAB subset ships as
package data; both keep their upstream licences beside them.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from ott_runtime.cli.eval import eval_command
from ott_runtime.models.evaluation import nab_corpus
from ott_runtime.models.evaluation.nab_corpus import default_nab_dir, load_windows

REPO = Path(__file__).resolve().parents[3]
THIRDPARTY_CRDS = REPO / "tests" / "fixtures" / "thirdparty-crds"

# Ways a file could reach the sibling shared/ folder (or its CI checkout) at run time.
OUTSIDE_PATTERNS = {
    "../shared": re.compile(r"\.\./shared\b"),
    'parent / "shared"': re.compile(r"""\bparents?(\[\d+\])?\s*/\s*["']shared["']"""),
    "OTTC_SHARED_DIR": re.compile(r"OTTC_SHARED_DIR"),
    "the shared repository": re.compile(r"ott-compliance-shared"),
    "an absolute shared path": re.compile(r"/work/shared\b"),
}


def _tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=False, timeout=60
    )
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout ({listed.stderr.decode().strip()})")
    return [REPO / name for name in listed.stdout.decode().split("\0") if name]


def test_no_tracked_file_reads_a_folder_outside_the_checkout() -> None:
    this_file = Path(__file__).resolve()
    offenders = []
    for path in _tracked_files():
        if path.resolve() == this_file or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary: not a reader
        for number, line in enumerate(text.splitlines(), 1):
            for what, pattern in OUTSIDE_PATTERNS.items():
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {what}: {line.strip()}")
    assert not offenders, "reads outside the checkout:\n" + "\n".join(offenders)


def test_the_guard_catches_each_pattern() -> None:
    samples = [
        "kubectl apply -f ../shared/thirdparty-crds/",
        'SHARED = REPO.parent / "shared"',
        "return Path(__file__).resolve().parents[5] / 'shared'",
        'os.environ.get("OTTC_SHARED_DIR")',
        "repository: owner/ott-compliance-shared",
        "open('/work/shared/data')",
    ]
    for sample in samples:
        assert any(p.search(sample) for p in OUTSIDE_PATTERNS.values()), sample
    assert not any(p.search("the shared pool scales on its own") for p in OUTSIDE_PATTERNS.values())


def test_the_default_nab_corpus_is_inside_the_package_with_its_licence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(nab_corpus.NAB_DIR_ENV, raising=False)
    corpus = default_nab_dir()
    package = Path(nab_corpus.__file__).resolve().parent
    assert package in corpus.parents
    assert "MIT" in (corpus / "README.md").read_text()
    assert "Permission is hereby granted" in (corpus / "LICENSE.txt").read_text()
    windows = load_windows(corpus)
    assert len(windows) == 29
    assert all((corpus / "data" / name).is_file() for name in windows)
    assert len(list((corpus / "published-results" / "numenta").rglob("*.csv"))) == 29


def test_ottc_nab_dir_overrides_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(nab_corpus.NAB_DIR_ENV, str(tmp_path))
    assert default_nab_dir() == tmp_path


def test_eval_without_a_corpus_asks_for_nab_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-corpus-here"
    monkeypatch.setenv(nab_corpus.NAB_DIR_ENV, str(missing))
    result = CliRunner().invoke(eval_command, ["--out", str(tmp_path / "eval.json")])
    assert result.exit_code == 1
    assert f"no NAB corpus at {missing}: pass --nab DIR" in result.output


def test_every_thirdparty_crd_is_listed_with_its_licence() -> None:
    sources = (THIRDPARTY_CRDS / "SOURCES.md").read_text()
    manifests = sorted(p.name for p in THIRDPARTY_CRDS.glob("*.yaml"))
    assert len(manifests) >= 7
    rows = {line.split("|")[1].strip(): line for line in sources.splitlines() if ".yaml |" in line}
    assert sorted(rows) == manifests
    assert all(row.rstrip(" |").endswith("Apache-2.0") for row in rows.values())
    assert "Apache License" in (THIRDPARTY_CRDS / "LICENSE-Apache-2.0.txt").read_text()
