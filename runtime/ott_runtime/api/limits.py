"""HTTP limits of the runtime server: request sizes and how long a client may take.

The server (``ott_runtime.server.protocol``) enforces the header size, the header
timeout and the idle keep-alive timeout; the app (``ott_runtime.api.guards``) the body
size per route and the body timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ott_runtime.ingest.limits import MAX_BODY_BYTES

# GraphQL carries the ingestEvents mutation: it gets the same limit as POST /v1/events
INGEST_ROUTES: Final = frozenset({"/v1/events", "/v1/graphql"})
# everything else takes a small JSON document at most (an acknowledgement's note)
SMALL_BODY_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class HttpLimits:
    # request line and headers together; a 431 beyond (uvicorn's httptools has no limit)
    max_header_bytes: int = 32 * 1024
    # from the connection's (or request's) first byte until the headers are complete
    header_timeout: float = 10.0
    # from the headers until the whole body is read
    body_timeout: float = 30.0
    # idle keep-alive connections between requests (uvicorn's timeout_keep_alive)
    keep_alive_timeout: int = 5

    def __post_init__(self) -> None:
        for name in ("max_header_bytes", "header_timeout", "body_timeout", "keep_alive_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


def body_limit(path: str) -> int:
    """The largest request body, in bytes, the route at ``path`` accepts."""
    return MAX_BODY_BYTES if path in INGEST_ROUTES else SMALL_BODY_BYTES
