"""uvicorn's httptools protocol with the limits uvicorn does not have (uvicorn#157):

- the request line and headers may hold at most ``max_header_bytes`` (llhttp buffers a
  header of any size): 431, counted while the headers arrive, so a never-ending header
  is cut off at the limit;
- the headers must be complete ``header_timeout`` seconds after the connection opened or
  the request's first byte arrived (uvicorn's keep-alive timer is reset by every byte, so
  a client trickling a header a byte at a time would hold the connection for ever): 408
  and close, or a silent close when the request had not begun;
- a body the app left unread when it answered must arrive within ``body_timeout``, or the
  connection closes (while the app reads, :mod:`ott_runtime.api.guards` times it out);
- a request the parser refuses is a problem document, not uvicorn's text/plain 400.

Refusals close the connection. Errors are RFC 9457 documents like the app's.
"""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from ott_runtime.api.limits import HttpLimits
from ott_runtime.api.problems import MEDIA_TYPE, PROBLEM_TYPE

log = logging.getLogger(__name__)


def problem_bytes(status: int, title: str, detail: str, slug: str) -> bytes:
    body = json.dumps(
        {"type": PROBLEM_TYPE + slug, "title": title, "status": status, "detail": detail}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        f"content-type: {MEDIA_TYPE}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n"
    )
    return head.encode("ascii") + b"\r\n" + body


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    limits: ClassVar[HttpLimits] = HttpLimits()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._in_headers = False  # a request has begun and its headers are incomplete
        self._in_body = False  # headers done, body not complete
        self._header_bytes = 0
        self._refused = False

    # connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._in_headers and not self._refused:
            # the chunk the request began in counts whole: at worst the tail of a
            # pipelined request's body, which only makes the limit slightly stricter
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                self._refuse_oversized_headers()

    # parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_headers, self._header_bytes = True, 0
        if self._header_timer is None:
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._cancel_header_timer()
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.max_header_bytes:
            self._refuse_oversized_headers()
            return
        self._in_body = True
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._in_body = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._in_body and self._body_timer is None and not self.transport.is_closing():
            self._body_timer = self.loop.call_later(
                self.limits.body_timeout, self._close, "the unread body did not arrive in time"
            )

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, "Bad request", "the request is not valid HTTP/1.1", "invalid-http")

    # timers and refusals

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.limits.header_timeout, self._headers_late)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_header_timer()
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self._refused or self.transport.is_closing():
            return
        answering = self.cycle is not None and not self.cycle.response_complete
        if self._in_headers and not answering:
            self._refuse(
                408, "Request timeout",
                f"the request headers did not arrive within {self.limits.header_timeout:g} s",
                "request-timeout",
            )  # fmt: skip
        else:  # nothing sent (an idle connection), or a response is being written
            self._close("no request headers in time")

    def _refuse_oversized_headers(self) -> None:
        self._refuse(
            431, "Request header fields too large",
            f"the request line and headers may hold {self.limits.max_header_bytes} bytes",
            "headers-too-large",
        )  # fmt: skip

    def _refuse(self, status: int, title: str, detail: str, slug: str) -> None:
        self._refused = True
        self._cancel_timers()
        if not self.transport.is_closing():
            self.transport.write(problem_bytes(status, title, detail, slug))
        self._close(title)

    def _close(self, why: str) -> None:
        self._body_timer = None
        if not self.transport.is_closing():
            log.debug("closing a connection: %s", why)
            self.transport.close()


def protocol_with_limits(limits: HttpLimits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class uvicorn builds per connection, bound to ``limits``."""

    class Protocol(LimitedHttpToolsProtocol):
        pass

    Protocol.limits = limits
    return Protocol
