"""The README's layout table and the tree agree: every path it names exists, and every
package of the runtime and the operator (and the runtime's top-level modules) has a row."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PACKAGES = (REPO / "runtime" / "ott_runtime", REPO / "operator" / "ott_operator")


def layout_rows() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [re.match(r"\| `([^`]+)`", row).group(1) for row in rows]  # type: ignore[union-attr]


def test_every_path_in_the_table_exists() -> None:
    missing = [path for path in layout_rows() if not (REPO / path).exists()]
    assert not missing, f"the README's layout table names paths the tree lacks: {missing}"


def test_every_package_has_a_row() -> None:
    rows = {path.rstrip("/") for path in layout_rows()}
    packages = {
        str(child.relative_to(REPO))
        for root in PACKAGES
        for child in root.iterdir()
        if child.is_dir() and (child / "__init__.py").exists()
    }
    unlisted = sorted(packages - rows)
    assert not unlisted, f"packages without a row in the README's layout table: {unlisted}"


def test_the_runtime_entry_modules_have_rows() -> None:
    rows = set(layout_rows())
    for module in ("app.py", "service.py", "auth.py"):
        assert f"runtime/ott_runtime/{module}" in rows
