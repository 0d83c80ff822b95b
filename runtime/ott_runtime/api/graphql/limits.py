"""Depth and cost limits, checked during validation (before anything runs).

Cost: every field costs 1, times the page sizes (``first``) of the connections above it.
A ``first`` given by a variable counts as the largest page allowed (variables are not
known at validation), so the estimate is an upper bound.
"""

from __future__ import annotations

from collections.abc import Callable

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.extensions.base_extension import SchemaExtension

MAX_DEPTH = 10
MAX_COST = 10_000
MAX_FIRST = 500
DEFAULT_FIRST = 50


def _page_size(node: FieldNode) -> int:
    for argument in node.arguments or ():
        if argument.name.value == "first":
            value = argument.value
            return int(value.value) if isinstance(value, IntValueNode) else MAX_FIRST
    return 1


def selection_cost(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value.startswith("__"):
                continue
            total += 1 + _page_size(selection) * selection_cost(
                selection.selection_set, fragments, seen
            )
        elif isinstance(selection, InlineFragmentNode):
            total += selection_cost(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:  # cycles are another rule's error
                total += selection_cost(fragment.selection_set, fragments, seen | {name})
    return total


def cost_rule(max_cost: int) -> type[ValidationRule]:
    class CostLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = context.document
            fragments = {
                d.name.value: d
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            for definition in document.definitions:
                if isinstance(definition, OperationDefinitionNode):
                    cost = selection_cost(definition.selection_set, fragments)
                    if cost > max_cost:
                        name = definition.name.value if definition.name else "the operation"
                        context.report_error(
                            GraphQLError(
                                f"{name} costs {cost}, over the limit of {max_cost}: each field "
                                f"costs 1 times the page sizes (first) above it; ask for smaller "
                                f"pages or fewer fields",
                                definition,
                                extensions={
                                    "code": "QUERY_TOO_COSTLY",
                                    "cost": cost,
                                    "limit": max_cost,
                                },
                            )
                        )

    return CostLimit


# built once: the validation cache is keyed by the rule classes, so they must not be
# made afresh for each operation (the limiters' constructors create new ones)
_RULES = (
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    cost_rule(MAX_COST),
    *MaxAliasesLimiter(max_alias_count=30).validation_rules,
)
# bounded: unique query texts cannot grow memory without limit
CACHED_DOCUMENTS = 256


def limit_extensions() -> list[Callable[[], SchemaExtension]]:
    """Factories: strawberry builds fresh extensions for each operation. Parsing and
    validation (limits included) are cached by query text: a dashboard sends the same few
    documents over and over."""
    return [
        lambda: ParserCache(maxsize=CACHED_DOCUMENTS),
        lambda: AddValidationRules(list(_RULES)),
        lambda: ValidationCache(maxsize=CACHED_DOCUMENTS),
    ]
