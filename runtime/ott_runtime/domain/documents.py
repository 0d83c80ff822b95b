"""Load RegulationSet and ComplianceTenant YAML files with source positions.

Documents are composed with PyYAML's node API so every value keeps its start mark;
validation errors and CEL errors are reported as ``file:line:col`` in the file, not in
the parsed object. Used by ``ottc validate`` and by standalone mode (``--config``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ott_runtime.domain.regulation import RegulationSet
from ott_runtime.domain.tenant import ComplianceTenant

Loc = tuple[str | int, ...]
# Plain words YAML 1.1 parsers (PyYAML, and the Go YAML behind kubectl) read as booleans:
# `NO` (Norway) in a country list silently becomes false.
YAML11_BOOLEAN_WORDS = frozenset({"y", "n", "yes", "no", "on", "off"})
DOCUMENT_KINDS: dict[str, type[RegulationSet] | type[ComplianceTenant]] = {
    "RegulationSet": RegulationSet,
    "ComplianceTenant": ComplianceTenant,
}


@dataclass(frozen=True)
class DocumentError:
    """A problem at a 1-based ``line``/``column`` of ``file``; ``rule_id`` ``-`` if none."""

    file: str
    line: int
    column: int
    message: str
    rule_id: str = "-"

    def __str__(self) -> str:
        return f"{self.file}:{self.rule_id}:{self.line}:{self.column}: {self.message}"


class DocumentErrors(ValueError):
    def __init__(self, errors: list[DocumentError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass
class SourceDocument:
    """One YAML document of a file, its data and the node behind every path."""

    file: str
    index: int
    data: Any
    nodes: dict[Loc, yaml.Node] = field(repr=False)
    source: str = field(repr=False)

    @property
    def kind(self) -> str | None:
        return self.data.get("kind") if isinstance(self.data, dict) else None

    def boolean_lookalikes(self) -> list[DocumentError]:
        """Unquoted y/n/yes/no/on/off anywhere (keys too): they are read as booleans."""
        found: list[DocumentError] = []
        pending: list[yaml.Node] = [self.nodes[()]]
        while pending:
            node = pending.pop()
            if isinstance(node, yaml.MappingNode):
                pending.extend(n for pair in node.value for n in pair)
            elif isinstance(node, yaml.SequenceNode):
                pending.extend(node.value)
            elif (
                isinstance(node, yaml.ScalarNode)
                and node.style is None
                and str(node.value).lower() in YAML11_BOOLEAN_WORDS
            ):
                mark = node.start_mark
                message = f"{node.value!r} is read as a boolean by YAML 1.1 (kubectl): quote it"
                found.append(DocumentError(self.file, mark.line + 1, mark.column + 1, message))
        return sorted(found, key=lambda e: (e.line, e.column))

    def node_at(self, loc: Iterable[str | int]) -> yaml.Node:
        """The node of the deepest prefix of ``loc`` present in the file."""
        path = tuple(loc)
        while path not in self.nodes:
            path = path[:-1]
        return self.nodes[path]

    def position(self, loc: Iterable[str | int]) -> tuple[int, int]:
        mark = self.node_at(loc).start_mark
        return mark.line + 1, mark.column + 1

    def expression_position(self, loc: Loc, line: int, column: int) -> tuple[int, int]:
        """Map ``line``/``column`` inside the scalar at ``loc`` to the file."""
        node = self.node_at(loc)
        if not isinstance(node, yaml.ScalarNode) or node.start_mark.line == node.end_mark.line:
            quote = 1 if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"') else 0
            start = node.start_mark
            return start.line + 1, start.column + 1 + quote + column - 1
        lines = self.source.splitlines()
        # Block scalars start on the line after their `|-` / `>-` header; their indentation
        # is that of the first non-blank line.
        block = node.style in ("|", ">")
        first = node.start_mark.line + (1 if block else 0)
        content = lines[first : node.end_mark.line + 1]
        indent = next((len(t) - len(t.lstrip(" ")) for t in content if t.strip()), 0)
        if node.style == "|":
            return first + line, indent + column
        # Folded or multi-line plain/quoted: source lines are joined by one character
        # (a space, or a newline where folding keeps it), so walk the value by offset.
        value_lines = str(node.value).split("\n")
        offset = sum(len(v) + 1 for v in value_lines[: line - 1]) + column - 1
        for number, text in enumerate(content):
            if not text.strip():
                continue
            if block:
                start_col = indent
            elif number == 0:
                quote = 1 if node.style in ("'", '"') else 0
                start_col = node.start_mark.column + quote
            else:
                start_col = len(text) - len(text.lstrip())
            segment = text[start_col:].rstrip() if block else text[start_col:].strip()
            if offset <= len(segment):
                return first + number + 1, start_col + offset + 1
            offset -= len(segment) + 1
        end = node.end_mark
        return end.line + 1, end.column + 1


def _index(node: yaml.Node, path: Loc, nodes: dict[Loc, yaml.Node]) -> None:
    nodes[path] = node
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            _index(value_node, (*path, str(key_node.value)), nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index(item, (*path, i), nodes)


def load_documents(file: str | Path, text: str | None = None) -> list[SourceDocument]:
    """Every non-empty document of a YAML file; raises DocumentErrors on bad YAML."""
    name = str(file)
    source = Path(file).read_text(encoding="utf-8") if text is None else text
    loader = yaml.SafeLoader(source)
    documents: list[SourceDocument] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            nodes: dict[Loc, yaml.Node] = {}
            _index(node, (), nodes)
            documents.append(SourceDocument(name, len(documents), data, nodes, source))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise DocumentErrors([DocumentError(name, line, column, f"YAML: {problem}")]) from exc
    finally:
        loader.dispose()
    return documents


def _message(error: Any) -> str:
    loc = ".".join(str(p) for p in error["loc"])
    text = str(error["msg"]).removeprefix("Value error, ")
    return f"{loc}: {text}" if loc else text


def parse_document(document: SourceDocument) -> RegulationSet | ComplianceTenant:
    """The typed resource; raises DocumentErrors positioned at the offending fields."""
    if not isinstance(document.data, dict):
        line, column = document.position(())
        raise DocumentErrors(
            [DocumentError(document.file, line, column, "document is not a mapping")]
        )
    model = DOCUMENT_KINDS.get(str(document.kind))
    if model is None:
        line, column = document.position(("kind",))
        known = ", ".join(DOCUMENT_KINDS)
        message = f"kind: {document.kind!r} is not one of {known}"
        raise DocumentErrors([DocumentError(document.file, line, column, message)])
    try:
        return model.model_validate(document.data)
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            line, column = document.position(error["loc"])
            errors.append(DocumentError(document.file, line, column, _message(error)))
        raise DocumentErrors(errors) from exc


def iter_yaml_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files as given, directories expanded to their *.yaml / *.yml files (sorted)."""
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        else:
            yield path


def load_resources(
    paths: Iterable[str | Path],
) -> tuple[dict[str, RegulationSet], dict[str, ComplianceTenant]]:
    """RegulationSets and ComplianceTenants by name from files or directories; documents of
    other kinds are skipped; raises DocumentErrors listing every invalid document."""
    sets: dict[str, RegulationSet] = {}
    tenants: dict[str, ComplianceTenant] = {}
    errors: list[DocumentError] = []
    for file in iter_yaml_files(paths):
        try:
            documents = load_documents(file)
        except DocumentErrors as exc:
            errors.extend(exc.errors)
            continue
        for document in documents:
            if document.kind not in DOCUMENT_KINDS:
                continue
            try:
                resource = parse_document(document)
            except DocumentErrors as exc:
                errors.extend(exc.errors)
                continue
            known: dict[str, Any] = sets if isinstance(resource, RegulationSet) else tenants
            if resource.name in known:
                line, column = document.position(("metadata", "name"))
                message = f"{document.kind} {resource.name!r} is defined twice"
                errors.append(DocumentError(document.file, line, column, message))
                continue
            known[resource.name] = resource
    if errors:
        raise DocumentErrors(errors)
    return sets, tenants
