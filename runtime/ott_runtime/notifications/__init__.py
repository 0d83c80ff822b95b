"""Push notifications: signed webhooks from ``spec.notifications`` through an outbox
written in the ingest transaction, delivered with retries, dead letters kept."""
