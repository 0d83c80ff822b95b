"""A native Python evaluator for the CEL the rules and aggregate filters use.

``compile_native(source)`` gives a callable that evaluates ``source`` directly on the
plain Python data the pipeline holds, with the ``cel`` library's verdicts (values,
``KeyError`` for a missing field, the library's exception types for other errors) but
without converting every value to the library's types first, which cost more than
evaluating the rules. What it does not reproduce exactly it refuses: ``Unsupported`` at
compile time (the caller keeps the library's program), ``NeedsLibrary`` at run time for
data it does not mirror (the caller evaluates that event with the library).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ott_runtime.domain.celnative.evaluator import compile_node
from ott_runtime.domain.celnative.parser import Unsupported, parse
from ott_runtime.domain.celnative.values import CelError, NeedsLibrary, deep_plain

__all__ = [
    "CelError",
    "NativeProgram",
    "NeedsLibrary",
    "Unsupported",
    "compile_native",
    "native_or_none",
]


class NativeProgram:
    """A compiled expression; call it with the variables (``{"event": {...}, ...}``)."""

    __slots__ = ("run", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        # The bare closure, for hot loops: takes a dict, raises CelError (see __call__),
        # and hands back a list or map result without checking what it holds.
        self.run: Callable[[dict[str, Any]], Any] = compile_node(parse(source))

    def __call__(self, variables: Mapping[str, Any]) -> Any:
        env = variables if type(variables) is dict else dict(variables)
        try:
            result = self.run(env)
        except CelError as error:
            raise error.as_builtin() from None
        if type(result) is list or type(result) is dict:
            return deep_plain(result)
        return result

    def __repr__(self) -> str:
        return f"NativeProgram({self.source!r})"


def compile_native(source: str) -> NativeProgram:
    """``source`` compiled natively; ``Unsupported`` when it needs the library."""
    try:
        return NativeProgram(source)
    except RecursionError:
        raise Unsupported("expression nested too deeply") from None


def native_or_none(source: str) -> NativeProgram | None:
    """``source`` compiled natively, or None where it needs the library."""
    try:
        return compile_native(source)
    except Unsupported:
        return None
