"""Bounds on a GraphQL request checked before anything parses it deeply.

The JSON decoder, graphql-core's parser and its validation rules all recurse: variables
nested 100,000 deep or 2,000 chained fragments exhaust Python's stack and came back as a
500. These checks scan the raw text without recursion, so such a request is refused with
a 400 problem document (RFC 9457) first:

- the JSON body (variables, extensions) nests at most ``MAX_JSON_DEPTH`` levels;
- the document has at most ``MAX_DOCUMENT_CHARS`` characters, ``MAX_FRAGMENTS`` fragment
  definitions and ``MAX_DOCUMENT_NESTING`` levels of ``{ ( [``.

Over HTTP a request over them is answered 400; on the socket the operation gets an error
(``DOCUMENT_TOO_LARGE``). Legitimate operations stay far below them (``processEvents``
variables nest about 8 levels, the depth limit allows 10 levels of fields). The JSON depth
check runs where strawberry decodes JSON (``decode_json``): over HTTP the router answers
it with the problem, on the socket it is a message that is not JSON and strawberry closes
the socket with 4400.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, Sequence
from typing import TYPE_CHECKING, Any

from cross_web import AsyncHTTPRequestAdapter
from graphql import GraphQLError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLRequestData
from strawberry.types.execution import PreExecutionError

from ott_runtime.api.problems import Problem

if TYPE_CHECKING:
    _Router = GraphQLRouter[Any, None]
else:
    _Router = object  # a mixin: the router's class comes after it

MAX_JSON_DEPTH = 32
MAX_DOCUMENT_CHARS = 32_768
MAX_FRAGMENTS = 100
MAX_DOCUMENT_NESTING = 64

_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_JSON_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))
_JSON_OPENERS = frozenset(b"[{")
# block strings, strings and comments: brackets and keywords in them do not count
_GRAPHQL_TEXT = re.compile(r'"""[\s\S]*?"""|"(?:[^"\\\n\r]|\\.)*"|#[^\n\r]*')
_FRAGMENT = re.compile(r"\bfragment\s+[_A-Za-z][_0-9A-Za-z]*\s+on\b")
_NOT_GRAPHQL_BRACKET = {ord(c): None for c in map(chr, range(128)) if c not in "{}()[]"}
_GRAPHQL_OPENERS = frozenset("{([")


class JSONTooDeep(json.JSONDecodeError):
    """A JSON text nested deeper than ``MAX_JSON_DEPTH`` (raised before decoding it)."""

    def __init__(self, document: str) -> None:
        super().__init__(f"nested deeper than {MAX_JSON_DEPTH} levels", document, 0)


def json_depth_exceeds(data: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests deeper than ``limit`` (strings skipped; C-speed
    passes, then one over the brackets alone, stopping at the first level too deep)."""
    raw = data.encode(errors="replace") if isinstance(data, str) else data
    depth = 0
    for byte in _JSON_STRING.sub(b"", raw).translate(None, _NOT_JSON_BRACKET):
        if byte in _JSON_OPENERS:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def decode_json(data: str | bytes) -> object:
    """``json.loads`` after the depth check (JSONTooDeep, a JSONDecodeError, if too deep)."""
    if json_depth_exceeds(data):
        raise JSONTooDeep(data.decode(errors="replace") if isinstance(data, bytes) else data)
    return json.loads(data)


def too_deep_problem() -> Problem:
    return _problem(
        "Request nested too deeply",
        f"the JSON body (or the variables parameter) nests deeper than {MAX_JSON_DEPTH} levels",
        "json-too-deep",
        "body",
    )


def document_problem(query: str) -> str | None:
    """Why the document is refused before parsing, or None."""
    if len(query) > MAX_DOCUMENT_CHARS:
        return f"the document has {len(query)} characters; the limit is {MAX_DOCUMENT_CHARS}"
    code = _GRAPHQL_TEXT.sub("", query)
    fragments = len(_FRAGMENT.findall(code))
    if fragments > MAX_FRAGMENTS:
        return f"the document defines {fragments} fragments; the limit is {MAX_FRAGMENTS}"
    depth = 0
    for char in code.translate(_NOT_GRAPHQL_BRACKET):
        if char in _GRAPHQL_OPENERS:
            depth += 1
            if depth > MAX_DOCUMENT_NESTING:
                return f"the document nests deeper than {MAX_DOCUMENT_NESTING} levels"
        else:
            depth -= 1
    return None


def refuse_oversized_documents(request_data: Any) -> None:
    """The parsed HTTP request (one operation or a batch): a 400 problem for the first
    document over a limit."""
    operations: Sequence[Any] = request_data if isinstance(request_data, list) else [request_data]
    for operation in operations:
        query = getattr(operation, "query", None)
        reason = document_problem(query) if isinstance(query, str) else None
        if reason is not None:
            raise _problem(
                "GraphQL document too large", reason, "graphql-document-too-large", "query"
            )


async def _refusal(error: GraphQLError) -> AsyncGenerator[PreExecutionError, None]:
    yield PreExecutionError(data=None, errors=[error])


def refused_stream(query: str | None) -> AsyncGenerator[PreExecutionError, None] | None:
    """For operations on the socket (no HTTP answer to give): the error result that
    refuses a document over a limit, or None to run it."""
    reason = document_problem(query) if isinstance(query, str) else None
    if reason is None:
        return None
    return _refusal(GraphQLError(reason, extensions={"code": "DOCUMENT_TOO_LARGE"}))


def _problem(title: str, detail: str, slug: str, field: str) -> Problem:
    return Problem(
        400, title, detail, slug, errors=[{"index": None, "field": field, "message": detail}]
    )


class GuardedRequests(_Router):
    """Mixed into the GraphQL router (before ``GraphQLRouter``): every JSON text it decodes
    and every HTTP request's documents go through the checks above."""

    def decode_json(self, data: str | bytes) -> object:
        return decode_json(data)  # HTTP bodies, GET's variables and socket messages

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        try:
            data = await super().parse_http_body(request)
        except Exception as error:  # strawberry raises its 400 "from" the decode error
            if isinstance(error.__cause__, JSONTooDeep):
                raise too_deep_problem() from None
            raise
        refuse_oversized_documents(data)
        return data
