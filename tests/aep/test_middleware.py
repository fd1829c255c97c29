"""aep.middleware: a NUL in an admin query string is a 400 before the admin runs (on PostgreSQL the
admin's filters and search passed it to the database: 500), and /metrics behind a proxy (DESIGN 14)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from django.test import Client


@pytest.fixture
def admin_client(sam: Any) -> Client:
    client = Client()
    client.force_login(sam)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/admin/plans/liveplan/?org__id__exact=%00",
        "/admin/plans/liveplan/?q=%00",
        "/admin/aep/membership/?org__id__exact=a%00b",
        "/admin/aep/auditlog/?org__id__exact=%00",
        "/admin/memory_graph/memorynode/?q=x%00",
    ],
)
def test_admin_filters_with_a_nul_are_400(admin_client, plan_a, url):
    response = admin_client.get(url)
    assert response.status_code == 400


@pytest.mark.django_db
def test_admin_filters_still_work(admin_client, plan_a, plan_b):
    response = admin_client.get("/admin/plans/liveplan/?org__id__exact=org-b")
    assert response.status_code == 200
    assert "Secret B plan" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/api/memory/search?q=%00",
        "/api/plan/list?archived=%00",
        "/api/plan/list?limit=1%00",
        "/api/plan/list?%00=1",
        "/memory?q=%00",
        "/plans?archived=%00",
    ],
)
def test_elsewhere_a_nul_is_left_to_the_views_which_never_fail_on_it(client_a, alice, plan_a, url):
    client_a.force_authenticate(alice) if url.startswith("/api/") else client_a.force_login(alice)
    assert client_a.get(url).status_code < 500


@pytest.mark.django_db
def test_a_percent_sign_that_is_not_a_nul_passes(client_a, plan_a):
    assert client_a.get("/api/memory/search?q=100%25").status_code == 200


@pytest.mark.django_db
class TestMetricsBehindAProxy:
    """The README's layout: nginx on the same host, so every proxied request arrives from loopback,
    and nginx adds `X-Forwarded-For` with the client's address."""

    def test_a_proxied_request_from_loopback_needs_the_token(self, client):
        response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
        assert response.status_code == 403

    def test_a_forwarded_header_counts_too(self, client):
        response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_FORWARDED='for="203.0.113.9"')
        assert response.status_code == 403

    def test_a_client_claiming_to_be_loopback_through_the_proxy_is_refused(self, client):
        response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1")
        assert response.status_code == 403

    def test_the_token_still_works_through_the_proxy(self, settings, client):
        settings.METRICS_TOKEN = "scrape-secret"
        response = client.get(
            "/metrics",
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR="203.0.113.9",
            HTTP_AUTHORIZATION="Bearer scrape-secret",
        )
        assert response.status_code == 200

    def test_a_direct_loopback_scrape_needs_no_token(self, client):
        assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200

    def test_a_trusted_proxy_passes_on_an_allowed_client(self, settings, client):
        settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1/32")]
        settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
        allowed = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.1.2.3")
        assert allowed.status_code == 200
        ipv6 = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_FORWARDED='for="[::1]:4711"')
        assert ipv6.status_code == 403
        other = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
        assert other.status_code == 403

    def test_a_spoofed_first_hop_does_not_help(self, settings, client):
        """nginx's `$proxy_add_x_forwarded_for` appends the real address to what the client sent."""
        settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1/32")]
        response = client.get(
            "/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1, 203.0.113.9"
        )
        assert response.status_code == 403

    def test_forwarding_headers_from_an_untrusted_address_are_refused(self, settings, client):
        settings.TRUSTED_PROXIES = [ipaddress.ip_network("192.0.2.1/32")]
        response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1")
        assert response.status_code == 403
