"""Request guards that apply before any view runs."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

from aep.errors import json_or_html_400
from aep.http_limits import body_too_large_detail

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
                return JsonResponse({"detail": body_too_large_detail(limit)}, status=413)
        return self.get_response(request)


class AdminNulQueryMiddleware:
    """Refuse an admin query string holding a NUL character with 400, before the admin runs.

    The admin passes filter and search values (`?org__id__exact=%00`, `?q=%00`) straight to the
    database, and PostgreSQL cannot even compare text with a NUL: it was a 500. (The API and the
    pages validate their own parameters: a NUL there is already a 400 naming the field, or, for a
    search page, text that finds nothing.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        suspect = "%00" in query or "\x00" in query
        if suspect and request.path.startswith(reverse("admin:index")) and _has_nul(request):
            return json_or_html_400(request)
        return self.get_response(request)


def _has_nul(request: HttpRequest) -> bool:
    return any("\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists())


def client_address(request: HttpRequest) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Who sent the request: `REMOTE_ADDR`, or, when it came through proxies named in
    `TRUSTED_PROXIES`, the right-most address in `X-Forwarded-For` / `Forwarded` that is not itself
    one of them. None when it carries forwarding headers but came from an untrusted address: then
    `REMOTE_ADDR` is some proxy's (loopback, for a proxy on the same host), not the client's."""
    address = _ip(request.META.get("REMOTE_ADDR", ""))
    forwarded = _forwarded_for(request)
    if forwarded is None:
        return address
    trusted = settings.TRUSTED_PROXIES
    if address is None or not _in(address, trusted):
        return None
    # Walk back from the proxy next to us: each trusted hop vouches for the one before it.
    for hop in reversed(forwarded):
        address = _ip(hop)
        if address is None or not _in(address, trusted):
            break
    return address


def metrics_access_allowed(request: HttpRequest) -> bool:
    """/metrics is for the scraper: `Authorization: Bearer <METRICS_TOKEN>`, or a request from an
    allow-listed address (`METRICS_ALLOWED_IPS`, default loopback) by `client_address`: a request
    forwarded by a proxy that is not trusted is not local, whatever its `REMOTE_ADDR`."""
    token = getattr(settings, "METRICS_TOKEN", "")
    if token and request.headers.get("Authorization", "") == f"Bearer {token}":
        return True
    address = client_address(request)
    return address is not None and _in(address, settings.METRICS_ALLOWED_NETWORKS)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _in(address: Address, networks: list[Network]) -> bool:
    return any(address in network for network in networks)


def _ip(value: str) -> Address | None:
    value = value.strip().strip('"')
    if value.startswith("["):  # Forwarded: for="[2001:db8::1]:4711"
        value = value[1 : value.find("]")]
    elif value.count(":") == 1:  # an IPv4 address with a port
        value = value.split(":")[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _forwarded_for(request: HttpRequest) -> list[str] | None:
    """The client addresses of `X-Forwarded-For` and `Forwarded` (RFC 7239 `for=`), oldest first;
    None when the request carries neither header."""
    x_forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    forwarded = request.META.get("HTTP_FORWARDED")
    if x_forwarded is None and forwarded is None:
        return None
    hops = [hop for hop in (x_forwarded or "").split(",") if hop.strip()]
    for element in (forwarded or "").split(","):
        for pair in element.split(";"):
            name, _, value = pair.partition("=")
            if name.strip().lower() == "for":
                hops.append(value)
    return hops
