"""A bound on how much work one evaluation of a condition can do, known before it runs.

CEL has no loops, but its comprehension macros (``all``, ``exists``, ``exists_one``,
``map``, ``filter``) iterate over lists and can nest: a 500-character rule of four nested
``all`` over 40-element list literals iterates 2.5 million times, about 3 s for every event
of the tenant. Each macro is counted as iterating over its receiver: the number of elements
of a list literal, or :data:`ASSUMED_COLLECTION_SIZE` for anything else (an event's list
field, a parameter); nested macros multiply. A condition over :data:`MAX_ITERATIONS` is
refused when it compiles.
"""

from __future__ import annotations

from dataclasses import dataclass

from ott_runtime.domain.cel_expressions import Token, tokenize

MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
ASSUMED_COLLECTION_SIZE = 100
MAX_ITERATIONS = 20_000  # ~20 ms of the native evaluator: two nested event-list comprehensions pass
_OPEN = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True)
class _Macro:
    open: int  # token index of its "("
    close: int  # and of the matching ")"
    size: int  # iterations over its receiver


def _matching(tokens: list[Token]) -> dict[int, int]:
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for index, token in enumerate(tokens):
        if token.text in _OPEN:
            stack.append(index)
        elif token.text in (")", "]", "}") and stack:
            pairs[stack.pop()] = index
    return pairs


def _list_literal_size(tokens: list[Token], close: int, pairs: dict[int, int]) -> int | None:
    """Elements of the list literal ending at ``close`` (its "]"), or None if none is."""
    opening = next((o for o, c in pairs.items() if c == close and tokens[o].text == "["), None)
    if opening is None or (opening > 0 and tokens[opening - 1].kind == "ident"):
        return None  # an index (x[0]), not a literal
    inner = range(opening + 1, close)
    if not inner:
        return 0
    depth, commas = 0, 0
    for index in inner:
        text = tokens[index].text
        depth += text in _OPEN
        depth -= text in (")", "]", "}")
        commas += text == "," and depth == 0
    trailing = tokens[close - 1].text == ","
    return commas + 1 - trailing


def iteration_bound(source: str) -> int:
    """The most iterations one evaluation of ``source`` can make (0: no comprehension)."""
    tokens = tokenize(source)
    pairs = _matching(tokens)
    macros: list[_Macro] = []
    for index, token in enumerate(tokens):
        is_call = index + 1 < len(tokens) and tokens[index + 1].text == "("
        if token.kind != "ident" or token.text not in MACROS or not is_call or index < 2:
            continue
        if tokens[index - 1].text != ".":
            continue
        receiver_end = index - 2
        size = ASSUMED_COLLECTION_SIZE
        if tokens[receiver_end].text == "]":
            literal = _list_literal_size(tokens, receiver_end, pairs)
            size = ASSUMED_COLLECTION_SIZE if literal is None else literal
        macros.append(_Macro(index + 1, pairs.get(index + 1, len(tokens)), size))

    def within(start: int, end: int) -> int:
        total = 0
        for macro in macros:
            inside = start < macro.open < end
            nested = any(o.open < macro.open < o.close for o in macros if start < o.open < end)
            if inside and not nested:
                total += macro.size * (1 + within(macro.open, macro.close))
        return total

    return within(-1, len(tokens) + 1)


def cost_problem(source: str) -> str | None:
    """Why ``source`` is too costly to evaluate for every event, or None."""
    bound = iteration_bound(source)
    if bound <= MAX_ITERATIONS:
        return None
    return (
        f"this condition may iterate {bound:,} times per event (nested comprehensions; a list "
        f"that is not a literal counts as {ASSUMED_COLLECTION_SIZE}); the limit is "
        f"{MAX_ITERATIONS:,}: flatten the comprehensions or test membership with 'in'"
    )
