"""aep.errors.SecretsReporterFilter: Django's debug page (DEBUG is the default of `make run`) shows
no password from a URL: not DATABASE_URL's, REDIS_URL's, a cache LOCATION's nor a local variable's
(DESIGN 14). Django's own filter hides settings by name only, and these names look harmless."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.test import Client

from aep.errors import mask_url_passwords

# Built, not written out: the debug page also shows the source lines around each frame.
DB_PW, REDIS_PW, CACHE_PW, LOCAL_PW, DSN_PW = (
    "-".join(("hunter2", what)) for what in ("db", "r", "c", "l", "d")
)
DB_URL = f"postgres://aep:{DB_PW}@db.internal:5432/aep"
REDIS_URL = f"redis://:{REDIS_PW}@redis.internal:6379/0"
CACHE_URL = f"redis://cacheuser:{CACHE_PW}@cache.internal:6380/1"
PASSWORDS = (DB_PW, REDIS_PW, CACHE_PW, LOCAL_PW, DSN_PW)


@pytest.fixture
def debug_with_secrets(settings: Any) -> Any:
    settings.DEBUG = True
    settings.DATABASE_URL = DB_URL
    settings.REDIS_URL = REDIS_URL
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": CACHE_URL}
    }
    settings.ERROR_DSN = [f"https://reporter:{DSN_PW}@errors.example/12"]
    return settings


def failing(*args: Any, **kwargs: Any) -> Any:
    url = f"postgres://aep:{LOCAL_PW}@db.internal/aep"  # a local variable of a traceback frame
    raise RuntimeError(f"could not reach {url.split('@')[1]}")


def assert_no_password(body: str) -> None:
    assert "RuntimeError" in body  # it is the debug page, with the traceback
    for password in PASSWORDS:
        assert password not in body, password
    assert "db.internal:5432/aep" in body  # the rest of the URL is still there to debug with
    assert "redis.internal" in body


@pytest.mark.django_db
def test_a_page_500_debug_page_masks_url_passwords(debug_with_secrets, alice, org_a):
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    with mock.patch("aep.pages.user_orgs", failing):
        response = client.get("/plans", HTTP_ACCEPT="text/html")
    assert response.status_code == 500
    assert_no_password(response.content.decode())


@pytest.mark.django_db
def test_an_api_500_debug_text_masks_url_passwords(debug_with_secrets, client_a, plan_a):
    client_a.raise_request_exception = False
    with mock.patch("plans.api.services.add_step", failing):
        response = client_a.post("/api/plan/step", {"plan_id": str(plan_a.id), "text": "x"}, format="json")
    assert response.status_code == 500
    assert_no_password(response.content.decode())


def test_the_filter_is_the_default_one() -> None:
    assert django_settings.DEFAULT_EXCEPTION_REPORTER_FILTER == "aep.errors.SecretsReporterFilter"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgres://u:p@h:5432/d", "postgres://u:***@h:5432/d"),
        ("redis://:p@h/0", "redis://:***@h/0"),
        (
            "see rediss://default:s3cr%40t@h:6380 and amqp://a:b@c/",
            "see rediss://default:***@h:6380 and amqp://a:***@c/",
        ),
        ("postgres://u@h/d", "postgres://u@h/d"),
        ("http://h:8000/path@x", "http://h:8000/path@x"),
        ("no url", "no url"),
    ],
)
def test_mask_url_passwords(text: str, expected: str) -> None:
    assert mask_url_passwords(text, "***") == expected
