"""A recursive-descent parser for the subset of CEL the native evaluator runs.

It follows the CEL grammar's precedence (``?:`` < ``||`` < ``&&`` < relations, ``in`` <
``+ -`` < ``* / %`` < unary ``! -`` < member, index, call) and expands the macros
(``has``, ``all``, ``exists``, ``exists_one``, ``map``, ``filter``) as the CEL parser
does. Anything outside the subset raises ``Unsupported``: the caller then keeps the
``cel`` library for that expression. Sources reach this parser only after the library
compiled them, so a syntax error here also means "not ours to judge", not bad input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ott_runtime.domain.cel_expressions import Token, tokenize

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class Unsupported(ValueError):
    """The expression uses something the native evaluator does not reproduce exactly."""


@dataclass(frozen=True, slots=True)
class Literal:
    value: object


@dataclass(frozen=True, slots=True)
class Ident:
    name: str


@dataclass(frozen=True, slots=True)
class Select:
    operand: Node
    field: str


@dataclass(frozen=True, slots=True)
class Has:
    operand: Node
    field: str


@dataclass(frozen=True, slots=True)
class Index:
    operand: Node
    index: Node


@dataclass(frozen=True, slots=True)
class Call:
    """A global call (``target`` None) or a method call ``target.function(args)``."""

    function: str
    target: Node | None
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Conditional:
    condition: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class MapLit:
    entries: tuple[tuple[str, Node], ...]


@dataclass(frozen=True, slots=True)
class Comprehension:
    """``target.kind(var, predicate)``; for ``map`` also an optional filter."""

    kind: str
    target: Node
    var: str
    body: Node
    filter: Node | None = None


Node = (
    Literal | Ident | Select | Has | Index | Call | Unary | Binary | Conditional | ListLit
    | MapLit | Comprehension
)  # fmt: skip

_RELATIONS = frozenset({"==", "!=", "<", "<=", ">", ">=", "in"})
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_RESERVED = frozenset(
    {
        "as", "break", "const", "continue", "else", "for", "function", "if", "import",
        "let", "loop", "package", "namespace", "return", "var", "void", "while",
    }
)  # fmt: skip
_ESCAPE = re.compile(
    r"\\(?:([abfnrtv\\?\"'`])|x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([0-3][0-7]{2}))"
    r"|\\"
)
_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", "?": "?", '"': '"', "'": "'", "`": "`",
}  # fmt: skip


def parse(source: str) -> Node:
    """The AST of ``source``; ``Unsupported`` for anything outside the subset."""
    tokens = tokenize(source)
    if any(t.kind == "other" for t in tokens):
        raise Unsupported("unexpected character")
    parser = _Parser(tokens)
    node = parser.expression()
    if parser.index != len(tokens):
        raise Unsupported(f"unexpected {parser.peek_text()!r}")
    return node


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek_text(self) -> str:
        return self.tokens[self.index].text if self.index < len(self.tokens) else ""

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise Unsupported("unexpected end of expression")
        self.index += 1
        return token

    def accept(self, text: str) -> bool:
        token = self.peek()
        if token is not None and token.text == text and token.kind in ("op", "ident"):
            self.index += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.accept(text):
            raise Unsupported(f"expected {text!r}, found {self.peek_text()!r}")

    def expression(self) -> Node:
        condition = self.binary(0)
        if self.accept("?"):
            then = self.binary(0)
            self.expect(":")
            return Conditional(condition, then, self.expression())
        return condition

    _LEVELS: tuple[frozenset[str], ...] = (
        frozenset({"||"}),
        frozenset({"&&"}),
        _RELATIONS,
        frozenset({"+", "-"}),
        frozenset({"*", "/", "%"}),
    )

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        operators = self._LEVELS[level]
        left = self.binary(level + 1)
        terms = [left]
        while True:
            token = self.peek()
            if token is None or token.text not in operators or token.kind == "string":
                break
            self.index += 1
            if level < 2:
                terms.append(self.binary(level + 1))
            else:
                left = Binary(token.text, left, self.binary(level + 1))
        if level < 2 and len(terms) > 1:
            return _balanced(next(iter(operators)), terms, 0, len(terms) - 2)
        return left

    def unary(self) -> Node:
        """``!``s or ``-``s then a member, as CEL's grammar has it (no mixing): an even run
        cancels out, whatever the operand (``!!x`` is ``x`` even for a null, as the library
        parses it), an odd one is one operator."""
        for op in ("!", "-"):
            count = 0
            while self.accept(op):
                count += 1
            if not count:
                continue
            if count % 2 == 0:
                return self.member()
            if op == "-":
                literal = self._negative_literal()
                if literal is not None:
                    return literal
            return Unary(op, self.member())
        return self.member()

    def _negative_literal(self) -> Literal | None:
        """After an odd run of minuses, a number that is not the start of a member: a
        negative literal (-9223372036854775808 is a valid int, its negation is not)."""
        token = self.peek()
        following = self.tokens[self.index + 1].text if self.index + 1 < len(self.tokens) else ""
        if token is None or token.kind != "number" or following in (".", "["):
            return None
        self.index += 1
        return Literal(_number(token.text, negative=True))

    def member(self) -> Node:
        node = self.primary()
        while True:
            if self.accept("."):
                name = self.take()
                if name.kind != "ident":
                    raise Unsupported("member name expected")
                if self.accept("("):
                    node = self._method(node, name.text, self.arguments(")"))
                else:
                    node = Select(node, name.text)
            elif self.accept("["):
                if self.peek_text() == "?":
                    raise Unsupported("optional index")
                index = self.expression()
                self.expect("]")
                node = Index(node, index)
            else:
                return node

    def arguments(self, closing: str) -> tuple[Node, ...]:
        args: list[Node] = []
        if self.accept(closing):
            return ()
        while True:
            args.append(self.expression())
            if self.accept(closing):
                return tuple(args)
            self.expect(",")
            if self.accept(closing):  # a trailing comma
                return tuple(args)

    def _method(self, target: Node, name: str, args: tuple[Node, ...]) -> Node:
        if name in _MACROS:
            if not args or not isinstance(args[0], Ident):
                raise Unsupported(f"{name}() needs a variable name")
            var = args[0].name
            if len(args) == 2:
                return Comprehension(name, target, var, args[1])
            if name == "map" and len(args) == 3:
                return Comprehension(name, target, var, args[2], filter=args[1])
            raise Unsupported(f"{name}() with {len(args)} arguments")
        return Call(name, target, args)

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "number":
            return Literal(_number(token.text, negative=False))
        if token.kind == "string":
            return Literal(_string(token.text))
        if token.kind == "ident":
            return self._identifier(token.text)
        if token.text == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if token.text == "[":
            return ListLit(self.arguments("]"))
        if token.text == "{":
            return self._map()
        raise Unsupported(f"unexpected {token.text!r}")

    def _identifier(self, name: str) -> Node:
        if name in ("true", "false"):
            return Literal(name == "true")
        if name == "null":
            return Literal(None)
        if name == "in" or name in _RESERVED:
            raise Unsupported(f"reserved word {name!r}")
        if self.accept("("):
            args = self.arguments(")")
            if name == "has":
                if len(args) != 1 or not isinstance(args[0], Select):
                    raise Unsupported("has() needs a field selection")
                return Has(args[0].operand, args[0].field)
            return Call(name, None, args)
        if self.peek_text() == "{":
            raise Unsupported("message construction")
        return Ident(name)

    def _map(self) -> Node:
        entries: list[tuple[str, Node]] = []
        if self.accept("}"):
            return MapLit(())
        while True:
            key = self.expression()
            if not isinstance(key, Literal) or type(key.value) is not str:
                raise Unsupported("map keys other than string literals")
            self.expect(":")
            entries.append((key.value, self.expression()))
            if self.accept("}"):
                break
            self.expect(",")
            if self.accept("}"):
                break
        return MapLit(tuple(entries))


def _balanced(op: str, terms: list[Node], lo: int, hi: int) -> Node:
    """A chain ``t0 && t1 && ... && tn`` as the CEL parser nests it: a balanced tree over
    the operators ``lo..hi`` (not left to right), which decides whose error an
    all-failing chain reports: ``a && b && c && d`` is ``(a && b) && (c && d)``."""
    mid = (lo + hi + 1) // 2
    left = terms[mid] if mid == lo else _balanced(op, terms, lo, mid - 1)
    right = terms[mid + 1] if mid == hi else _balanced(op, terms, mid + 1, hi)
    return Binary(op, left, right)


def _number(text: str, *, negative: bool) -> int | float:
    if text[-1] in "uU":
        raise Unsupported("unsigned integers")
    sign = -1 if negative else 1
    if text[:2] in ("0x", "0X"):
        value: int | float = sign * int(text[2:], 16)
    elif any(c in text for c in ".eE"):
        return sign * float(text)
    else:
        value = sign * int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise Unsupported("integer literal out of range")
    return value


def _string(text: str) -> str:
    prefix = ""
    while text[0] in "rRbB":
        prefix += text[0].lower()
        text = text[1:]
    if "b" in prefix:
        raise Unsupported("bytes literals")
    quote = 3 if text[:3] in ('"""', "'''") else 1
    body = text[quote:-quote]
    if "r" in prefix:
        return body

    def unescape(match: re.Match[str]) -> str:
        simple, hex2, hex4, hex8, octal = match.groups()
        if simple is not None:
            return _SIMPLE_ESCAPES[simple]
        if match.group() == "\\":
            raise Unsupported("unknown escape")
        code = int(hex2 or hex4 or hex8, 16) if octal is None else int(octal, 8)
        if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            raise Unsupported("escape outside Unicode scalar values")
        return chr(code)

    return _ESCAPE.sub(unescape, body)
