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
from dataclasses import dataclass, field, replace
from typing import Any

from ott_runtime.domain.cel_expressions import Token, tokenize
from ott_runtime.domain.event_schema import JSON_TYPES, EventExtension, applies_to
from ott_runtime.domain.events import EVENT_TYPES, event_json_schema

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
def _schema_fields(event_type: str) -> FieldNode:
    schema = event_json_schema(event_type)
    return _node(schema, schema.get("$defs", {}))


def _with(node: FieldNode, names: list[str], leaf: FieldNode) -> FieldNode:
    head, *rest = names
    if not rest:
        return replace(node, fields={**node.fields, head: leaf})
    child = node.fields.get(head)
    if child is None or child.kind != "object":
        return node  # no such parent: extension_problems reports it
    return replace(node, fields={**node.fields, head: _with(child, rest, leaf)})


def event_fields(
    event_type: str, extensions: Mapping[str, EventExtension] | None = None
) -> FieldNode:
    """The field tree of one event type (KeyError for an unknown type), with the declared
    extensions that apply to it."""
    tree = _schema_fields(event_type)
    for extension in (extensions or {}).values():
        if applies_to(extension, event_type):
            leaf = FieldNode(JSON_TYPES[extension.type])
            tree = _with(tree, extension.path.split("."), leaf)
    return tree


def extension_problems(extensions: Mapping[str, EventExtension]) -> list[tuple[str, str]]:
    """(path, why) of each extension that does not extend the schema: its parent is no
    object of any event type it applies to, or the field exists already."""
    problems: list[tuple[str, str]] = []
    for path, extension in extensions.items():
        parent, _, _ = path.rpartition(".")
        types = [t for t in EVENT_TYPES if applies_to(extension, t)]
        unknown = [t for t in extension.event_types if t not in EVENT_TYPES]
        if unknown:
            problems.append((path, f"eventTypes: unknown event type(s) {', '.join(unknown)}"))
            continue
        roots = [_schema_fields(t) for t in types]
        if any(lookup(root, path) is not None for root in roots):
            problems.append((path, f"{path!r} is a field of the event schema already"))
        elif not any((node := lookup(root, parent)) and node.kind == "object" for root in roots):
            problems.append(
                (path, f"{parent!r} is not an object of the event schema: extend one that is "
                 "(viewer, device, geo, content, playback, ad, ...)")
            )  # fmt: skip
    return problems


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


def unknown_path_message(
    path: str,
    event_types: Iterable[str],
    extensions: Mapping[str, EventExtension] | None = None,
) -> str | None:
    """None when some event of ``event_types`` can carry ``path`` (ours or a declared
    extension); else why not, with the closest known paths of those types."""
    types = sorted(set(event_types))
    roots = [event_fields(t, extensions) for t in types]
    if not types or any(lookup(root, path) is not None for root in roots):
        return None
    close = closest_paths(path, roots)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return (
        f"unknown event field {path!r}: no {', '.join(types)} event has it{hint}; a platform's "
        "own field can be declared in spec.eventSchema.extensions"
    )


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
