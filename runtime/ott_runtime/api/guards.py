"""The checks every HTTP request passes before a route reads its body (pure ASGI).

In order, each refusal an RFC 9457 problem sent before any body byte is read:

1. ``/v1/*`` without an API key (``X-API-Key`` or ``Authorization: Bearer``), or with
   one that is unknown or revoked: 401 (the cached lookup the route's own
   authentication repeats). Public: everything outside ``/v1`` (health, metrics, docs,
   dashboard) and the GraphiQL page (``GET /v1/graphql`` without a query). WebSockets
   authenticate themselves (and close with 4403).
2. A declared ``Content-Length`` over the route's limit (:func:`body_limit`): 413.
3. A JSON route (``POST /v1/events``, ``POST /v1/graphql``) sent another media type: 415.

Then the body is counted as the route reads it: past the limit (chunked uploads declare
none) a 413, and a body not complete within the body timeout a 408. A refusal with body
bytes still unread closes the connection, so the server does not read the rest.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Final
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ott_runtime.api.limits import HttpLimits, body_limit
from ott_runtime.api.problems import Problem, problem_response
from ott_runtime.service import RuntimeService
from ott_runtime.storage import TenantScope

# same answers as the routes' own authentication (api.dependencies)
_UNAUTHORIZED: Final = {"WWW-Authenticate": 'Bearer realm="ottc"'}
NO_KEY_DETAIL: Final = "send the tenant's API key in X-API-Key"
BAD_KEY_DETAIL: Final = "the API key is unknown or revoked"
# POST /v1/events also takes a body without Content-Type as JSON (older clients send
# bytes alone); GraphQL over HTTP asks for application/json
_JSON_ROUTES: Final = {"/v1/events": False, "/v1/graphql": True}  # path -> type required


# the guard's lookup, handed to the route's authentication in the request's scope state
_AUTHENTICATED: Final = "ottc.authenticated"


def authenticated_by_guard(scope: Scope, api_key: str) -> TenantScope | None:
    """The tenant the guard found for ``api_key`` in this request, if it looked it up
    (so the route does not repeat the lookup and its span)."""
    found = scope.get("state", {}).get(_AUTHENTICATED)
    if found is None or not hmac.compare_digest(found[0], api_key):
        return None
    tenant: TenantScope = found[1]
    return tenant


def presented_key(headers: Headers) -> str | None:
    """The API key as every entry point reads it: X-API-Key, else Authorization: Bearer
    (REST, the request guard, admission control, the stream and GraphQL over HTTP)."""
    key = headers.get("x-api-key")
    if key:
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _declared_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]  # uvicorn puts root_path (a proxy's prefix) in front
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _is_public(scope: Scope, path: str) -> bool:
    if not path.startswith("/v1/"):
        return True
    # the GraphiQL page; a query sent by GET authenticates like any other request
    return (
        path == "/v1/graphql"
        and scope["method"] in ("GET", "HEAD")
        and "query" not in parse_qs(scope.get("query_string", b"").decode("latin-1"))
    )


def _too_large(limit: int) -> Problem:
    return Problem(
        413, "Request body too large", f"the limit of this route is {limit} bytes",
        "body-too-large",
    )  # fmt: skip


class _LimitedBody:
    """``receive`` that counts the body and gives up at the limit or the deadline."""

    def __init__(self, receive: Receive, limit: int, timeout: float) -> None:
        self._receive, self._limit = receive, limit
        self._deadline = asyncio.get_running_loop().time() + timeout
        self._timeout = timeout
        self._size = 0
        self.complete = False
        self.refusal: Problem | None = None

    async def __call__(self) -> Message:
        if self.complete:  # a route waiting for http.disconnect may wait as long as it likes
            return await self._receive()
        if self.refusal is not None:
            raise self.refusal
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            self.refusal = Problem(
                408, "Request timeout", f"the body did not arrive within {self._timeout:g} s",
                "request-timeout",
            )  # fmt: skip
            raise self.refusal from None
        if message["type"] == "http.request":
            self._size += len(message.get("body", b""))
            if self._size > self._limit:
                self.refusal = _too_large(self._limit)
                raise self.refusal
            self.complete = not message.get("more_body", False)
        else:
            self.complete = True  # disconnected
        return message


class RequestGuard:
    def __init__(self, app: ASGIApp, service: RuntimeService, limits: HttpLimits) -> None:
        self.app, self.service, self.limits = app, service, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = _route_path(scope)
        headers = Headers(scope=scope)
        limit = body_limit(path)
        refusal = await self._refusal(scope, path, headers, limit)
        if refusal is not None:
            has_body = bool(_declared_length(headers)) or "transfer-encoding" in headers
            await self._answer(scope, receive, send, refusal, close=has_body)
            return
        await self._run(
            scope, receive, send, _LimitedBody(receive, limit, self.limits.body_timeout)
        )

    async def _refusal(
        self, scope: Scope, path: str, headers: Headers, limit: int
    ) -> Problem | None:
        if not _is_public(scope, path):
            key = presented_key(headers)
            if key is None:
                return Problem(401, "Unauthorized", NO_KEY_DETAIL, "unauthorized", _UNAUTHORIZED)
            if await self._unknown(scope, key):
                return Problem(401, "Unauthorized", BAD_KEY_DETAIL, "unauthorized", _UNAUTHORIZED)
        declared = _declared_length(headers)
        if declared is not None and declared > limit:
            return _too_large(limit)
        content_type = headers.get("content-type")
        if scope["method"] == "POST" and path in _JSON_ROUTES:
            allowed = is_json(content_type) if content_type else not _JSON_ROUTES[path]
        else:
            allowed = True
        if not allowed:
            return Problem(
                415, "Unsupported media type",
                f"send the body as application/json (Content-Type: {content_type or 'none'})",
                "unsupported-media-type", {"Accept-Post": "application/json"},
            )  # fmt: skip
        return None

    async def _unknown(self, scope: Scope, key: str) -> bool:
        try:
            tenant = await self.service.store.directory.authenticate(key)
        except Exception:  # the route authenticates again and answers the error
            return False
        if tenant is None:
            return True
        scope.setdefault("state", {})[_AUTHENTICATED] = (key, tenant)
        return False

    async def _run(self, scope: Scope, receive: Receive, send: Send, body: _LimitedBody) -> None:
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if body.refusal is not None:
                return  # the route's answer to a body it could not read is replaced by ours
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, body, guarded_send)
        except Exception:
            if body.refusal is None or started:
                raise
        if body.refusal is not None and not started:
            await self._answer(scope, receive, send, body.refusal, close=not body.complete)

    @staticmethod
    async def _answer(
        scope: Scope, receive: Receive, send: Send, problem: Problem, *, close: bool
    ) -> None:
        headers = {**problem.headers, **({"Connection": "close"} if close else {})}
        response = problem_response(
            Request(scope), problem.status, problem.title, problem.detail, problem.slug, headers
        )
        await response(scope, receive, send)
