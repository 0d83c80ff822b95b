"""The `/v1/stream` wire protocol: JSON text frames, one object each, with a ``type``.

Client -> server:
  {"type": "auth", "apiKey": "..."}          only when the upgrade request carried no key
  {"type": "subscribe", "channel": "violations", "filter": {...}, "cursor": "..."}
  {"type": "unsubscribe", "channel": "violations"}
  {"type": "pong"}                            answer to every ping
Server -> client:
  welcome, subscribed {channel, cursor}, message {channel, cursor, data},
  replayed {channel, count}, lagged {dropped, resumeFrom}, ping, error {code, message}

Channels: ``events`` (stored events, protected fields never included), ``violations``,
``alerts`` (risk scores at or above a threshold). A cursor is the opaque form of the
stored row's monotonic id; a subscription with a cursor first replays the stored rows
after it, then continues live, with no gap and no duplicate.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ott_runtime.domain import cursors
from ott_runtime.domain.regulation import Severity

CHANNELS = ("events", "violations", "alerts")
Channel = Literal["events", "violations", "alerts"]
# the broker's topic for each channel
TOPIC_OF: dict[str, str] = {"events": "events", "violations": "violations", "alerts": "risk"}
CHANNEL_OF: dict[str, str] = {topic: channel for channel, topic in TOPIC_OF.items()}
SEVERITY_RANK = {severity.value: severity.rank for severity in Severity}

# close codes (4000-4999 are the application's own)
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_HEARTBEAT = 4408
CLOSE_PROTOCOL = 4400


class ProtocolError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class ChannelFilter(BaseModel):
    """What a subscription receives; every field is optional and they all must hold."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    types: tuple[str, ...] = Field(default=(), max_length=32, description="events: event types")
    content_id: str | None = Field(default=None, alias="contentId", max_length=128)
    min_severity: Severity | None = Field(default=None, alias="minSeverity")
    regulation: str | None = Field(default=None, max_length=63)
    rule_id: str | None = Field(default=None, alias="ruleId", max_length=63)
    threshold: float | None = Field(
        default=None, ge=0, le=1, description="alerts: lowest risk score (default: the tenant's)"
    )

    def matches(self, channel: str, data: dict[str, Any], default_threshold: float) -> bool:
        if self.content_id is not None and data.get("contentId") != self.content_id:
            return False
        if channel == "events":
            return not self.types or data.get("type") in self.types
        if channel == "violations":
            if self.min_severity is not None and (
                SEVERITY_RANK.get(str(data.get("severity")), -1) < self.min_severity.rank
            ):
                return False
            if self.regulation is not None and data.get("regulation") != self.regulation:
                return False
            return self.rule_id is None or data.get("ruleId") == self.rule_id
        threshold = default_threshold if self.threshold is None else self.threshold
        return float(data.get("score", 0.0)) >= threshold


class Subscribe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["subscribe"]
    channel: Channel
    filter: ChannelFilter = Field(default_factory=ChannelFilter)
    cursor: str | None = Field(default=None, max_length=64)


class Unsubscribe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["unsubscribe"]
    channel: Channel


class Auth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["auth"]
    api_key: str = Field(alias="apiKey", min_length=1, max_length=256)


class Pong(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["pong"]


ClientMessage = Subscribe | Unsubscribe | Auth | Pong
_MODELS: dict[str, type[BaseModel]] = {
    "subscribe": Subscribe,
    "unsubscribe": Unsubscribe,
    "auth": Auth,
    "pong": Pong,
}


def parse_client_message(text: str) -> ClientMessage:
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError("malformed-json", "each frame must be one JSON object") from None
    kind = document.get("type") if isinstance(document, dict) else None
    model = _MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ProtocolError(
            "unknown-type", f"type must be one of {', '.join(_MODELS)}; got {kind!r}"
        )
    try:
        parsed = model.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ProtocolError("invalid-message", f"{kind}: {problems}") from None
    assert isinstance(parsed, Subscribe | Unsubscribe | Auth | Pong)
    return parsed


def decode_cursor(cursor: str) -> int:
    try:
        return cursors.decode_cursor(cursor)
    except cursors.InvalidCursor:
        raise ProtocolError(
            "invalid-cursor", "use the cursor of a message or of a subscribed answer"
        ) from None


def frame(kind: str, **fields: Any) -> str:
    return orjson.dumps({"type": kind, **fields}).decode()
