"""Application errors raised by services, and their one mapping to JSON responses.

Services raise `DomainError` subclasses without knowing about HTTP; the API maps them here, the
pages show their message. Every error the API returns is JSON: `{"detail": ...}` or DRF field errors.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.debug import SafeExceptionReporterFilter
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A business rule said no. `status_code` is what the API answers."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Invalid request."

    def __init__(
        self, detail: str | None = None, *, field: str | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        """`field` names the input at fault (DRF's field-error shape); `extra` adds to the body,
        e.g. the current state a stale write lost to (`{"detail", "step": ...}`)."""
        self.detail = detail or self.default_detail
        self.field = field
        self.extra = extra or {}
        super().__init__(self.detail)

    def as_json(self) -> dict[str, Any]:
        if self.field:
            return {self.field: [self.detail]}
        return {"detail": self.detail, **self.extra}


class NotFound(DomainError):
    status_code = status.HTTP_404_NOT_FOUND
    default_detail = "Not found."


class Conflict(DomainError):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."


class InvalidInput(DomainError):
    status_code = status.HTTP_400_BAD_REQUEST


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The database is unavailable; try again shortly."
    default_code = "service_unavailable"


RETRY_AFTER_SECONDS = "5"


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(exc.as_json(), status=exc.status_code)
    if isinstance(exc, DatabaseError):
        logger.exception("database error in %s", context.get("view"))
        exc = ServiceUnavailable()
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, ServiceUnavailable):
        response["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def error_response(exc: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, JSON body, headers) of the API's answer to `exc`, for responses that DRF does not
    send (the live streams): the same statuses and details as `api_exception_handler`."""
    if isinstance(exc, DomainError):
        return exc.status_code, exc.as_json(), {}
    if isinstance(exc, DatabaseError):
        exc = ServiceUnavailable()
    if not isinstance(exc, exceptions.APIException):
        return status.HTTP_500_INTERNAL_SERVER_ERROR, {"detail": "Internal server error."}, {}
    headers: dict[str, str] = {}
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        headers["WWW-Authenticate"] = "Token"
    if isinstance(exc, ServiceUnavailable):
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    detail = exc.detail
    body = (
        detail
        if isinstance(detail, dict)
        else {"detail": detail if isinstance(detail, list) else str(detail)}
    )
    return exc.status_code, body, headers


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def json_or_html_404(request: HttpRequest, exception: Exception | None = None):  # type: ignore[no-untyped-def]
    if _wants_json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def json_or_html_500(request: HttpRequest):  # type: ignore[no-untyped-def]
    if _wants_json(request):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    from django.views.defaults import server_error

    return server_error(request)


def json_or_html_400(request: HttpRequest, exception: Exception | None = None):  # type: ignore[no-untyped-def]
    if _wants_json(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


# The password of a URL's user info: `scheme://user:PASSWORD@host` (also `redis://:PASSWORD@host`).
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:@/\s]*:)(?P<password>[^@/\s]+)(?=@)")


def mask_url_passwords(text: str, substitute: str = "********************") -> str:
    """`text` with the password of every URL in it replaced (user, host and path stay readable)."""
    return _URL_PASSWORD.sub(lambda match: match["head"] + substitute, text)


class SecretsReporterFilter(SafeExceptionReporterFilter):
    """Django's debug page and error e-mails hide settings whose *name* looks secret; this also hides
    the passwords inside URLs (DATABASE_URL, REDIS_URL, a cache LOCATION, any setting or local
    variable holding `scheme://user:password@host`), and cleanses the traceback's local variables
    the way settings are cleansed (a local named `password`, a connection's settings dict)."""

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str):
            return mask_url_passwords(cleansed, self.cleansed_substitute)
        return cleansed

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        return [
            (name, self.cleanse_setting(name, value))
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
