"""Request guards that apply before any view runs."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse

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
