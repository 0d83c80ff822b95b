"""The native CEL evaluator against the ``cel`` library, its oracle.

The differential test draws expressions from a grammar over the subset the native
evaluator claims, and JSON-like activations (missing keys, nulls, bools, ints at the
int64 limits, NaN and infinities, unicode, timestamp-like strings, nested maps and
lists), and asserts the same outcome: the same value of the same type (True is not 1,
1 is not 1.0), a KeyError for the same key ("missing" to the rule engine), or an error
of the same exception type. The native side may decline an activation (NeedsLibrary)
but never give another verdict.
"""

from __future__ import annotations

import math
from typing import Any

import cel
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ott_runtime.domain.celnative import NeedsLibrary, Unsupported, compile_native

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
KEYS = ("a", "b", "c")


def normalize(value: Any) -> Any:
    """A value with its type at every level; NaN equals NaN, -0.0 differs from 0.0."""
    if isinstance(value, list):
        return ("list", [normalize(item) for item in value])
    if isinstance(value, dict):
        return ("map", sorted((repr(k), normalize(v)) for k, v in value.items()))
    return (type(value).__name__, repr(value))


def library_outcome(source: str, variables: dict[str, Any]) -> tuple[Any, ...]:
    try:
        value = cel.compile(source).execute(cel.Context(variables=variables))
    except KeyError as error:
        return ("missing", str(error))
    except Exception as error:
        return ("error", type(error).__name__)
    return ("value", normalize(value))


def native_outcome(source: str, variables: dict[str, Any]) -> tuple[Any, ...] | None:
    program = compile_native(source)
    try:
        value = program(variables)
    except NeedsLibrary:
        return None
    except KeyError as error:
        return ("missing", str(error))
    except Exception as error:
        return ("error", type(error).__name__)
    return ("value", normalize(value))


def agree(source: str, variables: dict[str, Any]) -> bool:
    """Assert both agree; False when the native side declined the activation."""
    native = native_outcome(source, variables)
    if native is None:
        return False
    assert native == library_outcome(source, variables), (source, variables)
    return True


# --- activations ---------------------------------------------------------------------------

ints = st.one_of(
    st.integers(-5, 5),
    st.sampled_from([INT64_MIN, INT64_MIN + 1, INT64_MAX, INT64_MAX - 1, 2**53 + 1, 2**62]),
    st.integers(INT64_MIN, INT64_MAX),
)
doubles = st.one_of(
    st.sampled_from([0.0, -0.0, 0.5, 1.0, 2.0, -1.5, 1e20, 1e-7, 2.0**53, 9.2e18]),
    st.sampled_from([math.inf, -math.inf, math.nan]),
    st.floats(allow_nan=True, allow_infinity=True),
)
SAMPLE_TEXTS = [
    "", "a", "ab", "é", "😀x", "12", "-7", "1.5", "1e3", "inf", "NaN", " 1", "0x10",
    "2024-01-02T20:04:05Z", "2024-03-31T23:59:59.999+02:00", "2024-02-30T00:00:00Z",
    "2024-01-01t05:00:00z", "2024-01-01 05:00:00-05:30", "2024-01-01T00:00:00",
    "9223372036854775808", "-9223372036854775808",
]  # fmt: skip
TIMESTAMP_TEXTS = [
    "2024-01-02T20:04:05Z", "2024-01-02T22:04:05+02:00", "2024-01-02T20:04:05.000000001Z",
    "2024-01-03T08:04:05Z", "2024-01-02T08:04:05-12:00", "2024-01-17T20:04:05.5Z",
    "2024-01-02T20:04:05.123456789123Z", "2023-12-31T23:59:59.999999999-00:00",
]  # fmt: skip
texts = st.one_of(
    st.sampled_from(SAMPLE_TEXTS),
    st.sampled_from(TIMESTAMP_TEXTS),
    st.text(alphabet="abé1.-:TZ ", max_size=6),
)
scalars = st.one_of(st.none(), st.booleans(), ints, doubles, texts)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=8,
)
activations = st.fixed_dictionaries(
    {
        "m": st.dictionaries(st.sampled_from(KEYS), json_values, max_size=3),
        "l": st.lists(json_values, max_size=3),
        "x": json_values,
        "y": json_values,
    }
)

# --- expressions ---------------------------------------------------------------------------

literals = st.one_of(
    st.sampled_from(["0", "1", "-1", "2", "7", "-9223372036854775808", "9223372036854775807",
                     "0x10", "1.0", "0.5", "-2.5", "1e3", ".5", "true", "false", "null",
                     "'a'", "'é'", '"12"', "''", "r'a\\n'", "'\\x41\\u00e9'", "[]",
                     "['a', 'b']", "[1, 2.0, 'a']", "{'a': 1}", "{}",
                     "'2024-01-02T20:04:05Z'"]),
)  # fmt: skip
paths = st.sampled_from(
    ["x", "y", "m", "l", "m.a", "m.b", "m.a.b", "m.c.a", "x.a", "l[0]", "l[1]", "m['a']",
     "l[x]", "m[x]", "x[0]", "m.a[0]"]
)  # fmt: skip
BINARY = ["&&", "||", "==", "!=", "<", "<=", ">", ">=", "in", "+", "-", "*", "/", "%"]
GETTERS = ["getHours", "getMinutes", "getSeconds", "getMilliseconds", "getDayOfWeek",
           "getDayOfMonth", "getDate", "getDayOfYear", "getMonth", "getFullYear"]  # fmt: skip


def expressions(variables: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    leaves = st.one_of(literals, paths, *(st.just(v) for v in variables))

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(BINARY), inner).map(" ".join).map(paren),
            st.tuples(st.sampled_from(["!", "-"]), inner).map(lambda t: f"{t[0]}({t[1]})"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
            st.sampled_from(["has(m.a)", "has(m.a.b)", "has(x.a)", "has(m.zz)", "has(l.a)"]),
            st.tuples(st.sampled_from(["size", "int", "double", "string"]), inner).map(
                lambda t: f"{t[0]}({t[1]})"
            ),
            inner.map(lambda e: f"({e}).size()"),
            st.tuples(inner, st.sampled_from(["startsWith", "endsWith", "contains"]), inner).map(
                lambda t: f"({t[0]}).{t[1]}({t[2]})"
            ),
            st.tuples(inner, st.sampled_from(GETTERS)).map(lambda t: f"timestamp({t[0]}).{t[1]}()"),
            st.lists(inner, max_size=2).map(lambda items: f"[{', '.join(items)}]"),
            inner.map(lambda e: f"{{'k': {e}}}"),
        )

    base = st.recursive(leaves, extend, max_leaves=6)

    def comprehension(target: str, body: str, kind: str) -> str:
        if kind == "map3":
            return f"({target}).map(v, {body}, v)"
        return f"({target}).{kind}(v, {body})"

    if "v" in variables:
        return base
    macro = st.tuples(
        st.one_of(paths, literals, base),
        expressions(("v",)),
        st.sampled_from(["all", "exists", "exists_one", "map", "filter", "map3"]),
    ).map(lambda t: comprehension(*t))
    return st.one_of(base, macro, st.tuples(base, st.sampled_from(BINARY), macro).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"
    ))  # fmt: skip


def library_compiles(source: str) -> bool:
    try:
        cel.compile(source)
    except Exception:
        return False
    return True


# Typed expressions: most of them evaluate to values (a grammar without types mostly gives
# "no such overload"), with ill-typed and missing operands still mixed in.
typed_record = st.fixed_dictionaries(
    {},
    optional={
        "i": st.one_of(ints, json_values),
        "d": st.one_of(doubles, json_values),
        "s": st.one_of(texts, json_values),
        "t": st.one_of(st.booleans(), json_values),
        "ts": st.one_of(st.sampled_from(TIMESTAMP_TEXTS), texts),
        "ts2": st.one_of(st.sampled_from(TIMESTAMP_TEXTS), texts),
        "l": st.lists(st.one_of(st.integers(-3, 3), st.sampled_from(["a", "b"])), max_size=4),
        "n": st.dictionaries(st.sampled_from(KEYS), json_values, max_size=3),
    },
)
typed_activations = st.fixed_dictionaries({"r": typed_record, "x": json_values})

RELATIONS = ["<", "<=", ">", ">=", "==", "!="]
DURATIONS = ["'12h'", "'-1.5h'", "'0s'", "'1h30m'", "'360h'", "'1ms'", "'86400s'"]
instants = st.one_of(
    st.sampled_from(["r.ts", "r.ts2", "x", "r.zz"]), st.sampled_from(TIMESTAMP_TEXTS).map(repr)
).map(lambda e: f"timestamp({e})")

bools: st.SearchStrategy[str] = st.deferred(lambda: st.one_of(
    st.sampled_from(["true", "false", "r.t", "has(r.t)", "has(r.n.a)", "x"]),
    bools.map(lambda e: f"!{e}"),
    st.tuples(st.sampled_from([" && ", " || "]), st.lists(bools, min_size=3, max_size=6)).map(
        lambda t: paren(t[0].join(t[1]))),  # chains: the parser balances them
    st.tuples(bools, st.sampled_from(["&&", "||", "==", "!="]), bools).map(" ".join).map(paren),
    st.tuples(numbers, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), numbers).map(
        " ".join).map(paren),
    st.tuples(strings, st.sampled_from(["==", "<", "in"]), st.one_of(strings, lists)).map(
        " ".join).map(paren),
    st.tuples(numbers, st.just("in"), lists).map(" ".join).map(paren),
    st.tuples(strings, st.sampled_from(["startsWith", "endsWith", "contains"]), strings).map(
        lambda t: f"{t[0]}.{t[1]}({t[2]})"),
    st.tuples(bools, bools, bools).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
    st.tuples(lists, st.sampled_from(["all", "exists", "exists_one"]), bools).map(
        lambda t: f"{t[0]}.{t[1]}(v, {t[2]})"),
    st.tuples(lists, st.sampled_from(["all", "exists"])).map(
        lambda t: f"{t[0]}.{t[1]}(v, v == 1 || v == 'a')"),
    st.tuples(instants, st.sampled_from(RELATIONS), instants).map(" ".join).map(paren),
    st.tuples(instants, instants, st.sampled_from(RELATIONS), st.sampled_from(DURATIONS)).map(
        lambda t: f"({t[0]} - {t[1]} {t[2]} duration({t[3]}))"),
))  # fmt: skip
numbers: st.SearchStrategy[str] = st.deferred(lambda: st.one_of(
    st.sampled_from(["0", "1", "-3", "9223372036854775807", "-9223372036854775808", "2.5",
                     "0.0", "1e308", "r.i", "r.d", "r.n.a", "x", "v"]),
    st.tuples(numbers, st.sampled_from(["+", "-", "*", "/", "%"]), numbers).map(
        " ".join).map(paren),
    st.one_of(strings, lists, st.just("r.n")).map(lambda e: f"size({e})"),
    st.tuples(st.sampled_from(["int", "double"]), st.one_of(numbers, strings)).map(
        lambda t: f"{t[0]}({t[1]})"),
    st.sampled_from(GETTERS).map(lambda g: f"timestamp(r.ts).{g}()"),
    numbers.map(lambda e: f"-{e}"),
    st.tuples(bools, numbers, numbers).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
))  # fmt: skip
strings: st.SearchStrategy[str] = st.deferred(lambda: st.one_of(
    st.sampled_from(["'a'", "''", "'é'", "'2024-01-02T03:04:05Z'", "r.s", "r.ts", "x"]),
    st.tuples(strings, strings).map(lambda t: f"({t[0]} + {t[1]})"),
    st.one_of(numbers, strings).map(lambda e: f"string({e})"),
))  # fmt: skip
lists: st.SearchStrategy[str] = st.deferred(lambda: st.one_of(
    st.sampled_from(["[]", "[1, 2]", "['a', 'b']", "[1, 'a', 2.0]", "r.l", "x"]),
    st.tuples(lists, lists).map(lambda t: f"({t[0]} + {t[1]})"),
    st.tuples(lists, bools).map(lambda t: f"{t[0]}.filter(v, {t[1]})"),
    st.tuples(lists, numbers).map(lambda t: f"{t[0]}.map(v, {t[1]})"),
))  # fmt: skip


def paren(text: str) -> str:
    return f"({text})"


EXPRESSIONS = expressions()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=EXPRESSIONS, variables=activations)
def test_native_agrees_with_the_library(source: str, variables: dict[str, Any]) -> None:
    assume(library_compiles(source))
    agree(source, variables)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.one_of(bools, numbers, strings, lists), variables=typed_activations)
def test_native_agrees_with_the_library_on_typed_expressions(
    source: str, variables: dict[str, Any]
) -> None:
    assume(library_compiles(source))
    agree(source, variables)


# --- the semantics the rules rely on, spelled out --------------------------------------------

M = {"a": 1, "b": None, "c": "x", "t": True, "l": [1, 2], "f": 1.5, "n": {"z": 1}}
CASES = [
    "m.zz", "m.zz == 1", "m.a == 1.0", "m.t == 1", "m.t < 2", "m.b == null", "m.b < 1",
    "m.zz && false", "false && m.zz", "m.zz || true", "true || m.zz", "m.zz || m.c",
    "m.c || m.zz", "m.zz && (1/0 == 1)", "(1/0 == 1) && m.zz", "m.c && false", "m.c && true",
    "1/0", "1%0", "5/-2", "-5/2", "-5%3", "5%-3", "9223372036854775807 + 1",
    "-9223372036854775808 - 1", "-(-9223372036854775808)", "-9223372036854775808 / -1",
    "-9223372036854775808 % -1", "1.0/0.0", "0.0/0.0", "!1", "!m.a", "1 ? 2 : 3",
    "true ? 1 : m.zz", "m.zz ? 1 : 2", "'a' + 'b'", "[1] + [2]", "1 + 1.0", "size('é')",
    "size(m)", "size(1)", "'abc'.startsWith('a')", "1 in [1.0]", "1.0 in {'a': 1}",
    "'a' in m", "has(m.a)", "has(m.zz)", "has(m.b)", "has(m.a.x)", "has(m.zz.x)", "m.n.z",
    "m.c.x", "m.l[5]", "m.l[-1]", "m.l[1.0]", "m[1]", "m[true]", "-true",
    "timestamp('2024-01-02T20:04:05Z').getHours()",
    "timestamp('2024-01-02T20:04:05+02:00').getHours()",
    "timestamp('2024-01-06T23:00:00-05:00').getDayOfWeek()", "timestamp('2024-01-02').getHours()",
    "timestamp(1).getHours()", "double('1e3')", "double(' 1')", "int(-1.5)", "int(1e30)",
    "int('+5')", "int('9223372036854775808')", "string(1.0)", "string(1e21)", "string(true)",
    "[0, 1].exists(x, 1/x == 1)", "[1, 0].exists(x, 1/x == 1)", "[1, 0].all(x, 1/x == 2)",
    "[1, 1, 0].exists_one(x, 1/x == 1)", "[1, 2].exists(x, x == 2 ? true : 1)",
    "[1, 2].map(x, x > 1, x * 10)", "[1, 2].filter(x, x > 1)", "{'a': 1}.exists(k, k == 'a')",
    "m.exists(k, k == 'a')", "m.all(k, m[k] != 7)", "[1, 'a'] == [1, 'a']", "[1] == [1.0]",
    "m.zz && 1 && true", "m.zz && true && 1 && true", "m.zz && true && true && 1 && true",
    "m.zz && true && 1 && true && true", "m.zz || false || 1 || false",
    "m.zz || 1 || false", "(m.zz && true) && 1 && true",
    # runs of ! or - cancel in pairs, whatever the operand; parenthesised ones do not
    "!!m.b", "!!m.b == null", "--m.c", "- -m.c", "! !m.a", "!!!m.t", "---m.a", "!(!m.b)",
    "-(-m.c)", "--9223372036854775807", "--1.5",
]  # fmt: skip


@pytest.mark.parametrize("source", CASES)
def test_the_rules_semantics_match(source: str) -> None:
    assert agree(source, {"m": M}), f"{source} was declined"


def test_a_missing_field_is_a_key_error_naming_it() -> None:
    with pytest.raises(KeyError, match="viewer"):
        compile_native("event.viewer.age < 13")({"event": {"type": "x"}})


def test_bool_is_not_an_int_and_errors_are_absorbed_as_the_library_does() -> None:
    program = compile_native("event.flag < 2 || event.n == 3")
    assert program({"event": {"flag": True, "n": 3}}) is True
    with pytest.raises(TypeError):
        program({"event": {"flag": True, "n": 4}})


@pytest.mark.parametrize(
    "source",
    ["x.matches('a+')", "1u == x", "b'a' == x", "duration('1s') == x", "type(x) == int",
     "dyn(x) == 1", "timestamp(x)", "timestamp(x).getHours('+01:00')", "x.?y", "{x: 1}",
     "Foo{a: 1}", "uint(x) == 1", "x.exists(k, k) || .y"],
)  # fmt: skip
def test_what_it_does_not_mirror_is_refused_at_compile_time(source: str) -> None:
    with pytest.raises(Unsupported):
        compile_native(source)


@pytest.mark.parametrize(
    ("source", "variables"),
    [
        ("x == 1", {"x": 2**63}),  # a uint to the library
        ("x == 1.0", {"x": 2**70}),  # a double to the library
        ("x == [1]", {"x": (1,)}),  # a tuple is a list to the library
        ("x.a", {"x": {"a": b"raw"}}),
        ("timestamp(x).getSeconds()", {"x": "2024-01-01T23:59:60Z"}),  # a leap second
        ("m.map(k, k)", {"m": {"a": 1, "b": 2}}),  # the library orders a map's keys by hash
    ],
)
def test_data_it_does_not_mirror_goes_to_the_library(
    source: str, variables: dict[str, Any]
) -> None:
    with pytest.raises(NeedsLibrary):
        compile_native(source)(variables)


def test_plain_activations_are_rarely_declined() -> None:
    """The generator's own data (no map iteration) never needs the library."""
    program = compile_native("x in l && m.a.b == 'q' || size(l) > 2")
    for value in (1, "q", 2.5, None, [1], {"a": 1}, True):
        variables = {"x": value, "l": [value, 1, "a"], "m": {"a": {"b": value}}}
        assert program(variables) in (True, False)
