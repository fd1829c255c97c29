"""Request guards that apply before any view runs."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

from aep.errors import json_or_html_400

BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class BodySizeLimitMiddleware:
    """Refuse request bodies over `MAX_REQUEST_BODY_BYTES` with 413, whether or not they announce a
    Content-Length. (DRF reads the raw stream and would not apply Django's limit itself.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in BODY_METHODS:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            try:
                announced = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                announced = 0
            try:
                if announced > limit:
                    raise RequestDataTooBig()
                if request.content_type != "multipart/form-data":
                    request.body  # noqa: B018  (reads and checks the body once; later reads are cached)
            except RequestDataTooBig:
                return JsonResponse({"detail": f"Request body too large (limit {limit} bytes)."}, status=413)
        return self.get_response(request)


class NulQueryMiddleware:
    """Refuse a query string holding a NUL character with 400, before any view or query runs.

    No parameter of this app can contain one, and PostgreSQL cannot even compare text with it: an
    admin filter such as `?org__id__exact=%00` reached the database and was a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        if query and ("%00" in query or "\x00" in query) and _has_nul(request):
            return json_or_html_400(request)
        return self.get_response(request)


def _has_nul(request: HttpRequest) -> bool:
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists())


def metrics_access_allowed(request: HttpRequest) -> bool:
    """/metrics is for the scraper: an allow-listed address (`METRICS_ALLOWED_IPS`, default loopback)
    or `Authorization: Bearer <METRICS_TOKEN>`."""
    token = getattr(settings, "METRICS_TOKEN", "")
    if token and request.headers.get("Authorization", "") == f"Bearer {token}":
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)
