"""Session features: the events of one viewer session as fixed-size arrays for the encoder."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

# The event types of the OTT event model (ott_runtime.domain.events); anything else is "other".
EVENT_TYPES = (
    "playback.start",
    "playback.heartbeat",
    "content.publish",
    "ad.impression",
    "account.signup",
    "consent.update",
    "data.transfer",
    "grievance.filed",
    "grievance.acknowledged",
    "grievance.resolved",
    "other",
)
NUMERIC_FEATURES = (
    "watched_seconds_log",
    "ad_seconds_log",
    "geo_mismatch",
    "proxy",
    "kids_profile",
    "mature_content",
    "targeted_ad",
    "rule_hits",
)
FEATURE_SCHEMA = ["event_type", "time_delta", *NUMERIC_FEATURES]
# a viewer's events further apart than this start a new session (training and serving alike)
SESSION_GAP_SECONDS = 30 * 60.0
MATURE_RATINGS = {"A", "TV-MA", "18", "18+", "R", "NC-17", "U/A 16+"}


@dataclass(frozen=True)
class SessionEvent:
    type: str
    time: float  # seconds (epoch or session-relative: only differences are used)
    features: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionBatch:
    types: npt.NDArray[np.int32]  # (n, max_events), 0 = padding, else 1 + index in EVENT_TYPES
    numeric: npt.NDArray[np.float32]  # (n, max_events, 1 + len(NUMERIC_FEATURES)): delta first

    def __len__(self) -> int:
        return len(self.types)


def type_id(event_type: str) -> int:
    try:
        return EVENT_TYPES.index(event_type) + 1
    except ValueError:
        return len(EVENT_TYPES)  # "other"


def encode_sessions(sessions: Sequence[Sequence[SessionEvent]], max_events: int) -> SessionBatch:
    """The last ``max_events`` events of each session, right-aligned (padding first)."""
    types = np.zeros((len(sessions), max_events), dtype=np.int32)
    numeric = np.zeros((len(sessions), max_events, 1 + len(NUMERIC_FEATURES)), dtype=np.float32)
    for row, session in enumerate(sessions):
        recent = list(session)[-max_events:]
        offset = max_events - len(recent)
        previous: float | None = None
        for column, event in enumerate(recent, start=offset):
            types[row, column] = type_id(event.type)
            delta = 0.0 if previous is None else max(event.time - previous, 0.0)
            numeric[row, column, 0] = math.log1p(delta)
            for index, name in enumerate(NUMERIC_FEATURES, start=1):
                numeric[row, column, index] = float(event.features.get(name, 0.0))
            previous = event.time
    return SessionBatch(types, numeric)


def from_event(event: Mapping[str, Any], rule_hits: int = 0) -> SessionEvent:
    """A session event from an event in the OTT event model's JSON form (camelCase, as the
    JSON Schemas in ``ott_runtime/domain/schemas/events/v1`` define it)."""
    viewer = event.get("viewer") or {}
    geo = event.get("geo") or {}
    playback = event.get("playback") or {}
    ad = event.get("ad") or {}
    content = event.get("content") or {}
    home, here = viewer.get("country"), geo.get("country")
    return SessionEvent(
        type=str(event.get("type", "other")),
        time=event_seconds(event["time"]),
        features={
            "watched_seconds_log": math.log1p(max(float(playback.get("watchedSeconds") or 0), 0)),
            "ad_seconds_log": math.log1p(max(float(ad.get("durationSeconds") or 0), 0)),
            "geo_mismatch": float(bool(home and here and home != here)),
            "proxy": float(bool(geo.get("isProxy"))),
            "kids_profile": float(bool(viewer.get("isKidsProfile"))),
            "mature_content": float(content.get("rating") in MATURE_RATINGS),
            "targeted_ad": float(bool(ad.get("targeted"))),
            "rule_hits": float(rule_hits),
        },
    )


def session_key(event: Mapping[str, Any]) -> str | None:
    """Whose recent events an event joins: the viewer (or account, device, playback session,
    in that order); None when the event names none of them."""
    for part, field_name in (
        ("viewer", "id"),
        ("viewer", "accountId"),
        ("device", "id"),
        ("playback", "sessionId"),
    ):
        holder = event.get(part)
        value = holder.get(field_name) if isinstance(holder, Mapping) else None
        if value is not None and value != "":
            return f"{part}.{field_name}:{value}"
    return None


def event_seconds(stamp: Any) -> float:
    if isinstance(stamp, datetime):
        return stamp.timestamp()
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
