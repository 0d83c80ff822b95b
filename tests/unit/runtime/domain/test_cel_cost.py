"""A condition whose comprehensions could iterate without bound per event is refused when
it compiles (four nested `all` over 40-element lists took ~3 s an event); what a rule
reasonably does passes."""

from __future__ import annotations

import pytest

from ott_runtime.domain.cel_cost import MAX_ITERATIONS, iteration_bound
from ott_runtime.domain.rules import RuleCompileError, compile_rules, resolve_rules
from ott_runtime.domain.tenant import ComplianceTenantSpec

FORTY = "[" + ",".join(str(i) for i in range(40)) + "]"
NESTED = f"{FORTY}.all(a, {FORTY}.all(b, {FORTY}.all(c, {FORTY}.all(d, a + b + c + d >= 0))))"


@pytest.mark.parametrize(
    ("source", "bound"),
    [
        ("event.ad.targeted", 0),
        ("[1, 2, 3].exists(x, x == 1) && [1, 2].all(y, y > 0)", 5),
        ("[[1, 2], [3]].all(l, l.exists(x, x > 0))", 2 * (1 + 100)),  # l: not a literal
        ("event.viewer.consentedPurposes.exists(p, p == 'ads')", 100),
        ("event.viewer.consentedPurposes[0] == 'ads'", 0),  # an index, not a literal
        (NESTED, 40 * (1 + 40 * (1 + 40 * (1 + 40)))),
    ],
)
def test_the_bound_counts_nested_comprehensions(source: str, bound: int) -> None:
    assert iteration_bound(source) == bound


def compile_custom(when: str) -> None:
    spec = ComplianceTenantSpec.model_validate({
        "displayName": "T",
        "customRules": [{"id": "r", "severity": "low", "appliesTo": ["ad.impression"],
                         "when": when, "message": "m", "reference": "r"}],
    })  # fmt: skip
    compile_rules(resolve_rules(spec, {}))


def test_a_costly_condition_is_refused_with_its_bound() -> None:
    with pytest.raises(RuleCompileError) as caught:
        compile_custom(NESTED)
    (error,) = caught.value.errors
    assert "may iterate 2,625,640 times per event" in error.message
    assert f"the limit is {MAX_ITERATIONS:,}" in error.message


def test_two_nested_comprehensions_over_event_lists_compile() -> None:
    compile_custom(
        "event.viewer.consentedPurposes.exists(p, event.viewer.consentedPurposes.exists(q, p != q))"
    )
