"""Live sessions for the scoring hook: each viewer's recent events, encoded once on arrival.

A micro-batch row is then a copy of the viewer's window (no per-event Python loop over the
whole history, which is what makes :func:`encode_sessions` cost milliseconds per batch). The
rows are exactly what :func:`encode_sessions` makes of the same events (a test checks): the
last ``max_events`` events right-aligned, the oldest one's time delta 0.

Keys are hashed with a per-process random key before they are held, so the viewer ids that
the tenant encrypts at rest never sit in this map in plaintext. Memory is bounded: at most
``capacity`` viewers (least recently seen dropped first), ``max_events`` events each.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ott_runtime.models.sessions.features import (
    NUMERIC_FEATURES,
    SESSION_GAP_SECONDS,
    SessionBatch,
    SessionEvent,
    type_id,
)

DEFAULT_CAPACITY = 50_000


@dataclass
class _Window:
    types: npt.NDArray[np.int32]
    numeric: npt.NDArray[np.float32]
    count: int = 0
    last_time: float | None = None

    def push(self, event: SessionEvent, row: npt.NDArray[np.float32]) -> None:
        self.types[:-1] = self.types[1:]
        self.numeric[:-1] = self.numeric[1:]
        delta = 0.0 if self.last_time is None else max(event.time - self.last_time, 0.0)
        row[0] = math.log1p(delta)
        self.types[-1] = type_id(event.type)
        self.numeric[-1] = row
        self.count += 1
        self.last_time = event.time


@dataclass
class LiveSessions:
    max_events: int
    capacity: int = DEFAULT_CAPACITY
    gap_seconds: float = SESSION_GAP_SECONDS
    _windows: OrderedDict[bytes, _Window] = field(default_factory=OrderedDict, repr=False)
    _salt: bytes = field(default_factory=lambda: secrets.token_bytes(16), repr=False)

    def __len__(self) -> int:
        return len(self._windows)

    def _window(self, key: str | None, time: float) -> _Window:
        width = 1 + len(NUMERIC_FEATURES)
        fresh = _Window(
            np.zeros(self.max_events, np.int32), np.zeros((self.max_events, width), np.float32)
        )
        if key is None:
            return fresh  # nobody to follow: the event is a session of its own
        digest = hashlib.blake2b(key.encode(), key=self._salt, digest_size=16).digest()
        window = self._windows.get(digest)
        last = None if window is None else window.last_time
        if last is not None and time - last > self.gap_seconds:
            window = None  # the viewer came back after a pause: a new session
        if window is None:
            window = fresh
            self._windows[digest] = window
            while len(self._windows) > self.capacity:
                self._windows.popitem(last=False)
        else:
            self._windows.move_to_end(digest)
        return window

    def observe(self, keys: Sequence[str | None], events: Sequence[SessionEvent]) -> SessionBatch:
        """Add each event to its viewer's window (in order) and return one row per event:
        that viewer's session as it stood right after the event."""
        n, width = len(events), 1 + len(NUMERIC_FEATURES)
        types = np.zeros((n, self.max_events), np.int32)
        numeric = np.zeros((n, self.max_events, width), np.float32)
        for i, (key, event) in enumerate(zip(keys, events, strict=True)):
            window = self._window(key, event.time)
            row = np.fromiter(
                (event.features.get(name, 0.0) for name in NUMERIC_FEATURES),
                np.float32,
                len(NUMERIC_FEATURES),
            )
            window.push(event, np.concatenate([np.zeros(1, np.float32), row]))
            types[i] = window.types
            numeric[i] = window.numeric
            first = self.max_events - min(window.count, self.max_events)
            numeric[i, first, 0] = 0.0  # the oldest event shown has no predecessor in view
        return SessionBatch(types, numeric)
