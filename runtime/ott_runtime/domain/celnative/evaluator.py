"""Compile a parsed CEL expression into nested Python closures over plain data.

Each node becomes ``fn(env) -> value`` where ``env`` maps variable names to values;
errors travel as ``CelError`` so that ``&&``, ``||`` and ``?:`` can absorb or rank them
exactly as the library does, and Python's own exceptions (bugs) are never mistaken for
an expression's error. Constant sub-expressions (the inlined parameters) are folded at
compile time, and the common shapes (a field path, ``x in [constant strings]``,
``x == 'constant'``) get dedicated closures: they are most of what rules evaluate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ott_runtime.domain.celnative import values as v
from ott_runtime.domain.celnative.closures import ORDERINGS, Const, Env, Fn, fold
from ott_runtime.domain.celnative.comprehensions import compile_comprehension
from ott_runtime.domain.celnative.parser import (
    Binary,
    Call,
    Comprehension,
    Conditional,
    Has,
    Ident,
    Index,
    ListLit,
    Literal,
    MapLit,
    Node,
    Select,
    Unary,
    Unsupported,
)
from ott_runtime.domain.celnative.temporal import (
    GETTERS,
    temporal_kind,
    temporal_relation,
    timestamp_part,
)
from ott_runtime.domain.celnative.values import CelError

_MISSING = object()
_PLAIN = v.PLAIN_TYPES  # int is not: it needs its int64 range checked


def compile_node(node: Node) -> Fn:
    if isinstance(node, Literal):
        return Const(node.value)
    if isinstance(node, Ident):
        return _path(node.name, ())
    if isinstance(node, Select):
        root, fields = _flatten(node)
        if root is not None:
            return _path(root, fields)
        operand = compile_node(node.operand)
        field = node.field
        return fold(lambda env: v.select(operand(env), field), operand)
    if isinstance(node, Has):
        return _has(node)
    if isinstance(node, Index):
        container, key = compile_node(node.operand), compile_node(node.index)
        return fold(lambda env: v.index(container(env), key(env)), container, key)
    if isinstance(node, Unary):
        return _unary(node)
    if isinstance(node, Binary):
        return _binary(node)
    if isinstance(node, Conditional):
        return _conditional(node)
    if isinstance(node, ListLit):
        items = [compile_node(item) for item in node.items]
        return fold(lambda env: [item(env) for item in items], *items)
    if isinstance(node, MapLit):
        entries = [(key, compile_node(value)) for key, value in node.entries]
        return fold(
            lambda env: {key: value(env) for key, value in entries}, *(e for _, e in entries)
        )
    if isinstance(node, Call):
        return _call(node)
    if isinstance(node, Comprehension):
        return compile_comprehension(node, compile_node)
    raise Unsupported(type(node).__name__)  # pragma: no cover - every node is handled


def _flatten(node: Node) -> tuple[str | None, tuple[str, ...]]:
    """``a.b.c`` as ("a", ("b", "c")); (None, ()) when the chain does not start at a name."""
    fields: list[str] = []
    while isinstance(node, Select):
        fields.append(node.field)
        node = node.operand
    if isinstance(node, Ident):
        return node.name, tuple(reversed(fields))
    return None, ()


def _variable(env: Env, name: str) -> Any:
    value = env.get(name, _MISSING)
    if value is _MISSING:
        raise v.undefined(name)
    return v.plain(value)


def _path(root: str, fields: tuple[str, ...]) -> Fn:
    """A variable and the map fields below it, read in one closure (the common case, maps
    all the way down and a plain value found, without a call; anything else the slow way)."""
    if not fields:
        return lambda env: _variable(env, root)
    if len(fields) == 1:
        (first,) = fields

        def read1(env: Env) -> Any:
            value = env.get(root)
            if type(value) is dict:
                found = value.get(first, _MISSING)
                if type(found) in _PLAIN:
                    return found
                if type(found) is int and v.INT64_MIN <= found <= v.INT64_MAX:
                    return found
            return v.select(_variable(env, root), first)

        return read1
    if len(fields) == 2:
        first, second = fields

        def read2(env: Env) -> Any:
            value = env.get(root)
            if type(value) is dict:
                middle = value.get(first)
                if type(middle) is dict:
                    found = middle.get(second, _MISSING)
                    if type(found) in _PLAIN:
                        return found
                    if type(found) is int and v.INT64_MIN <= found <= v.INT64_MAX:
                        return found
            return v.select(v.select(_variable(env, root), first), second)

        return read2

    def read(env: Env) -> Any:
        value = _variable(env, root)
        for field in fields:
            value = v.select(value, field)
        return value

    return read


def _has(node: Has) -> Fn:
    operand = compile_node(node.operand)
    field = node.field

    def has(env: Env) -> bool:
        value = operand(env)
        if type(value) is dict:
            return field in value
        return v.has_field(value, field)

    return has


def _unary(node: Unary) -> Fn:
    operand = compile_node(node.operand)
    if node.op == "-":
        return fold(lambda env: v.negate(operand(env)), operand)

    def negation(env: Env) -> bool:
        value = operand(env)
        if value is True:
            return False
        if value is False:
            return True
        raise v.no_overload()

    return fold(negation, operand)


def _binary(node: Binary) -> Fn:
    op = node.op
    if op in ORDERINGS or op in ("==", "!="):
        kinds = (temporal_kind(node.left), temporal_kind(node.right))
        if kinds != (None, None):
            return temporal_relation(op, node.left, node.right, kinds, compile_node)
    left, right = compile_node(node.left), compile_node(node.right)
    if op == "&&":
        return fold(_logical(left, right, False), left, right)
    if op == "||":
        return fold(_logical(left, right, True), left, right)
    if op in ("==", "!="):
        return fold(_equality(left, right, op == "=="), left, right)
    if op == "in":
        return fold(_membership(left, right), left, right)
    if op in ORDERINGS:
        return fold(_ordering(op, left, right), left, right)
    return fold(lambda env: v.arithmetic(op, left(env), right(env)), left, right)


def _logical(left: Fn, right: Fn, decisive: bool) -> Fn:
    """The library's ``&&`` (``decisive`` False) and ``||`` (True): the decisive value wins
    over anything, errors included; else the right side's error, then the left side's; a
    non-bool operand is a ``no such overload`` error."""
    other = not decisive

    def logical(env: Env) -> Any:
        try:
            a = left(env)
        except CelError as error:
            # kept past the handler: without its traceback, which would hold this frame
            # and so the error itself in a cycle (with the event) until the collector ran
            a = error.with_traceback(None)
        if a is decisive:
            return decisive
        b = right(env)
        if b is decisive:
            return decisive
        if a is other and b is other:
            return other
        if isinstance(a, CelError):
            raise a
        raise v.no_overload()

    return logical


def _equality(left: Fn, right: Fn, positive: bool) -> Fn:
    if isinstance(right, Const) and type(right.value) in (str, bool):
        constant = right.value
        kind = type(constant)
        if positive:
            return lambda env: (lambda x: type(x) is kind and x == constant)(left(env))
        return lambda env: (lambda x: not (type(x) is kind and x == constant))(left(env))
    if positive:
        return lambda env: v.equal(left(env), right(env))
    return lambda env: not v.equal(left(env), right(env))


def _ordering(op: str, left: Fn, right: Fn) -> Fn:
    test = ORDERINGS[op]
    if (
        isinstance(right, Const)
        and type(right.value) in (int, float)
        and right.value == right.value
    ):
        constant = right.value
        kind = type(constant)

        def against_constant(env: Env) -> bool:
            value = left(env)
            if type(value) is kind and value == value:  # same type, not NaN: Python's order
                return test(value, constant)
            return test(v.compare(value, constant), 0)

        return against_constant
    return lambda env: test(v.compare(left(env), right(env)), 0)


def _membership(left: Fn, right: Fn) -> Fn:
    if isinstance(right, Const) and type(right.value) is list:
        items = right.value
        if items and all(type(item) is str for item in items):
            strings = frozenset(items)  # nothing but a string equals a string

            def among(env: Env) -> bool:
                value = left(env)
                return type(value) is str and value in strings

            return among

    def membership(env: Env) -> bool:
        item = left(env)
        return v.contains(right(env), item)

    return membership


def _conditional(node: Conditional) -> Fn:
    condition = compile_node(node.condition)
    then, otherwise = compile_node(node.then), compile_node(node.otherwise)

    def choose(env: Env) -> Any:
        test = condition(env)
        if test is True:
            return then(env)
        if test is False:
            return otherwise(env)
        raise v.no_overload()

    if isinstance(condition, Const) and type(condition.value) is bool:
        return then if condition.value else otherwise
    return choose


_STRING_TESTS = frozenset({"startsWith", "endsWith", "contains"})
_CONVERSIONS: dict[str, Callable[[Any], Any]] = {
    "int": v.to_int,
    "double": v.to_double,
    "string": v.to_string,
}


def _call(node: Call) -> Fn:
    name, target, args = node.function, node.target, node.args
    if target is None:
        if name == "size" and len(args) == 1:
            arg = compile_node(args[0])
            return fold(lambda env: v.size(arg(env)), arg)
        if name in _CONVERSIONS and len(args) == 1:
            convert, arg = _CONVERSIONS[name], compile_node(args[0])
            return fold(lambda env: convert(arg(env)), arg)
        raise Unsupported(f"function {name}()")
    if name in GETTERS and not args:
        if isinstance(target, Call) and (target.function, target.target, len(target.args)) == (
            "timestamp",
            None,
            1,
        ):
            text = compile_node(target.args[0])
            return fold(lambda env: timestamp_part(text(env), name), text)
        raise Unsupported(f"{name}() on anything but timestamp(string)")
    receiver = compile_node(target)
    if name == "size" and not args:
        return fold(lambda env: v.size(receiver(env)), receiver)
    if name in _STRING_TESTS and len(args) == 1:
        arg = compile_node(args[0])

        def string_test(env: Env) -> bool:
            part = arg(env)  # the library evaluates a method's arguments before its target
            return v.string_test(name, receiver(env), part)

        return fold(string_test, receiver, arg)
    raise Unsupported(f"method {name}()")
