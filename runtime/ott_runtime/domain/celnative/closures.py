"""The closures the evaluator compiles to, and the constant folding between them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ott_runtime.domain.celnative.values import CelError, NeedsLibrary

Env = dict[str, Any]
Fn = Callable[[Env], Any]


class Const:
    """A folded constant: the closure and its value."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, env: Env) -> Any:
        return self.value


def fold(fn: Fn, *parts: Fn) -> Fn:
    """``fn`` evaluated once when all ``parts`` are constants (and it does not fail)."""
    if parts and all(isinstance(p, Const) for p in parts):
        try:
            return Const(fn({}))
        except (CelError, NeedsLibrary):
            return fn  # fails the same way on every evaluation: keep it as it is
    return fn


ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
