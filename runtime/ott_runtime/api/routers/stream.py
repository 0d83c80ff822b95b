"""WebSocket `/v1/stream`: the FastAPI adapter of :mod:`ott_runtime.realtime.session`.

Authenticate with the API key in ``X-API-Key`` / ``Authorization: Bearer`` on the upgrade
request, or (browsers cannot set headers) in a first frame ``{"type": "auth", "apiKey"}``.
The protocol is described in :mod:`ott_runtime.realtime.protocol`.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from ott_runtime.api.guards import presented_key
from ott_runtime.auth import RateLimited, TenantNotServed, Unauthenticated, authenticate
from ott_runtime.realtime.protocol import CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED
from ott_runtime.realtime.session import StreamEndpoint, StreamRefused
from ott_runtime.service import RuntimeService
from ott_runtime.storage import TenantScope

router = APIRouter(tags=["stream"])


class _Socket:
    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket

    async def send_text(self, text: str) -> None:
        await self._websocket.send_text(text)

    async def receive_text(self) -> str:
        return await self._websocket.receive_text()

    async def close(self, code: int, reason: str) -> None:
        await self._websocket.close(code, reason[:120])


def header_key(websocket: WebSocket) -> str | None:
    return presented_key(websocket.headers)


async def authenticate_key(
    websocket: WebSocket, service: RuntimeService, api_key: str
) -> tuple[TenantScope, float]:
    """:func:`ott_runtime.auth.authenticate`, its refusals as close codes."""
    try:
        principal = await authenticate(
            service, api_key, metered=True, limiter=websocket.app.state.rate_limiter
        )
    except Unauthenticated as error:
        raise StreamRefused(CLOSE_UNAUTHORIZED, error.detail) from None
    except TenantNotServed as error:
        raise StreamRefused(CLOSE_FORBIDDEN, error.detail) from None
    except RateLimited:
        raise StreamRefused(
            CLOSE_FORBIDDEN, "the key's rate limit is exceeded; retry later"
        ) from None
    return principal.scope, principal.runtime.spec.scoring.risk_threshold


@router.websocket("/v1/stream")
async def stream(websocket: WebSocket) -> None:
    service: RuntimeService = websocket.app.state.service
    endpoint: StreamEndpoint = websocket.app.state.stream
    await websocket.accept()
    session = endpoint.session(_Socket(websocket))

    async def authenticate(api_key: str) -> tuple[TenantScope, float]:
        return await authenticate_key(websocket, service, api_key)

    await session.serve(header_key(websocket), authenticate)
