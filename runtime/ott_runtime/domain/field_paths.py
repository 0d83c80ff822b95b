"""Which event fields exist: the paths rules may read, from the events' JSON Schemas.

A rule over a field no event of its ``appliesTo`` can carry never fires (a missing field
means "does not apply"), and nothing at run time would say so. So every path a rule or an
aggregate reads is looked up here when it compiles, and an unknown one is an error naming
the event types it was looked up on and the closest known paths.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ott_runtime.domain.cel_expressions import Token, tokenize
from ott_runtime.domain.events import event_json_schema

SUGGESTIONS = 3


@dataclass(frozen=True)
class FieldNode:
    """One field: its JSON type (``object``, ``string``, ``number``, ... or ``any``) and,
    for an object, its fields."""

    kind: str
    fields: Mapping[str, FieldNode] = field(default_factory=dict)
    format: str | None = None  # e.g. date-time: an RFC 3339 string


def _node(schema: Mapping[str, Any], definitions: Mapping[str, Any]) -> FieldNode:
    if "$ref" in schema:
        return _node(definitions[schema["$ref"].rsplit("/", 1)[-1]], definitions)
    variants = schema.get("anyOf") or schema.get("oneOf")
    if variants:
        present = [v for v in variants if v.get("type") != "null"]
        if len(present) == 1:
            return _node(present[0], definitions)
        return FieldNode("any")
    kind = schema.get("type", "any")
    if kind == "object" and "properties" in schema:
        fields = {name: _node(sub, definitions) for name, sub in schema["properties"].items()}
        return FieldNode("object", fields)
    return FieldNode(kind if isinstance(kind, str) else "any", format=schema.get("format"))


@functools.cache
def event_fields(event_type: str) -> FieldNode:
    """The field tree of one event type (KeyError for an unknown type)."""
    schema = event_json_schema(event_type)
    return _node(schema, schema.get("$defs", {}))


def lookup(root: FieldNode, path: str) -> FieldNode | None:
    """The node at a dotted path, or None when no such field exists."""
    node = root
    for name in path.split("."):
        if node.kind == "any":
            return node  # below a value of several shapes: not knowable statically
        child = node.fields.get(name)
        if child is None:
            return None
        node = child
    return node


def _all_paths(node: FieldNode, prefix: str = "") -> Iterator[str]:
    for name, child in node.fields.items():
        path = f"{prefix}{name}"
        yield path
        yield from _all_paths(child, f"{path}.")


def closest_paths(path: str, roots: Iterable[FieldNode]) -> list[str]:
    """The known paths closest to a mistyped one: siblings of its last name when its
    parent exists (``viewer.isKid`` -> ``viewer.isKidsProfile``), else whole paths, else
    the same last name under another parent (``device.country`` -> ``geo.country``)."""
    roots = list(roots)
    parent, _, leaf = path.rpartition(".")
    siblings = {
        name
        for root in roots
        for node in [lookup(root, parent) if parent else root]
        if node is not None
        for name in node.fields
    }
    if siblings:
        extended = sorted(n for n in siblings if n.lower().startswith(leaf.lower()))
        close = difflib.get_close_matches(leaf, sorted(siblings), n=SUGGESTIONS, cutoff=0.6)
        close = [*extended, *(n for n in close if n not in extended)][:SUGGESTIONS]
        if close:
            return [f"{parent}.{name}" if parent else name for name in close]
    known = sorted({p for root in roots for p in _all_paths(root)})
    close = difflib.get_close_matches(path, known, n=SUGGESTIONS, cutoff=0.75)
    if close:
        return close
    return [p for p in known if p.rsplit(".", 1)[-1] == leaf][:SUGGESTIONS]


def unknown_path_message(path: str, event_types: Iterable[str]) -> str | None:
    """None when some event of ``event_types`` can carry ``path``; else why not, with the
    closest known paths of those types."""
    types = sorted(set(event_types))
    roots = [event_fields(t) for t in types]
    if not types or any(lookup(root, path) is not None for root in roots):
        return None
    close = closest_paths(path, roots)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return f"unknown event field {path!r}: no {', '.join(types)} event has it{hint}"


@dataclass(frozen=True)
class EventChain:
    """``event.a.b`` in an expression: its tokens ``[start, end)`` and the dotted path."""

    start: int
    end: int
    path: str
    offset: int  # of the first field name


def event_chains(tokens: Sequence[Token]) -> Iterator[EventChain]:
    """Each ``event.a.b`` chain; a method call ends one (``event.content.title.startsWith(
    ...)`` reads ``content.title``), and ``event`` read as a whole or by index is none."""
    for index, token in enumerate(tokens):
        if token.kind != "ident" or token.text != "event":
            continue
        if index > 0 and tokens[index - 1].text == ".":
            continue  # a field that happens to be called "event"
        names: list[str] = []
        at = index + 1
        while at + 1 < len(tokens) and tokens[at].text == "." and tokens[at + 1].kind == "ident":
            is_call = at + 2 < len(tokens) and tokens[at + 2].text == "("
            if is_call:
                break
            names.append(tokens[at + 1].text)
            at += 2
        if names:
            yield EventChain(index, at, ".".join(names), tokens[index + 2].offset)


def event_path_reads(source: str) -> Iterator[tuple[int, str]]:
    """(offset, dotted path below ``event``) of each chain of :func:`event_chains`."""
    for chain in event_chains(tokenize(source)):
        yield chain.offset, chain.path
