"""CEL value semantics on plain Python data, as the ``cel`` library (0.10) evaluates them.

Values are the JSON-like Python objects the pipeline holds: dict (string keys), list,
str, int (int64), float, bool, None. Each behaviour here was checked against the library
(tests/unit/test_cel_native*.py keep checking it); where the library differs from the
CEL specification, the library wins: it is what the rules ran on so far.

Errors are ``CelError`` carrying the builtin exception type the library raises (a
missing map key is a ``KeyError``, which the rule engine counts as "missing"). Data the
native evaluator cannot mirror exactly (an int outside int64, which the library turns
into a uint or a double; a tuple, bytes, a datetime, a non-string map key) raises
``NeedsLibrary`` so the caller evaluates that expression with the library instead.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any, NoReturn

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_NO_OVERLOAD = (
    "No such overload: the operation is not defined for the given operand types. CEL does "
    "not coerce between types, so common causes are mixing int with uint or double "
    "(1 + 2u, 1 + 2.5), indexing into a string, or calling a function with the wrong "
    "argument types. Convert explicitly with int(x), uint(x), double(x) or string(x), or "
    "check the CEL specification."
)


class CelError(Exception):
    """An evaluation error; ``kind`` is the builtin exception the library raises."""

    def __init__(self, kind: type[Exception], message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def as_builtin(self) -> Exception:
        return self.kind(self.message)


_ABSENT = object()


class NeedsLibrary(Exception):
    """This evaluation meets data the native evaluator does not mirror: use the library."""


def no_overload() -> CelError:
    return CelError(TypeError, _NO_OVERLOAD)


def missing(key: str) -> CelError:
    return CelError(KeyError, key)


def undefined(name: str) -> CelError:
    return CelError(
        RuntimeError,
        f"Undefined variable or function: {name!r}. Check that the variable is defined in "
        f"the context or that the function name is spelled correctly.",
    )


def function_error(name: str, detail: str, kind: type[Exception] = RuntimeError) -> CelError:
    return CelError(kind, f"Function {name!r} error: {detail}")


PLAIN_TYPES = frozenset({str, bool, float, type(None), dict, list})


def plain(value: Any) -> Any:
    """``value`` when the native evaluator mirrors it, else ``NeedsLibrary``."""
    kind = type(value)
    if kind in PLAIN_TYPES or (kind is int and INT64_MIN <= value <= INT64_MAX):
        return value
    raise NeedsLibrary


def deep_plain(value: Any) -> Any:
    """``plain`` for a value and everything inside it (results handed back to callers)."""
    plain(value)
    if type(value) is list:
        for item in value:
            deep_plain(item)
    elif type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise NeedsLibrary
            deep_plain(item)
    return value


def kind_name(value: Any) -> str:
    """The library's name of a value's type in its error messages."""
    names = {str: "string", bool: "bool", int: "int", float: "double", type(None): "null"}
    name = names.get(type(value))
    if name is not None:
        return name
    return "list" if type(value) is list else "map"


# --- equality and ordering ---------------------------------------------------------------


def equal(a: Any, b: Any) -> bool:
    """CEL ``==``: int and double compare as doubles; a bool never equals a number."""
    ta, tb = type(a), type(b)
    if ta is tb:
        if ta is list:
            return len(a) == len(b) and all(
                equal(plain(x), plain(y)) for x, y in zip(a, b, strict=True)
            )
        if ta is dict:
            if len(a) != len(b):
                return False
            for key, value in a.items():
                if type(key) is not str:
                    raise NeedsLibrary
                if key not in b or not equal(plain(value), plain(b[key])):
                    return False
            return True
        return bool(a == b)
    if (ta is int and tb is float) or (ta is float and tb is int):
        return float(a) == float(b)
    return False


def compare(a: Any, b: Any) -> int:
    """-1, 0 or 1 for CEL ordering; a ``no such overload`` error where it has none."""
    ta, tb = type(a), type(b)
    if ta is tb and (ta is int or ta is str or ta is bool):
        return -1 if a < b else (1 if a > b else 0)
    if (ta is int or ta is float) and (tb is int or tb is float):
        x, y = float(a), float(b)
        if x < y:
            return -1
        if x > y:
            return 1
        if x == y:
            return 0
    raise no_overload()  # NaN has no order either


def contains(collection: Any, item: Any) -> bool:
    """CEL ``item in collection`` for a list (by ==) or a map (by key)."""
    kind = type(collection)
    if kind is list:
        return any(equal(item, plain(element)) for element in collection)
    if kind is dict:
        key_kind = type(item)
        if key_kind is str:
            return item in collection
        if key_kind is int or key_kind is bool:
            if any(type(key) is not str for key in collection):
                raise NeedsLibrary
            return False
        raise CelError(
            TypeError,
            f"Value of type {kind_name(item)} cannot be used as a map key. "
            f"Keys must be int, uint, bool or string.",
        )
    raise no_overload()


def select(value: Any, field: str) -> Any:
    """``value.field``: a map's entry, KeyError when it has none."""
    if type(value) is dict:
        found = value.get(field, _ABSENT)
        if found is _ABSENT:
            raise missing(field)  # (a lookup that failed would chain its KeyError to it)
        return plain(found)
    return _not_a_map(value, field)


def has_field(value: Any, field: str) -> bool:
    if type(value) is dict:
        return field in value
    plain(value)
    raise no_overload()


def _not_a_map(value: Any, field: str) -> NoReturn:
    plain(value)
    if type(value) is list:
        raise CelError(TypeError, "Unexpected type: got 'string', want 'int|uint'.")
    raise no_overload()


def index(value: Any, key: Any) -> Any:
    """``value[key]`` on a list (int index) or a map."""
    kind, key_kind = type(value), type(key)
    if kind is list:
        if key_kind is not int:
            got = "null_type" if key is None else kind_name(key)
            raise CelError(TypeError, f"Unexpected type: got {got!r}, want 'int|uint'.")
        if not 0 <= key < len(value):
            raise CelError(IndexError, f"index out of bounds: {key}")
        return plain(value[key])
    if kind is dict:
        if key_kind is str:
            if key in value:
                return plain(value[key])
            raise missing(key)
        if key_kind is int or key_kind is bool:
            if any(type(k) is not str for k in value):
                raise NeedsLibrary
            raise missing(("true" if key else "false") if key_kind is bool else str(key))
        raise no_overload()
    plain(value)
    raise no_overload()


# --- arithmetic ---------------------------------------------------------------------------

_OP_NAMES = {"+": "add", "-": "sub", "*": "mul", "/": "div", "%": "rem"}


def _checked(op: str, a: int, b: int, result: int) -> int:
    if INT64_MIN <= result <= INT64_MAX:
        return result
    raise CelError(OverflowError, f"Arithmetic overflow in {_OP_NAMES[op]!r} on {a} and {b}.")


def _mismatch(op: str, a: Any, b: Any) -> CelError:
    if type(a) is int or (type(a) is list and op == "+"):
        return no_overload()
    return CelError(
        TypeError,
        f"Unsupported operation: {_python_name(a)} {op} {_python_name(b)}. CEL does not "
        f"coerce between types — both operands must be the same type. Convert explicitly "
        f"with int(x), uint(x), double(x) or string(x) as appropriate.",
    )


def _python_name(value: Any) -> str:
    names = {float: "float", str: "string", bool: "bool", type(None): "null"}
    return names.get(type(value)) or kind_name(value)


def arithmetic(op: str, a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta is int and tb is int:
        if op == "+":
            return _checked(op, a, b, a + b)
        if op == "-":
            return _checked(op, a, b, a - b)
        if op == "*":
            return _checked(op, a, b, a * b)
        if b == 0:
            which = "division" if op == "/" else "modulo"
            raise CelError(ZeroDivisionError, f"{which} by zero in CEL expression")
        quotient = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)  # toward zero
        if op == "/":
            return _checked(op, a, b, quotient)
        _checked(op, a, b, quotient)  # INT64_MIN % -1 overflows like the division
        return a - b * quotient
    if ta is float and tb is float:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return _float_product(a, b)
        if op == "/":
            return _float_quotient(a, b)
    elif op == "+" and ta is tb and (ta is str or ta is list):
        return a + b
    elif op == "+" and ta is list and tb is dict:  # the library appends the map's keys
        if len(b) > 1 or any(type(key) is not str for key in b):
            raise NeedsLibrary  # in its hash order
        return a + list(b)
    raise _mismatch(op, a, b)


def _float_product(a: float, b: float) -> float:
    try:
        return a * b
    except OverflowError:  # pragma: no cover - CPython gives inf for products
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _float_quotient(a: float, b: float) -> float:
    if b != 0.0:
        return a / b
    if a == 0.0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def negate(value: Any) -> Any:
    kind = type(value)
    if kind is int:
        return value if value == INT64_MIN else -value  # the library wraps, not fails
    if kind is float:
        return -value
    if kind is bool:  # the library negates a bool as logical not
        return not value
    raise no_overload()


# --- functions ------------------------------------------------------------------------------


def size(value: Any) -> int:
    kind = type(value)
    if kind is str:
        return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
    if kind is list or kind is dict:
        return len(value)
    raise undefined("size")


_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)",
    re.IGNORECASE,
)
_TWO_63 = 9.223372036854775808e18


def to_int(value: Any) -> int:
    kind = type(value)
    if kind is int:
        return int(value)
    if kind is float:
        if -_TWO_63 < value < _TWO_63:
            return int(value)
        raise function_error(
            "int",
            "integer overflow. The value is outside the range of the target type.",
            OverflowError,
        )
    if kind is str:
        if not value:
            detail = "cannot parse integer from empty string"
        elif not _INT_TEXT.fullmatch(value):
            detail = "invalid digit found in string"
        else:
            number = int(value)
            if INT64_MIN <= number <= INT64_MAX:
                return number
            detail = "number too large to fit in target type"
        raise function_error(
            "int", f"string parse error: {detail}. Check function arguments and their types."
        )
    raise undefined("int")


def to_double(value: Any) -> float:
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    if kind is str:
        if _FLOAT_TEXT.fullmatch(value):
            return float(value)
        detail = "cannot parse float from empty string" if not value else "invalid float literal"
        raise function_error(
            "double", f"string parse error: {detail}. Check function arguments and their types."
        )
    raise undefined("double")


def to_string(value: Any) -> str:
    kind = type(value)
    if kind is str or kind is int:
        return str(value)
    if kind is float:
        return _float_text(value)
    raise undefined("string")


def _float_text(value: float) -> str:
    """A double as the library prints it (Rust's ``Display``: shortest digits, no exponent)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def string_test(name: str, text: Any, part: Any) -> bool:
    if type(text) is not str or type(part) is not str:
        raise undefined(name)
    if name == "startsWith":
        return text.startswith(part)
    if name == "endsWith":
        return text.endswith(part)
    return part in text
