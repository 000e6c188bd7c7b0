"""RFC 9457 problem details: every refusal leaves the API as one 4xx with a stable `code`.

Domain errors map by their `code` (one status each); request validation becomes 422 with the
field paths; policy denials are 403 with a reason. Nothing a client sends reaches a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from eventsourcing.persistence import OperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.errors import ConcurrentModification, DomainError
from ledger.personal import VaultCorrupted
from ledger.trail import EmptyLog, OutOfRange, TrailError

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("lvyue.api")

DOMAIN_STATUS: Mapping[str, int] = {
    "domain_error": 400,
    "invalid_value": 422,
    "not_found": 404,
    "already_exists": 409,
    "illegal_transition": 409,
    "not_responsible": 403,
    "actor_not_active": 403,
    "separation_of_duties": 403,
    "command_id_reused": 409,
    "concurrent_modification": 409,
}
"""Every `DomainError.code` and its one status (tests check that no code is missing)."""
HTTP_CODES: Mapping[int, str] = {413: "payload_too_large"}


class FieldError(BaseModel):
    """One invalid input: where (`loc`, e.g. `body.task_no`), what and why."""

    loc: str
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem; `code` is the stable machine-readable reason."""

    model_config = ConfigDict(extra="forbid")

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None
    reason: str | None = None
    current_version: int | None = None
    errors: list[FieldError] | None = None


class ApiProblem(Exception):
    """Raised by the API layer itself (authentication, policy, idempotency, limits)."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra


def problem_response(
    request: Request | None,
    status: int,
    code: str,
    detail: str | None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response."""
    body = Problem(
        type=f"urn:lvyue:problem:{code}",
        title=HTTPStatus(status).phrase,
        status=status,
        code=code,
        detail=detail,
        instance=None if request is None else request.url.path,
        **extra,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def status_of(error: DomainError) -> int:
    """The one status of a domain error code (an unknown subclass falls back to its base's)."""
    for cls in type(error).__mro__:
        code = getattr(cls, "code", None)
        if isinstance(code, str) and code in DOMAIN_STATUS:
            return DOMAIN_STATUS[code]
    return 400


def _field_errors(error: RequestValidationError) -> list[FieldError]:
    return [
        FieldError(
            loc=".".join(str(part) for part in item.get("loc", ())),
            msg=str(item.get("msg", "")),
            type=str(item.get("type", "")),
        )
        for item in error.errors()
    ]


async def _domain(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    extra: dict[str, Any] = {}
    if isinstance(error, ConcurrentModification) and error.current_version is not None:
        extra["current_version"] = error.current_version
    return problem_response(request, status_of(error), error.code, error.message, **extra)


async def _api(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiProblem)
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return problem_response(request, error.status, error.code, error.detail, headers, **error.extra)


async def _validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return problem_response(
        request, 422, "validation_failed", "the request is invalid", errors=_field_errors(error)
    )


async def _http(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = HTTP_CODES.get(error.status_code) or _snake(HTTPStatus(error.status_code).phrase)
    return problem_response(request, error.status_code, code, str(error.detail), error.headers)


def _snake(phrase: str) -> str:
    return phrase.lower().replace(" ", "_").replace("-", "_")


async def _trail(request: Request, error: Exception) -> JSONResponse:
    if isinstance(error, OutOfRange):
        return problem_response(request, 422, "out_of_range", str(error))
    if isinstance(error, EmptyLog):
        return problem_response(request, 409, "empty_log", str(error))
    log.error("the sealed log failed a check: %s", error)
    return problem_response(request, 500, "log_integrity", str(error))


async def _vault(request: Request, error: Exception) -> JSONResponse:
    """A stored key or ciphertext cannot be read (a missing or wrong vault key, a damaged
    row): a fault of this server, named, never the value and never a guess."""
    log.error("the personal-data vault failed on %s: %s", request.url.path, error)
    return problem_response(request, 500, "vault_unreadable", str(error))


async def _store_busy(request: Request, error: Exception) -> JSONResponse:
    """The database is momentarily unavailable (a lock or pool wait ran out): retry, not a 500."""
    log.warning("store busy on %s %s: %s", request.method, request.url.path, error)
    return problem_response(
        request, 503, "store_busy", "the store is busy; retry the request", {"Retry-After": "1"}
    )


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem_response(request, 500, "internal_error", "an unexpected error occurred")


def add_problem_handlers(app: FastAPI) -> None:
    """Install the one mapping from exceptions to problem responses."""
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(ApiProblem, _api)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(TrailError, _trail)
    app.add_exception_handler(OperationalError, _store_busy)
    app.add_exception_handler(VaultCorrupted, _vault)
    app.add_exception_handler(Exception, _unexpected)


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` documenting these statuses as problem+json."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}},
        }
        for status in statuses
    }


def problem_schemas() -> dict[str, Any]:
    """The component schemas `PROBLEM_REF` points at (added to the OpenAPI document)."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions: dict[str, Any] = schema.pop("$defs", {})
    return {"Problem": schema, **definitions}


COMMAND_ERRORS = problem_responses(401, 403, 404, 409, 413, 422)
QUERY_ERRORS = problem_responses(401, 403, 404, 422)
