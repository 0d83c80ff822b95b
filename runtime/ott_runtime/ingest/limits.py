"""Hard limits of one ingest request (also documented in the OpenAPI description)."""

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB
MAX_EVENTS_PER_BATCH = 1000
MAX_EVENT_ID_LENGTH = 128
