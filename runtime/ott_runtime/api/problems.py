"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ott_runtime.api.schemas import restore_example_nulls
from ott_runtime.ingest.errors import IngestError

PROBLEM_TYPE = "urn:ott-compliance:problem:"
MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        slug: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.slug = status, title, detail, slug
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    request: Request, status: int, title: str, detail: str, slug: str,
    headers: dict[str, str] | None = None, **extra: Any,
) -> JSONResponse:  # fmt: skip
    body = {
        "type": PROBLEM_TYPE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


# one component, so a generated client has one Problem type, not one per operation and status
PROBLEM_COMPONENT: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": ["integer", "null"]},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}
PROBLEM_SCHEMA: dict[str, Any] = {
    "description": "An RFC 9457 problem document",
    "content": {
        MEDIA_TYPE: {
            "schema": {"$ref": "#/components/schemas/Problem"},
            "example": {
                "type": PROBLEM_TYPE + "invalid-events",
                "title": "Invalid events",
                "status": 422,
                "detail": "1 problem(s) in the batch; nothing from it was stored",
                "instance": "/v1/events",
                "errors": [
                    {
                        "index": 3,
                        "field": "ad.durationSeconds",
                        "message": "Input should be a valid number",
                    }
                ],
            },
        }
    },
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: PROBLEM_SCHEMA for status in (400, 401, 404, 413, 422, 429)
}


def _complete_document(app: FastAPI) -> None:
    """Adds the Problem component that PROBLEM_SCHEMA refers to (FastAPI only adds the
    components of models it is given, and a model would be documented as JSON), and puts
    back the null values of the response schemas' examples, which FastAPI leaves out."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        first = app.openapi_schema is None
        document = build()  # FastAPI's, cached after the first call
        if first:
            document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = (
                PROBLEM_COMPONENT
            )
            restore_example_nulls(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def install_problem_handlers(app: FastAPI) -> None:
    _complete_document(app)

    @app.exception_handler(Problem)
    async def _problem(request: Request, error: Problem) -> JSONResponse:
        return problem_response(
            request,
            error.status,
            error.title,
            error.detail,
            error.slug,
            error.headers,
            **error.extra,
        )

    @app.exception_handler(IngestError)
    async def _ingest(request: Request, error: IngestError) -> JSONResponse:
        return problem_response(
            request, error.status, error.title, error.detail, error.type_slug,
            errors=[p.to_json() for p in error.problems],
        )  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "index": None,
                "field": ".".join(str(p) for p in e.get("loc", ())),
                "message": e.get("msg", "invalid"),
            }
            for e in error.errors()
        ]
        return problem_response(
            request, 422, "Invalid request", "the request's parameters or body are invalid",
            "invalid-request", errors=errors,
        )  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized"}.get(
            error.status_code, "http-error"
        )
        return problem_response(
            request, error.status_code, str(error.detail), str(error.detail), slug,
            dict(error.headers or {}),
        )  # fmt: skip

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        return problem_response(
            request, 500, "Internal error", "the server failed; the request was not completed",
            "internal-error",
        )  # fmt: skip
