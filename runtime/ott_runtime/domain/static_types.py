"""Type mismatches a rule's text shows before any event arrives: an event field compared
with a literal of another type (``event.viewer.age == '13'``), ``in`` over a field that is
not a list or map, and an RFC 3339 timestamp field ordered against a string (compared as
text, so ``"2026-01-01T10:00:00+05:30"`` sorts wrongly: use ``timestamp(...)``).

Only what is certain is reported: a field whose type depends on the event type (or that is
``any``) and comparisons with parameters, aggregates or other expressions are left to the
evaluation, whose errors are counted in the rule's health.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from ott_runtime.domain.cel_expressions import Token, tokenize
from ott_runtime.domain.event_schema import EventExtension
from ott_runtime.domain.field_paths import EventChain, FieldNode, event_chains, event_fields
from ott_runtime.domain.field_paths import lookup as lookup_field

_EQUALITY = {"==", "!="}
_ORDER = {"<", "<=", ">", ">="}
_LITERALS = {"true": "boolean", "false": "boolean", "null": "null"}
_COMPATIBLE = {
    "string": {"string"},
    "integer": {"number"},
    "number": {"number"},
    "boolean": {"boolean"},
    "array": set(),
    "object": set(),
}


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _literal(token: Token) -> str | None:
    if token.kind == "string":
        return "string"
    if token.kind == "number":
        return "number"
    if token.kind == "ident":
        return _LITERALS.get(token.text)
    return None


def _node(
    path: str, event_types: Iterable[str], extensions: Mapping[str, EventExtension] | None
) -> FieldNode | None:
    """The field's node when every event type that has it agrees on its type."""
    trees = [event_fields(t, extensions) for t in event_types]
    nodes = [n for tree in trees if (n := lookup_field(tree, path)) is not None]
    if not nodes or any((n.kind, n.format) != (nodes[0].kind, nodes[0].format) for n in nodes):
        return None
    return nodes[0]


_OPERAND_ENDS = {"&&", "||", ")", "?", ":", ",", "]"}
_OPERAND_STARTS = {"&&", "||", "(", "!", "?", ":", ",", "["}


def _ends_operand(tokens: list[Token], index: int) -> bool:
    return index >= len(tokens) or tokens[index].text in _OPERAND_ENDS


def _compared_literal(tokens: list[Token], chain: EventChain) -> tuple[str, Token] | None:
    """(operator, literal token) when the chain, whole, is compared with a literal."""
    after = tokens[chain.end : chain.end + 2]
    if (
        len(after) == 2
        and after[0].text in _EQUALITY | _ORDER
        and _literal(after[1])
        and _ends_operand(tokens, chain.end + 2)  # not `event.x == 'a' + y`
    ):
        return after[0].text, after[1]
    before = tokens[max(chain.start - 2, 0) : chain.start]
    if (
        len(before) == 2
        and before[1].text in _EQUALITY | _ORDER
        and _literal(before[0])
        and (chain.start < 3 or tokens[chain.start - 3].text in _OPERAND_STARTS)
        and _ends_operand(tokens, chain.end)  # not `5 < event.title.size()`
    ):
        return before[1].text, before[0]
    return None


def type_problems(
    source: str,
    event_types: Iterable[str],
    extensions: Mapping[str, EventExtension] | None = None,
) -> Iterator[tuple[int, str]]:
    """(offset, message) of each certain type mismatch over event fields in ``source``."""
    types = sorted(set(event_types))
    tokens = tokenize(source)
    for chain in event_chains(tokens):
        node = _node(chain.path, types, extensions)
        if node is None or node.kind == "any":
            continue
        if tokens[chain.start - 1 : chain.start] and tokens[chain.start - 1].text == "in":
            if not _ends_operand(tokens, chain.end):
                continue  # e.g. `x in event.title.split(',')`
            if node.kind not in ("array", "object"):
                yield (
                    chain.offset,
                    (f"'in' needs a list or map, but {chain.path!r} is {_a(node.kind)}"),
                )
            continue
        compared = _compared_literal(tokens, chain)
        if compared is None:
            continue
        operator, literal = compared
        kind = _literal(literal)
        if kind == "null":
            continue
        if node.format == "date-time" and kind == "string" and operator in _ORDER:
            yield (
                chain.offset,
                (
                    f"{chain.path!r} is an RFC 3339 timestamp: '{operator}' with a string "
                    f"compares text; write timestamp(event.{chain.path}) {operator} "
                    f"timestamp({literal.text})"
                ),
            )
        elif kind not in _COMPATIBLE.get(node.kind, {kind}):
            yield (
                chain.offset,
                (f"{chain.path!r} is {_a(node.kind)}, compared with the {kind} {literal.text}"),
            )
