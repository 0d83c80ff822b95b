"""`ottc test`: run the RuleTest documents under PATHs against the RegulationSets there."""

from __future__ import annotations

import time
from pathlib import Path
from xml.etree import ElementTree

import click
from pydantic import ValidationError

from ott_runtime.domain.documents import (
    DocumentErrors,
    iter_yaml_files,
    load_documents,
    load_resources,
)
from ott_runtime.domain.rule_tests import RULE_TEST_KIND, CaseResult, RuleTest, run_test, uncovered


def _junit(results: list[tuple[str, CaseResult]], seconds: float, path: Path) -> None:
    failures = sum(not r.passed for _, r in results)
    suite = ElementTree.Element(
        "testsuite", name="ottc test", tests=str(len(results)), failures=str(failures),
        errors="0", time=f"{seconds:.3f}",
    )  # fmt: skip
    for file, result in results:
        case = ElementTree.SubElement(
            suite, "testcase", classname=f"{file}::{result.test}", name=result.case,
            time=f"{result.seconds:.3f}",
        )  # fmt: skip
        for failure in result.failures:
            ElementTree.SubElement(case, "failure", message=failure).text = failure
    ElementTree.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def _load_tests(paths: tuple[Path, ...]) -> list[tuple[str, RuleTest]]:
    tests: list[tuple[str, RuleTest]] = []
    problems: list[str] = []
    for file in iter_yaml_files(paths):
        for document in load_documents(file):
            if document.kind != RULE_TEST_KIND:
                continue
            try:
                tests.append((str(file), RuleTest.model_validate(document.data)))
            except ValidationError as error:
                for item in error.errors():
                    line, column = document.position(item["loc"])
                    problems.append(f"{file}:{line}:{column}: {item['msg']}")
    if problems:
        raise click.ClickException("invalid RuleTest documents:\n  " + "\n  ".join(problems))
    return tests


@click.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--junit-xml",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the results as JUnit XML (for CI).",
)
@click.option(
    "--require-coverage",
    is_flag=True,
    help="Fail unless every rule of every set a test names has a firing and a non-firing case.",
)
def rule_test(paths: tuple[Path, ...], junit_xml: Path | None, require_coverage: bool) -> None:
    """Run the rule tests (kind RuleTest) under PATHS against the RegulationSets there.

    Each case sends its events in order through the tenant's rules and aggregate windows
    and checks which rules fire on each. Exits 1 when a case fails (or, with
    --require-coverage, when a rule has no firing or no non-firing case).

    \b
    Example:
      ottc test examples/regulationsets --require-coverage --junit-xml rules.xml
    """
    started = time.perf_counter()
    try:
        sets, _ = load_resources(paths)
        tests = _load_tests(paths)
    except DocumentErrors as error:
        raise click.ClickException(str(error)) from None
    if not tests:
        raise click.ClickException(
            f"no {RULE_TEST_KIND} documents under {', '.join(map(str, paths))}"
        )
    results: list[tuple[str, CaseResult]] = []
    tested: set[str] = set()
    for file, test in tests:
        tested |= {r.get("name") for r in test.spec.tenant.get("regulations", [])} & set(sets)
        for result in run_test(test, sets):
            results.append((file, result))
            mark = (
                click.style("PASSED", fg="green")
                if result.passed
                else click.style("FAILED", fg="red")
            )
            click.echo(f"{file}::{test.metadata.name}::{result.case} {mark}")
            for failure in result.failures:
                click.echo(f"    {failure}")
    missing = uncovered([r for _, r in results], sets, tested) if require_coverage else []
    for line in missing:
        click.echo(click.style(f"not covered: {line}", fg="yellow"))
    seconds = time.perf_counter() - started
    if junit_xml is not None:
        _junit(results, seconds, junit_xml)
    failed = sum(not r.passed for _, r in results)
    passed = len(results) - failed
    summary = f"{passed} passed, {failed} failed"
    if require_coverage:
        summary += f", {len(missing)} rules not covered"
    colour = "red" if failed or missing else "green"
    click.echo(click.style(f"{summary} in {seconds:.2f}s", fg=colour, bold=True))
    if failed or missing:
        raise SystemExit(1)
