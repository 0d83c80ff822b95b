"""The OTT compliance runtime: domain model, rules, ingest, storage and APIs."""

__version__ = "0.1.0"
