"""The comprehension macros (all, exists, exists_one, map, filter) as the library runs them.

Over a list the library goes in order and stops at the first decisive result or error.
Over a map it goes in its hash order, which Python cannot know: where the outcome
depends on that order (an error beside a decisive result, the order of map()'s result)
the evaluation goes to the library (``NeedsLibrary``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ott_runtime.domain.celnative import values as v
from ott_runtime.domain.celnative.closures import Env, Fn
from ott_runtime.domain.celnative.parser import Comprehension, Node
from ott_runtime.domain.celnative.values import CelError, NeedsLibrary


def compile_comprehension(node: Comprehension, compile_node: Callable[[Node], Fn]) -> Fn:
    """``target.all/exists/exists_one/map/filter(var, ...)``; ``compile_node`` compiles
    its parts."""
    target, body = compile_node(node.target), compile_node(node.body)
    keep = compile_node(node.filter) if node.filter is not None else None
    kind, var = node.kind, node.var

    def items(env: Env) -> tuple[list[Any], bool]:
        """(the elements, whether they came from a map, whose order the library hashes)."""
        collection = target(env)
        if type(collection) is list:
            return [v.plain(item) for item in collection], False
        if type(collection) is dict:
            keys = list(collection)
            if any(type(key) is not str for key in keys):
                raise NeedsLibrary
            return keys, len(keys) > 1
        raise v.no_overload()

    def run(env: Env) -> Any:
        elements, unordered = items(env)
        scope = dict(env)
        if kind in ("map", "filter"):
            if unordered:
                raise NeedsLibrary  # the result's order is the library's hash order
            result = []
            for element in elements:
                scope[var] = element
                if keep is not None or kind == "filter":
                    test = (keep or body)(scope)
                    if type(test) is not bool:
                        raise v.no_overload()
                    if not test:
                        continue
                result.append(body(scope) if kind == "map" else element)
            return result
        return _quantify(kind, elements, unordered, scope, var, body)

    return run


def _quantify(
    kind: str, elements: list[Any], unordered: bool, scope: Env, var: str, body: Fn
) -> bool:
    """all / exists / exists_one. Over a list the library stops at the first decisive
    result or error; over a map its order is unknown, so an outcome that would depend
    on the order (an error beside a decisive result) goes to the library."""
    decisive = kind == "exists"  # the value that ends all() (False) or exists() (True)
    count = 0
    errors: list[CelError] = []
    found = False
    for element in elements:
        scope[var] = element
        try:
            outcome = body(scope)
            if type(outcome) is not bool:
                raise v.no_overload()
        except CelError as error:
            if not unordered:
                raise
            errors.append(error.with_traceback(None))  # no cycle via this frame
            continue
        if kind == "exists_one":
            count += outcome
        elif outcome is decisive:
            if not unordered:
                return decisive
            found = True
    if errors:
        first = errors[0]
        if found or any((e.kind, e.message) != (first.kind, first.message) for e in errors):
            raise NeedsLibrary
        raise first
    if kind == "exists_one":
        return count == 1
    return found if kind == "exists" else not found
