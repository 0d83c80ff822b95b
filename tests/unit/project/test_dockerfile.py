"""The image, checked without a Docker engine.

hadolint lints the Dockerfile; the build context (.dockerignore) is compared with what the
build stage copies; and the wheel is built from exactly that context, as the build stage
does, then opened to check that it holds every file of both packages and nothing else.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "Dockerfile"
PACKAGES = {"ott_runtime": "runtime", "ott_operator": "operator"}


def _hadolint() -> str:
    venv_bin = str(Path(sys.executable).parent)
    found = shutil.which("hadolint") or shutil.which("hadolint", path=venv_bin)
    if found is None:
        pytest.fail("hadolint not found: install the test extra (pip install -e '.[test]')")
    return found


def _stages() -> dict[str, list[dict[str, str]]]:
    """Instructions grouped by stage name (`FROM ... AS name`)."""
    stages: dict[str, list[dict[str, str]]] = {}
    current: list[dict[str, str]] = []
    for instruction in DockerfileParser(path=str(DOCKERFILE)).structure:
        if instruction["instruction"] == "FROM":
            name = instruction["value"].split(" AS ")[-1].strip()
            current = stages.setdefault(name, [])
        elif instruction["instruction"] != "COMMENT":
            current.append(instruction)
    return stages


def _context_sources(*stages: str) -> list[str]:
    """Paths of the working tree that the stages COPY (not from other stages)."""
    sources: list[str] = []
    for stage in stages:
        for instruction in _stages()[stage]:
            if instruction["instruction"] == "COPY" and "--from=" not in instruction["value"]:
                *srcs, _dest = instruction["value"].split()
                sources.extend(src.rstrip("/") for src in srcs)
    return sources


def _build_context_sources() -> list[str]:
    return _context_sources("build")


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [_hadolint(), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_really_linting(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n")
    result = subprocess.run([_hadolint(), str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # :latest
    assert "DL3013" in result.stdout  # unpinned pip install


def test_three_stages_and_a_non_root_read_only_friendly_runtime() -> None:
    stages = _stages()
    assert list(stages) == ["assets", "build", "runtime"]
    runtime = stages["runtime"]
    users = [i["value"] for i in runtime if i["instruction"] == "USER"]
    assert users, "the runtime stage must switch to a non-root user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), "a numeric UID, so that runAsNonRoot can verify it"
    assert int(uid) > 0
    env = " ".join(i["value"] for i in runtime if i["instruction"] == "ENV")
    # OTTC_HOST: the operator's scoring Deployment runs plain `serve`, whose default outside a
    # container is 127.0.0.1 (unreachable from its Service).
    for variable in ("HOME=/tmp", "TMPDIR=/tmp", "PYTHONDONTWRITEBYTECODE=1", "OTTC_HOST=0.0.0.0"):
        assert variable in env
    entrypoint = [i["value"] for i in runtime if i["instruction"] == "ENTRYPOINT"]
    assert entrypoint == ['["ottc"]'], "one image: `ottc operator` and `ottc serve`"
    copies = [i["value"] for i in runtime if i["instruction"] == "COPY"]
    assert not copies, "the runtime stage installs wheels through a bind mount, copies nothing"


def test_dockerignore_admits_exactly_what_the_build_stage_copies() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", ".dockerignore is an allow-list"
    admitted = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    # the assets stage copies single files of frontend/, which the folder admits
    copied = {
        s.split("/")[0] if s.startswith("frontend/") else s
        for s in _context_sources("assets", "build")
    }
    assert admitted == copied
    for source in admitted:
        assert (REPO / source).exists(), f"{source} is copied by the Dockerfile but missing"


def test_front_end_stage_builds_the_npm_project_once_there_is_one() -> None:
    package_jsons = [
        p
        for p in [*REPO.glob("frontend/package.json"), *REPO.glob("runtime/**/package.json")]
        if "node_modules" not in p.parts
    ]
    assets = " ".join(i["value"] for i in _stages()["assets"])
    if package_jsons:
        assert "npm ci" in assets, f"{package_jsons[0]} exists: the assets stage must build it"
    else:
        assert "/assets" in assets


def test_wheel_built_from_the_build_context_holds_both_packages(tmp_path: Path) -> None:
    context = tmp_path / "context"
    for source in _build_context_sources():
        src = REPO / source
        if src.is_dir():
            shutil.copytree(
                src, context / source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            (context / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, context / source)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."],
        cwd=context,
        check=True,
        capture_output=True,
        timeout=240,
    )
    (wheel,) = tmp_path.glob("ott_compliance-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    # Every file of both packages (code, py.typed, migrations, static assets) is in the wheel.
    # Walked in the copied context: the tree may change while the test runs.
    for package, folder in PACKAGES.items():
        root = context / folder
        for path in (root / package).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                member = path.relative_to(root).as_posix()
                assert member in names, f"{member} is missing from the wheel (package-data?)"
    # Nothing else: no CRDs, no tests, no chart (the chart ships the CRDs).
    top_levels = {name.split("/")[0] for name in names}
    assert top_levels == {"ott_runtime", "ott_operator", wheel.name.split("-py3")[0] + ".dist-info"}
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "ottc = ott_runtime.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
