"""CEL source handling shared by rules and aggregates: compile with positioned errors,
static checks the library does not make, and the variable rewrite that lets one
evaluation context serve every regulation.

The CEL library (``cel``, Rust core) parses and evaluates but has no type checker, so
the checks here are lexical: a small tokenizer finds the top-level operator (to refuse
conditions that cannot be boolean), the ``params.<name>`` / ``aggregates.<name>``
references (to refuse names the set does not define) and the functions called (to
refuse functions the library does not provide, which it would only notice when run).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import cel

# Functions the `cel` library evaluates without extensions (macros such as has(),
# exists() and map() are expanded by the parser and never appear as calls).
KNOWN_FUNCTIONS = frozenset(
    {
        "size", "matches", "startsWith", "endsWith", "contains", "timestamp", "duration",
        "int", "uint", "double", "string", "bytes", "dyn", "type", "getHours", "getMinutes",
        "getSeconds", "getMilliseconds", "getDayOfWeek", "getDayOfMonth", "getDate",
        "getDayOfYear", "getMonth", "getFullYear",
    }
)  # fmt: skip
# Calls whose result is never a bool: a condition that is one of them cannot be a rule.
NON_BOOLEAN_CALLS = frozenset(
    {
        "size", "int", "uint", "double", "string", "bytes", "timestamp", "duration", "type",
        "getHours", "getMinutes", "getSeconds", "getMilliseconds", "getDayOfWeek",
        "getDayOfMonth", "getDate", "getDayOfYear", "getMonth", "getFullYear", "map", "filter",
    }
)  # fmt: skip
ROOT_VARIABLES = ("event", "params", "aggregates")

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*)
  | (?P<string>[rRbB]{0,2}(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''
                 |"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'))
  | (?P<number>0[xX][0-9a-fA-F]+[uU]?|[0-9]+\.[0-9]*(?:[eE][+-]?[0-9]+)?
                 |\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+(?:[eE][+-]?[0-9]+)?[uU]?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||==|!=|<=|>=|[<>!?:+\-*/%.,\[\]{}()])
  | (?P<other>.)
    """,
    re.VERBOSE,
)
_CEL_ERROR = re.compile(r"ERROR: <input>:(\d+):(\d+): ([^\n]*)")
_OPERAND_END = {"ident", "number", "string"}
_RELATIONS = {"==", "!=", "<", "<=", ">", ">="}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    offset: int


@dataclass(frozen=True, slots=True)
class ExpressionProblem:
    """A problem at ``line``/``column`` (1-based) of the expression's own text."""

    line: int
    column: int
    message: str


def tokenize(source: str) -> list[Token]:
    """Significant tokens (no whitespace or comments) with their offsets."""
    return [
        Token(m.lastgroup or "other", m.group(), m.start())
        for m in _TOKEN.finditer(source)
        if m.lastgroup not in ("ws", "comment")
    ]


def position(source: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``source``."""
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


def compile_expression(source: str) -> tuple[cel.Program | None, list[ExpressionProblem]]:
    """Compile ``source``; on failure return the compiler's messages with their positions."""
    try:
        return cel.compile(source), []
    except (ValueError, RuntimeError, TypeError) as exc:
        text = str(exc)
        problems = [
            ExpressionProblem(int(m.group(1)), int(m.group(2)), m.group(3).strip())
            for m in _CEL_ERROR.finditer(text)
        ]
        return None, problems or [ExpressionProblem(1, 1, text.splitlines()[0])]


def _root_references(tokens: list[Token]) -> Iterator[tuple[int, Token, Token | None]]:
    """(index, root token, member token) for each ``root.member`` / bare ``root`` use."""
    for index, token in enumerate(tokens):
        if token.kind != "ident" or token.text not in ROOT_VARIABLES:
            continue
        if index > 0 and tokens[index - 1].text == ".":
            continue  # a field that happens to be called e.g. "params"
        member = None
        followed = index + 2 < len(tokens) and tokens[index + 1].text == "."
        if followed and tokens[index + 2].kind == "ident":
            member = tokens[index + 2]
        yield index, token, member


def check_expression(
    source: str,
    *,
    parameters: Collection[str],
    aggregates: Collection[str],
    program: cel.Program,
    boolean: bool = True,
) -> list[ExpressionProblem]:
    """Static checks on a compiled expression; an empty list means none found."""
    tokens = tokenize(source)
    problems: list[ExpressionProblem] = []

    def at(token: Token, message: str) -> None:
        problems.append(ExpressionProblem(*position(source, token.offset), message))

    for token in tokens:
        if token.kind == "ident" and token.text.startswith("__"):
            at(token, f"identifier {token.text!r}: names starting with '__' are reserved")
    for _, root, member in _root_references(tokens):
        if member is None:
            continue
        if root.text == "params" and member.text not in parameters:
            known = ", ".join(sorted(parameters)) or "none"
            at(member, f"unknown parameter {member.text!r} (this set defines: {known})")
        if root.text == "aggregates" and member.text not in aggregates:
            known = ", ".join(sorted(aggregates)) or "none"
            at(member, f"unknown aggregate {member.text!r} (this set defines: {known})")
    called = set(program.functions())
    for index, token in enumerate(tokens):
        is_call = index + 1 < len(tokens) and tokens[index + 1].text == "("
        unknown = token.text in called and token.text not in KNOWN_FUNCTIONS
        if token.kind == "ident" and is_call and unknown:
            at(token, f"unknown function {token.text!r}")
    if boolean and not problems:
        problem = _non_boolean(source, tokens)
        if problem:
            problems.append(problem)
    return problems


def _non_boolean(source: str, tokens: list[Token]) -> ExpressionProblem | None:
    """Detect conditions whose top level is arithmetic or a non-boolean literal."""
    depth = 0
    lowest: tuple[int, Token] | None = None  # (precedence class, token); lower binds looser
    previous: Token | None = None
    for token in tokens:
        text = token.text
        if text in "([{" and token.kind == "op":
            depth += 1
        elif text in ")]}" and token.kind == "op":
            depth -= 1
        elif depth == 0:
            rank = None
            if text == "?":
                rank = 0
            elif text in ("||", "&&"):
                rank = 1
            elif text in _RELATIONS or (token.kind == "ident" and text == "in"):
                rank = 2
            elif text in ("+", "-") and previous is not None:
                if previous.kind in _OPERAND_END or previous.text in ")]}":
                    rank = 3
            elif text in ("*", "/", "%"):
                rank = 3
            if rank is not None and (lowest is None or rank < lowest[0]):
                lowest = (rank, token)
        previous = token
    if lowest is not None:
        rank, token = lowest
        if rank == 3:
            line, column = position(source, token.offset)
            return ExpressionProblem(
                line,
                column,
                f"condition must be boolean (true = violation), but its top level is "
                f"the arithmetic operator {token.text!r}",
            )
        return None
    first = tokens[0] if tokens else None
    literal = len(tokens) == 1 and first is not None and first.kind in ("number", "string")
    whole = _outermost_group(tokens)
    if first is not None and (
        literal
        or first.text in ("-", "null")
        or (whole is not None and whole.text in ("[", "{") and whole is first)
    ):
        line, column = position(source, first.offset)
        return ExpressionProblem(
            line, column, "condition must be boolean (true = violation), not a value"
        )
    if whole is not None and whole.kind == "ident" and whole.text in NON_BOOLEAN_CALLS:
        line, column = position(source, whole.offset)
        return ExpressionProblem(
            line,
            column,
            f"condition must be boolean (true = violation), but {whole.text}() gives a value",
        )
    return None


def _outermost_group(tokens: list[Token]) -> Token | None:
    """The token that opens the group ending the expression, when that group spans to
    the end: the function name of an outermost call, or a list/map literal's bracket."""
    depth = 0
    opened: Token | None = None
    for index, token in enumerate(tokens):
        if token.kind != "op":
            continue
        if token.text in "([{":
            if depth == 0:
                before = tokens[index - 1] if index else None
                is_call = token.text == "(" and before is not None and before.kind == "ident"
                opened = before if is_call else token
            depth += 1
        elif token.text in ")]}":
            depth -= 1
            if depth == 0 and index == len(tokens) - 1:
                return opened
    return None


def event_sections(sources: Iterable[str]) -> frozenset[str] | None:
    """The top-level event fields (``viewer``, ``time``...) the expressions read, or None
    when one reads ``event`` as a whole. Converting only those to CEL is cheaper."""
    sections: set[str] = set()
    for source in sources:
        for _, root, member in _root_references(tokenize(source)):
            if root.text != "event":
                continue
            if member is None:
                return None
            sections.add(member.text)
    return frozenset(sections)


def trim_event(event: Mapping[str, Any], sections: frozenset[str] | None) -> dict[str, Any]:
    """``event`` reduced to ``sections`` (all of it when None)."""
    if sections is None:
        return event if isinstance(event, dict) else dict(event)
    return {key: event[key] for key in sections if key in event}


def event_paths(sources: Iterable[str]) -> dict[str, frozenset[str] | None] | None:
    """Like ``event_sections`` one level deeper: per top-level event field the expressions
    read, the fields below it they read (None: all of it, e.g. ``event.viewer.size()``
    or ``"age" in event.viewer``); None when one reads ``event`` as a whole."""
    paths: dict[str, set[str] | None] = {}
    for source in sources:
        tokens = tokenize(source)
        for index, root, member in _root_references(tokens):
            if root.text != "event":
                continue
            after = [t.text for t in tokens[index + 3 : index + 6]]
            if member is None or after[:1] == ["("]:  # e.g. event.size(): the whole event
                return None
            presence = [t.text for t in tokens[max(index - 2, 0) : index]] == ["has", "("]
            if presence and after[:1] == [")"]:  # has(event.viewer) reads no field of it
                paths.setdefault(member.text, set())
                continue
            below = None
            if after[:1] == ["."] and tokens[index + 4].kind == "ident" and after[2:3] != ["("]:
                below = after[1]
            known = paths.setdefault(member.text, set())
            if below is None:
                paths[member.text] = None
            elif known is not None:
                known.add(below)
    return {name: None if below is None else frozenset(below) for name, below in paths.items()}


def trim_event_paths(
    event: Mapping[str, Any], paths: Mapping[str, frozenset[str] | None] | None
) -> dict[str, Any]:
    """``event`` reduced to ``paths`` (see ``event_paths``): converting an event to CEL
    costs per value, so only what the expressions can read is kept."""
    if paths is None:
        return event if isinstance(event, dict) else dict(event)
    trimmed: dict[str, Any] = {}
    for name, below in paths.items():
        if name not in event:
            continue
        value = event[name]
        if below is None or not isinstance(value, dict):
            trimmed[name] = value
        else:
            trimmed[name] = {key: value[key] for key in below if key in value}
    return trimmed


def cel_literal(value: Any) -> str:
    """``value`` (JSON-like) as CEL source: ``[1, "a"]``, ``{"DE": 16}``, ``0.3``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no CEL literal")
        text = repr(value)
        return text if any(c in text for c in ".eE") else f"{text}.0"
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid CEL escapes
    if isinstance(value, list | tuple):
        return "[" + ", ".join(cel_literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = (f"{cel_literal(k)}: {cel_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise ValueError(f"{type(value).__name__} has no CEL literal")


def rewrite_roots(
    source: str,
    aliases: Mapping[str, str],
    constants: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """Rename root variables (``aggregates`` -> ``__a3``) and inline constant ones
    (``params.maxSeconds`` -> ``(60)``).

    Why: the CEL library converts every variable of a context again whenever one of them
    changes, so per-tenant constants kept as variables would be converted for every
    event; as literals they cost nothing per event. Aliases let the rules of several
    sets share one context in which the event is converted once.
    """
    tokens = tokenize(source)
    out: list[str] = []
    cursor = 0
    for _, root, member in _root_references(tokens):
        values = (constants or {}).get(root.text)
        if values is not None:
            if member is not None and member.text in values:
                replacement = f"({cel_literal(values[member.text])})"
                end = member.offset + len(member.text)
            else:
                replacement = f"({cel_literal(dict(values))})"
                end = root.offset + len(root.text)
        elif root.text in aliases:
            replacement, end = aliases[root.text], root.offset + len(root.text)
        else:
            continue
        out.append(source[cursor : root.offset])
        out.append(replacement)
        cursor = end
    out.append(source[cursor:])
    return "".join(out)


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")


def template_paths(template: str) -> Iterator[tuple[int, str]]:
    """(offset, dotted path) of every ``{{path}}`` placeholder."""
    for match in _PLACEHOLDER.finditer(template):
        yield match.start(1), match.group(1)


REDACTED = "[encrypted]"


@functools.lru_cache(maxsize=4096)  # a tenant's few message paths, asked on every hit
def _redacted(path: str, hidden: frozenset[str]) -> bool:
    return any(path == h or path.startswith(f"{h}.") or h.startswith(f"{path}.") for h in hidden)


def render_template(
    template: str, scopes: Mapping[str, Any], hidden: frozenset[str] = frozenset()
) -> str:
    """Fill ``{{params.x}}``, ``{{event.a.b}}``, ``{{aggregates.y}}``; unknown -> ``?``.
    A path in ``hidden``, below one, or above one (an object holding it) gives REDACTED."""
    if "{{" not in template:
        return template

    def fill(match: re.Match[str]) -> str:
        path = match.group(1)
        if hidden and _redacted(path, hidden):
            return REDACTED
        value: Any = scopes
        for part in path.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return "?"
            value = value[part]
        return format_value(value)

    return _PLACEHOLDER.sub(fill, template)


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value):
            return str(int(value))
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(format_value(v) for v in value)
    return str(value)
