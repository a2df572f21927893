"""Errors → JSON answers. Use cases raise domain errors; this is the one place they become HTTP statuses."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cliply.errors import InputRejected
from cliply.publishing.captions import CaptionRejected
from cliply.publishing.ledger import InvalidTransition
from cliply.security.vault import VaultError
from cliply.store.repo import NotFound
from cliply.usecases import ServiceError

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def json_error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def field_problems(exc: ValidationError) -> list[dict[str, str]]:
    """[{field: "targets.0.platform", message: …}]: where the body is wrong, never the value it had."""
    return [{"field": ".".join(str(p) for p in err["loc"]) or "body", "message": err["msg"]} for err in exc.errors()]


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return json_error(exc.status, exc.message, **exc.extra)


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return json_error(exc.status, str(exc))


async def _invalid_body(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    fields = field_problems(exc)
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return json_error(422, f"invalid request body: {detail}", fields=fields)


async def _not_found(request: Request, exc: Exception) -> Response:
    return json_error(404, str(exc))


async def _caption_rejected(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CaptionRejected)
    return json_error(422, str(exc), platforms=exc.platforms, problems=exc.problems)


async def _bad_request(request: Request, exc: Exception) -> Response:
    return json_error(409 if isinstance(exc, InvalidTransition) else 400, str(exc))


async def _input_rejected(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, InputRejected)
    return json_error(422, f"rejected ({exc.code}): {exc.reason}", code=exc.code)


async def _out_of_range(request: Request, exc: Exception) -> Response:
    return json_error(400, "a number or date in the request is out of range")


async def _vault_error(request: Request, exc: Exception) -> Response:
    log.error("vault error: %s", exc)
    return json_error(500, "stored credentials could not be decrypted")


# Starlette picks the handler of the most specific class in the exception's MRO.
EXCEPTION_HANDLERS = {
    ApiError: _api_error,
    ServiceError: _service_error,
    ValidationError: _invalid_body,
    NotFound: _not_found,
    CaptionRejected: _caption_rejected,
    ValueError: _bad_request,
    VaultError: _vault_error,
    InputRejected: _input_rejected,
    OverflowError: _out_of_range,
}
