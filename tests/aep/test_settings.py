"""aep.settings read from the environment (DESIGN 2), checked in fresh interpreters (not pytest).

Each case starts `python -c` with a controlled environment: nothing leaks in from the developer's shell
or from the test run (DATABASE_URL, REDIS_URL, SECRET_KEY...).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='aep.settings'; django.setup()"
REPORT = """
import json
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "SECRET_KEY": settings.SECRET_KEY,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": settings.CSRF_COOKIE_SECURE,
    "ENGINE": db["ENGINE"],
    "NAME": str(db["NAME"]),
    "HOST": db.get("HOST"),
    "PORT": db.get("PORT"),
    "USER": db.get("USER"),
    "CONN_MAX_AGE": db.get("CONN_MAX_AGE"),
    "OPTIONS": db.get("OPTIONS", {}),
    "EVENTSTREAM_REDIS": getattr(settings, "EVENTSTREAM_REDIS", None),
}, default=str))
"""
SQLITE_PRAGMAS = """
import json
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    journal = cursor.fetchone()[0]
    cursor.execute("PRAGMA busy_timeout")
    busy = cursor.fetchone()[0]
print(json.dumps({"journal_mode": journal, "busy_timeout": busy, "vendor": connection.vendor}))
"""


def run_python(env: dict[str, str], code: str = "") -> subprocess.CompletedProcess[str]:
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "SYSTEMROOT") if key in os.environ}
    return subprocess.run(
        [sys.executable, "-c", SETUP + "\n" + code],
        env={**base, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def settings_with(env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    env = {"SQLITE_PATH": str(tmp_path / "settings.sqlite3"), **env}
    result = run_python(env, REPORT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("debug", ["0", "false", "False", "no", "off"])
def test_debug_off_without_secret_key_fails_clearly(debug, tmp_path):
    result = run_python({"DEBUG": debug, "SQLITE_PATH": str(tmp_path / "x.sqlite3")})
    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured: SECRET_KEY must be set when DEBUG is off." in (
        result.stderr
    )


def test_debug_off_with_an_empty_secret_key_fails(tmp_path):
    result = run_python({"DEBUG": "0", "SECRET_KEY": "", "SQLITE_PATH": str(tmp_path / "x.sqlite3")})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_debug_off_with_secret_key_starts_with_secure_cookies(tmp_path):
    key = "k" * 60
    settings = settings_with(
        {"DEBUG": "0", "SECRET_KEY": key, "ALLOWED_HOSTS": "example.com,b.example"}, tmp_path
    )
    assert settings["DEBUG"] is False
    assert settings["SECRET_KEY"] == key
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["CSRF_COOKIE_SECURE"] is True
    assert settings["ALLOWED_HOSTS"] == ["example.com", "b.example"]


def test_the_default_is_debug_with_a_development_key_and_a_warning(tmp_path):
    result = run_python({"SQLITE_PATH": str(tmp_path / "x.sqlite3")}, REPORT)
    assert result.returncode == 0, result.stderr
    settings = json.loads(result.stdout.strip().splitlines()[-1])
    assert settings["DEBUG"] is True
    assert settings["SECRET_KEY"]
    assert settings["SESSION_COOKIE_SECURE"] is False
    assert "SECRET_KEY is not set" in result.stderr
    assert settings["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1", "[::1]"]


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_database_url_selects_postgresql_with_a_pool(scheme, tmp_path):
    settings = settings_with({"DATABASE_URL": f"{scheme}://u@h:5432/db"}, tmp_path)
    assert settings["ENGINE"] == "django.db.backends.postgresql"
    assert (settings["NAME"], settings["HOST"], settings["PORT"], settings["USER"]) == ("db", "h", 5432, "u")
    pool = settings["OPTIONS"]["pool"]
    assert pool["max_size"] == 20
    assert pool["min_size"] >= 1
    assert settings["CONN_MAX_AGE"] == 0  # a pool and persistent connections exclude each other


def test_pool_size_comes_from_the_environment(tmp_path):
    settings = settings_with({"DATABASE_URL": "postgres://u@h:5432/db", "DB_POOL_MAX_SIZE": "7"}, tmp_path)
    assert settings["OPTIONS"]["pool"]["max_size"] == 7


def test_pool_can_be_turned_off(tmp_path):
    settings = settings_with({"DATABASE_URL": "postgres://u@h:5432/db", "DB_POOL_MAX_SIZE": "0"}, tmp_path)
    assert "pool" not in settings["OPTIONS"]


def test_no_database_url_selects_sqlite_with_wal_and_immediate_transactions(tmp_path):
    settings = settings_with({}, tmp_path)
    assert settings["ENGINE"] == "django.db.backends.sqlite3"
    assert settings["NAME"] == str(tmp_path / "settings.sqlite3")
    assert settings["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in settings["OPTIONS"]["init_command"]


def test_a_sqlite_connection_really_is_in_wal_mode_with_a_busy_timeout(tmp_path):
    result = run_python({"SQLITE_PATH": str(tmp_path / "wal.sqlite3")}, SQLITE_PRAGMAS)
    assert result.returncode == 0, result.stderr
    pragmas = json.loads(result.stdout.strip().splitlines()[-1])
    assert pragmas == {"journal_mode": "wal", "busy_timeout": 20000, "vendor": "sqlite"}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/3", {"host": "127.0.0.1", "port": 6379, "db": 3}),
        ("redis://cache.internal:6380", {"host": "cache.internal", "port": 6380, "db": 0}),
        (
            "redis://:s3cret@cache.internal/2",
            {"host": "cache.internal", "port": 6379, "db": 2, "password": "s3cret"},
        ),
    ],
)
def test_redis_url_configures_eventstream_redis(url, expected, tmp_path):
    assert settings_with({"REDIS_URL": url}, tmp_path)["EVENTSTREAM_REDIS"] == expected


def test_without_redis_url_events_stay_in_process(tmp_path):
    assert settings_with({}, tmp_path)["EVENTSTREAM_REDIS"] is None


def test_check_deploy_is_clean_with_the_documented_production_environment(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DEBUG": "0",
        "SECRET_KEY": "k" * 20 + "-production-secret-key-with-enough-entropy-0123456789",
        "ALLOWED_HOSTS": "plans.example.com",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_HSTS_SECONDS": "31536000",
        "SQLITE_PATH": str(tmp_path / "deploy.sqlite3"),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
