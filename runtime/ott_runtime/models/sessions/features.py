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
    """A session event from an event in the OTT event model's JSON form."""
    viewer = event.get("viewer") or {}
    geo = event.get("geo") or {}
    playback = event.get("playback") or {}
    ad = event.get("ad") or {}
    content = event.get("content") or {}
    stamp = event["time"]
    seconds = stamp.timestamp() if isinstance(stamp, datetime) else _parse_time(str(stamp))
    home, here = viewer.get("country"), geo.get("country")
    return SessionEvent(
        type=str(event.get("type", "other")),
        time=seconds,
        features={
            "watched_seconds_log": math.log1p(float(playback.get("watched_seconds") or 0)),
            "ad_seconds_log": math.log1p(float(ad.get("duration_seconds") or 0)),
            "geo_mismatch": float(bool(home and here and home != here)),
            "proxy": float(bool(geo.get("is_proxy"))),
            "kids_profile": float(bool(viewer.get("is_kids_profile"))),
            "mature_content": float(content.get("rating") in MATURE_RATINGS),
            "targeted_ad": float(bool(ad.get("targeted"))),
            "rule_hits": float(rule_hits),
        },
    )


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
