"""Settings for Live Plan Mode, read from the environment in this one place.

The defaults are the embedded configuration (SQLite in the project folder, live events inside the one
process) so that a fresh checkout runs with `make run`. Production sets DATABASE_URL (PostgreSQL),
REDIS_URL, SECRET_KEY, DEBUG=0 and ALLOWED_HOSTS; see README.md.
"""

from __future__ import annotations

import ipaddress
import os
import warnings
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)

_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105 (refused when DEBUG is off)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = _DEV_SECRET_KEY
    warnings.warn("SECRET_KEY is not set: using the development key.", stacklevel=1)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "django_eventstream",
    "aep",
    "live",
    "plans",
    "memory_graph",
]

# Every middleware here is synchronous and runs in the worker thread of aep.asgi_handler, which serves
# each request in one hop from the event loop (Django's own ASGI handler made 8 `sync_to_async` calls
# for a step add).
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "aep.middleware.AdminNulQueryMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    "aep.middleware.BodySizeLimitMiddleware",
]

# Requests one server process runs at once, each in a worker thread of aep.asgi_handler. A request
# holds at most one database connection: keep this at or below DB_POOL_MAX_SIZE.
ASGI_THREADS = max(1, env_int("ASGI_THREADS", 10))

ROOT_URLCONF = "aep.urls"
ASGI_APPLICATION = "aep.asgi.application"
WSGI_APPLICATION = "aep.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "aep.pages.access",  # can_write / is_org_admin for the page's org
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
# SQLite (embedded default): WAL lets readers run beside the one writer; IMMEDIATE transactions take
# the write lock at BEGIN, so two writers queue on the busy timeout instead of failing with
# "database is locked" when a read lock cannot be upgraded.
SQLITE_PATH = os.environ.get("SQLITE_PATH", str(BASE_DIR / "aep.sqlite3"))
DATABASE_URL = os.environ.get("DATABASE_URL", "")
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 20)

if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL)
else:
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": SQLITE_PATH}

if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
    }
    # Tests use a file (not an in-memory database) so that threads and server processes share it.
    _db["TEST"] = {"NAME": os.environ.get("SQLITE_TEST_PATH", str(BASE_DIR / "test-aep.sqlite3"))}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # A bounded psycopg pool per process: every request and every stream borrows a connection only
    # while it runs a query, so connections stay below PostgreSQL's max_connections.
    _db["CONN_MAX_AGE"] = 0
    _db.setdefault("OPTIONS", {})
    if DB_POOL_MAX_SIZE > 0:
        # timeout: how long a request waits for a free connection (then 503); reconnect_timeout caps
        # psycopg's growing backoff after an outage, so the pool recovers soon after the database.
        _db["OPTIONS"]["pool"] = {
            "min_size": 1,
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": env_int("DB_POOL_TIMEOUT", 5),
            "reconnect_timeout": 15,
        }
    # Server-side binding: psycopg sends parameters apart from the SQL instead of quoting them into
    # it in Python, and prepares a statement on a connection after its 5th use, so PostgreSQL stops
    # parsing and planning the same few statements on every request (a step add: 5.2 -> 4.0 ms in
    # process, docs/PERFORMANCE.md). Set DB_SERVER_SIDE_BINDING=0 behind a transaction-pooling
    # PgBouncer older than 1.21, which cannot keep prepared statements.
    if env_bool("DB_SERVER_SIDE_BINDING", True):
        _db["OPTIONS"]["server_side_binding"] = True
        _db["OPTIONS"]["prepare_threshold"] = 5
    _db["TEST"] = {"NAME": os.environ.get("POSTGRES_TEST_DB") or None}
_db["ATOMIC_REQUESTS"] = False
DATABASES = {"default": _db}

# The cache holds throttle counts: shared through Redis when there is one, else per process.
if REDIS_URL_FOR_CACHE := os.environ.get("REDIS_URL", ""):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL_FOR_CACHE,
            "KEY_PREFIX": "aep",
            # A Redis that hangs must not stall writes (the throttle lets them through on errors).
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Debug pages (DEBUG, the default of `make run`) and error reports mask passwords inside URLs too.
DEFAULT_EXCEPTION_REPORTER_FILTER = "aep.errors.SecretsReporterFilter"

# --- Live events (live/, on django-eventstream's storage) ------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
EVENTSTREAM_STORAGE_CLASS = "live.storage.EventStorage"
# With Redis, events cross processes through its pub/sub (django-eventstream's format, live.wire);
# live/ publishes to REDIS_URL, EVENTSTREAM_REDIS is django-eventstream's own name for it.
if REDIS_URL:
    _redis = urlparse(REDIS_URL)
    EVENTSTREAM_REDIS = {
        "host": _redis.hostname or "127.0.0.1",
        "port": _redis.port or 6379,
        "db": int((_redis.path or "/0").lstrip("/") or 0),
    }
    if _redis.password:
        EVENTSTREAM_REDIS["password"] = _redis.password
# Stored events older than this are trimmed; a client further behind gets `reset` and reloads.
EVENT_RETENTION_HOURS = float(os.environ.get("EVENT_RETENTION_HOURS", "24"))
# How often each process compares the stored event counters of its open channels with what it has
# delivered (events from a process that could not publish to it arrive this late at worst); 0: never.
STREAM_POLL_SECONDS = float(os.environ.get("STREAM_POLL_SECONDS", "2"))
# An idle stream gets a `: keep-alive` comment this often, so proxies keep it open.
STREAM_KEEPALIVE_SECONDS = float(os.environ.get("STREAM_KEEPALIVE_SECONDS", "15"))

# Presence (live.presence): a channel's viewers go out at most once per interval; with Redis each
# process vouches for its viewers every heartbeat, and a viewer not vouched for within the TTL (its
# process died) no longer counts. An event lists at most PRESENCE_MAX_LISTED viewers (and the count).
PRESENCE_INTERVAL_SECONDS = float(os.environ.get("PRESENCE_INTERVAL_SECONDS", "1"))
PRESENCE_HEARTBEAT_SECONDS = float(os.environ.get("PRESENCE_HEARTBEAT_SECONDS", "5"))
PRESENCE_TTL_SECONDS = float(os.environ.get("PRESENCE_TTL_SECONDS", "20"))
PRESENCE_MAX_LISTED = env_int("PRESENCE_MAX_LISTED", 20)

# The org's stream (`GET /api/org/stream`) says a plan changed at most this often per plan.
ORG_CHANGE_INTERVAL_SECONDS = float(os.environ.get("ORG_CHANGE_INTERVAL_SECONDS", "1"))

# --- Plans ----------------------------------------------------------------------------------------
# The most steps a plan holds (deleted ones aside): one more is refused with 409 (DESIGN 10).
MAX_STEPS_PER_PLAN = env_int("MAX_STEPS_PER_PLAN", 2000)
# A plan's page shows this many steps (and the rest on request, "Show all steps").
PLAN_PAGE_STEPS = env_int("PLAN_PAGE_STEPS", 200)

# --- Pushpin (GRIP) topology: optional; unset = the server holds the streams itself (live.stream) -
# GRIP_URL is Pushpin's publish endpoint (e.g. http://127.0.0.1:5561), GRIP_KEY the sig_key Pushpin
# signs the requests it forwards with. With both set, a stream request carrying a valid Grip-Sig gets
# hold instructions and Pushpin keeps the connection; every event is also published to Pushpin after
# commit. See live/grip.py, ops/pushpin.py, `make run-pushpin` and README "Pushpin topology".
GRIP_URL = os.environ.get("GRIP_URL", "").strip().rstrip("/")
GRIP_KEY = os.environ.get("GRIP_KEY", "")
if GRIP_URL and not GRIP_KEY:
    raise ImproperlyConfigured("GRIP_URL needs GRIP_KEY (the sig_key Pushpin signs its requests with).")
# Pushpin re-fetches an idle stream's next link after this many seconds (re-checking access and
# picking up an event whose publish was lost); 0 leaves it to Pushpin's default (120 s).
GRIP_NEXT_LINK_TIMEOUT = env_int("GRIP_NEXT_LINK_TIMEOUT", 120)
# Lifetime of the signed next links (they never reach clients; access is re-checked on every use).
GRIP_LINK_MAX_AGE = env_int("GRIP_LINK_MAX_AGE", 24 * 3600)

# --- Auth -----------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Password logins go through aep.login_throttle: failures are counted per username and per address
# (refused, even with the right password, at the limit until the window ends), and at most
# LOGIN_CONCURRENT_HASHES password checks run at once per process (more are refused at once).
# ModelBackend stays listed for sessions logged in before (a session names its backend); it never
# checks a password, since ThrottledModelBackend decides every password login.
AUTHENTICATION_BACKENDS = [
    "aep.login_throttle.ThrottledModelBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_FAILURES_PER_USERNAME = env_int("LOGIN_FAILURES_PER_USERNAME", 10)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 100)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900)
LOGIN_CONCURRENT_HASHES = env_int("LOGIN_CONCURRENT_HASHES", 2)
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/plans"
LOGOUT_REDIRECT_URL = "/accounts/login/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "aep.authentication.TokenOrBearerAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["aep.parsers.SafeJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "aep.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_CLASSES": ["aep.throttling.WriteRateThrottle"],
}

# --- Accounts (DESIGN 12) -------------------------------------------------------------------------
API_TOKEN_DEFAULT_DAYS = env_int("API_TOKEN_DEFAULT_DAYS", 90)  # a new token's life unless asked
API_TOKEN_MAX_DAYS = 365
# `last_used_at` is written at most this often per token: a busy client costs no write per request.
API_TOKEN_LAST_USED_SECONDS = 60
INVITATION_DAYS = env_int("INVITATION_DAYS", 7)
# Open streams re-check their credentials (expiry, and any revocation a lost message missed) this
# often, in one batch of queries per process (live.hub); revocations also arrive at once by message.
STREAM_AUTH_RECHECK_SECONDS = float(os.environ.get("STREAM_AUTH_RECHECK_SECONDS", "3"))
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "live-plan-mode@localhost")
if EMAIL_HOST := os.environ.get("EMAIL_HOST", ""):
    EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)

# --- Abuse limits ---------------------------------------------------------------------------------
API_WRITE_RATE = os.environ.get("API_WRITE_RATE", "600/min")  # per user; "off" disables
MAX_STREAMS_PER_USER = env_int("MAX_STREAMS_PER_USER", 50)  # per server process
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# prometheus_client's multiprocess mode: counters of every server process, read from this folder.
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
# A retry with the same Idempotency-Key within this time returns the first response.
IDEMPOTENCY_TTL_HOURS = float(os.environ.get("IDEMPOTENCY_TTL_HOURS", "24"))
METRICS_ALLOWED_NETWORKS = [
    ipaddress.ip_network(net, strict=False) for net in env_list("METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
]
# Proxies (addresses or networks) whose X-Forwarded-For / Forwarded is believed (aep.middleware
# .client_address: /metrics' allow-list, the login limit per address). A request carrying one of those
# headers from anyone else is not "local" for /metrics: it needs METRICS_TOKEN.
TRUSTED_PROXIES = [ipaddress.ip_network(net, strict=False) for net in env_list("TRUSTED_PROXIES", [])]

SPECTACULAR_SETTINGS = {
    "TITLE": "Live Plan Mode API",
    "DESCRIPTION": "Collaborative live plans, org-scoped. Send `Authorization: Token <key>` and `X-Org-Id`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's files are served from our own static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Internationalisation, static files -----------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves static files from the ASGI process itself (no separate web server needed);
# in DEBUG it serves them straight from the app folders, so `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# The largest request body (413 above). Servers started by `make run` refuse a larger announced
# Content-Length before reading it and stop a chunked body as soon as it passes this (aep.http_limits).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BODY_BYTES", 256 * 1024)
# Slow clients (aep.daphne_server, aep.uvicorn_protocol: the servers `make run` starts). A connection
# waiting for a request (just opened, or its previous response sent) must deliver the request line and
# headers within HTTP_HEADER_TIMEOUT seconds, then the body within HTTP_BODY_TIMEOUT, else it is closed
# (408 once a request has begun). Once the body is in, no timeout applies: streams stay open.
HTTP_HEADER_TIMEOUT = float(os.environ.get("HTTP_HEADER_TIMEOUT") or 10)
HTTP_BODY_TIMEOUT = float(os.environ.get("HTTP_BODY_TIMEOUT") or 30)

# --- Production safety ----------------------------------------------------------------------------
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django_eventstream": {"level": "WARNING"},
        # Where the server listens is said whatever LOG_LEVEL is (ops.processes waits for that line).
        "daphne.server": {"level": "INFO"},
    },
}
