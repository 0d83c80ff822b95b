"""REST API (FastAPI): the app factory and one router per resource."""

from ott_runtime.api.app import create_app

__all__ = ["create_app"]
