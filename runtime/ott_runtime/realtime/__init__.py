"""Live delivery of ingest results: the WebSocket stream's hub and sessions (framework-free),
stored-row replay for resume, and the PostgreSQL LISTEN/NOTIFY fan-out across replicas."""

from ott_runtime.realtime.hub import ClientFeed, Delivery, StreamHub
from ott_runtime.realtime.protocol import CHANNELS, ChannelFilter, ProtocolError
from ott_runtime.realtime.session import StreamSession, StreamSettings, StreamTransport

__all__ = [
    "CHANNELS",
    "ChannelFilter",
    "ClientFeed",
    "Delivery",
    "ProtocolError",
    "StreamHub",
    "StreamSession",
    "StreamSettings",
    "StreamTransport",
]
