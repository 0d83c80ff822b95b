"""Static checks of one rule or aggregate before it compiles: event types, CEL syntax,
parameters and aggregates it names, the event fields it reads (:mod:`.field_paths`) and
its message placeholders. Each problem is a :class:`RuleError` at its line and column."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cel

from ott_runtime.domain.cel_cost import cost_problem
from ott_runtime.domain.cel_expressions import (
    check_expression,
    compile_expression,
    position,
    template_paths,
)
from ott_runtime.domain.event_schema import EventExtension
from ott_runtime.domain.events import EVENT_TYPES
from ott_runtime.domain.field_paths import (
    event_path_reads,
    extension_problems,
    unknown_path_message,
)
from ott_runtime.domain.regulation import Aggregate, Rule
from ott_runtime.domain.resolution import ResolvedRule
from ott_runtime.domain.static_types import type_problems


@dataclass(frozen=True)
class RuleError:
    """A compile error; ``line``/``column`` are 1-based within the ``field`` text."""

    regulation: str
    rule_id: str
    line: int
    column: int
    message: str
    field: str = "when"

    def __str__(self) -> str:
        return f"{self.regulation}/{self.rule_id}:{self.line}:{self.column}: {self.message}"


class RuleCompileError(ValueError):
    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = errors
        listed = "\n".join(f"  {e}" for e in errors)
        super().__init__(f"{len(errors)} rule error(s):\n{listed}")


def check_rule(
    regulation: str,
    rule: Rule | ResolvedRule,
    parameters: Mapping[str, Any],
    aggregates: set[str],
    extensions: Mapping[str, EventExtension] | None = None,
) -> tuple[cel.Program | None, list[RuleError]]:
    """Compile and statically check one rule; (program, []) when it is fine."""
    errors: list[RuleError] = []
    for event_type in rule.applies_to:
        if event_type not in EVENT_TYPES:
            errors.append(
                RuleError(regulation, rule.id, 1, 1,
                          f"appliesTo {event_type!r} is not an event type of specVersion 1 "
                          f"({', '.join(EVENT_TYPES)})", field="appliesTo")
            )  # fmt: skip
    program, problems = compile_expression(rule.when)
    if program is not None:
        problems = check_expression(
            rule.when, parameters=parameters, aggregates=aggregates, program=program
        )
    errors.extend(RuleError(regulation, rule.id, p.line, p.column, p.message) for p in problems)
    known_types = [t for t in rule.applies_to if t in EVENT_TYPES]
    if program is not None and not problems:
        for offset, path in event_path_reads(rule.when):
            unknown = unknown_path_message(path, known_types, extensions)
            if unknown:
                line, column = position(rule.when, offset)
                errors.append(RuleError(regulation, rule.id, line, column, unknown))
        for offset, mismatch in type_problems(rule.when, known_types, extensions):
            line, column = position(rule.when, offset)
            errors.append(RuleError(regulation, rule.id, line, column, mismatch))
        costly = cost_problem(rule.when)
        if costly:
            errors.append(RuleError(regulation, rule.id, 1, 1, costly))
    for offset, path in template_paths(rule.message):
        root, _, rest = path.partition(".")
        name = rest.split(".")[0]
        bad = (
            f"unknown root {root!r} (use event, params or aggregates)"
            if root not in ("event", "params", "aggregates")
            else f"unknown parameter {name!r}"
            if root == "params" and name not in parameters
            else f"unknown aggregate {name!r}"
            if root == "aggregates" and name not in aggregates
            else unknown_path_message(rest, known_types, extensions)
            if root == "event" and rest
            else None
        )
        if bad:
            line, column = position(rule.message, offset)
            errors.append(
                RuleError(regulation, rule.id, line, column, f"message: {bad}", field="message")
            )
    return (program if not errors else None), errors


def check_aggregate(
    regulation: str,
    aggregate: Aggregate,
    parameters: Mapping[str, Any],
    extensions: Mapping[str, EventExtension] | None = None,
) -> list[RuleError]:
    """Errors in an aggregate's ``of`` and ``where`` (which may read event and params)."""
    errors: list[RuleError] = []
    if aggregate.of not in EVENT_TYPES:
        errors.append(
            RuleError(regulation, aggregate.name, 1, 1,
                      f"of {aggregate.of!r} is not an event type of specVersion 1", field="of")
        )  # fmt: skip
    if aggregate.where is not None:
        program, problems = compile_expression(aggregate.where)
        if program is not None:
            problems = check_expression(
                aggregate.where, parameters=parameters, aggregates=(), program=program
            )
        errors.extend(
            RuleError(regulation, aggregate.name, p.line, p.column, p.message, field="where")
            for p in problems
        )
        if program is not None and not problems:
            for offset, path in event_path_reads(aggregate.where):
                unknown = unknown_path_message(path, [aggregate.of], extensions)
                if unknown:
                    line, column = position(aggregate.where, offset)
                    errors.append(
                        RuleError(regulation, aggregate.name, line, column, unknown, "where")
                    )
            for offset, mismatch in type_problems(aggregate.where, [aggregate.of], extensions):
                line, column = position(aggregate.where, offset)
                errors.append(
                    RuleError(regulation, aggregate.name, line, column, mismatch, "where")
                )
            costly = cost_problem(aggregate.where)
            if costly:
                errors.append(RuleError(regulation, aggregate.name, 1, 1, costly, "where"))
    if aggregate.of in EVENT_TYPES:
        named = [("field", aggregate.field)] if aggregate.field else []
        for key, path in [*named, *(("groupBy", p) for p in aggregate.group_by)]:
            unknown = unknown_path_message(path, [aggregate.of], extensions)
            if unknown:
                errors.append(RuleError(regulation, aggregate.name, 1, 1, unknown, field=key))
    return errors


def check_extensions(extensions: Mapping[str, EventExtension]) -> list[RuleError]:
    """Each declared extension that does not extend the event schema, as an error of
    ``eventSchema/<path>``."""
    return [
        RuleError("eventSchema", path, 1, 1, message, field="eventSchema")
        for path, message in extension_problems(extensions)
    ]
