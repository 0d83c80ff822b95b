"""What a GraphQL client is told when something goes wrong, and what the log keeps.

A *user* error (the document does not parse or validate, a variable or argument is bad, the
key is missing, a row is not found) is the client's to fix: it reaches the client as is and
is logged at INFO, one line without a traceback. Anything else raised by a resolver (a bug,
the database failing) is *unexpected*: the client gets a fixed message and the
``INTERNAL_ERROR`` code (never SQL or exception text) and the log gets the error at ERROR
with its traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

log = logging.getLogger("ott_runtime.api.graphql")
INTERNAL_MESSAGE = "internal error: the server failed to resolve this field"
MAX_LOGGED_MESSAGE = 300  # a refused variable's message quotes the value sent


def is_unexpected(error: GraphQLError) -> bool:
    """Raised by something other than GraphQL's own checks or our ``graph_error``s.

    graphql-core wraps an exception raised in a resolver into a GraphQLError whose
    ``original_error`` is that exception: our user errors are GraphQLErrors themselves (as
    are strawberry's input coercion errors). Before execution (no path) a scalar refusing
    an input value raises ValueError (``graphql.scalars``): also the client's error."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    return error.path is not None or not isinstance(original, ValueError)


def log_errors(errors: Sequence[GraphQLError]) -> None:
    for error in errors:
        path = ".".join(str(part) for part in error.path or ()) or "-"
        if is_unexpected(error):
            log.error(
                "GraphQL field %s failed: %s", path, error.message, exc_info=error.original_error
            )
            continue
        code = (error.extensions or {}).get("code", "INVALID_REQUEST")
        message = error.message
        if len(message) > MAX_LOGGED_MESSAGE:
            message = message[:MAX_LOGGED_MESSAGE] + "..."
        log.info("GraphQL request refused (%s) at %s: %s", code, path, message)


class MaskUnexpectedErrors(MaskErrors):
    """strawberry's MaskErrors for unexpected errors only, with a code clients can match."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message=INTERNAL_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        extensions: dict[str, Any] = {"code": "INTERNAL_ERROR"}
        masked.extensions = extensions
        return masked
