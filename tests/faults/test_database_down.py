"""PostgreSQL crashes under a running server, then comes back.

A throwaway PostgreSQL cluster (its own folder and port), migrated; a production-like daphne against
it (DEBUG off, the psycopg pool). While steps are being written, PostgreSQL is stopped with
`pg_ctl -m immediate stop` (a crash). Then:

- the API answers 503 JSON, within a bounded time (the pool's 10 s wait), never 500 or a hang;
- a page answers an HTML error page (5xx), not a traceback;
- once PostgreSQL is back, the same daphne serves again by itself, within seconds;
- no write is half done: every step has its plan counter, its event and its audit row, and every
  step the API acknowledged is there.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg
import pytest

from tests import servers as live
from tests.faults.procs import (
    PlanWriter,
    PostgresProcess,
    StepWriter,
    manage,
    needs_postgres_binaries,
    wait_until,
)
from tests.servers import LiveServer

pytestmark = [pytest.mark.faults, pytest.mark.live, needs_postgres_binaries]

HANG_LIMIT_SECONDS = 12.5  # the pool waits 10 s for a connection; anything much longer is a hang
RECOVERY_LIMIT_SECONDS = float(os.environ.get("FAULT_DB_RECOVERY_LIMIT", "20"))
# How long the database stays down at least (the probes alone take ~10 s). Longer outages show how
# the pool's reconnect backoff grows: FAULT_DB_OUTAGE_SECONDS=60 FAULT_DB_RECOVERY_LIMIT=90 ...
OUTAGE_SECONDS = float(os.environ.get("FAULT_DB_OUTAGE_SECONDS", "0"))

SESSION_SCRIPT = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
user = get_user_model().objects.get(username="dbdown")
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session["current_org_id"] = "dbdown-org"
session.create()
print(session.session_key)
"""


@pytest.fixture(scope="module")
def drill() -> Any:
    """A migrated throwaway cluster, a token, a logged-in session, and a daphne serving from it."""
    postgres = PostgresProcess()
    server: LiveServer | None = None
    try:
        postgres.init().start()
        env = {
            **live.child_database_env(),
            "DATABASE_URL": postgres.url,
            "DEBUG": "0",
            "API_WRITE_RATE": "off",
        }
        env.pop("SQLITE_PATH", None)
        manage("migrate", "--noinput", env=env)
        token = manage("create_api_token", "dbdown", "--org", "dbdown-org", env=env).strip().splitlines()[-1]
        session_key = manage("shell", "-c", SESSION_SCRIPT, env=env).strip().splitlines()[-1]
        server = LiveServer(env_overrides=env).start()
        yield Drill(
            postgres, server, {"Authorization": f"Token {token}", "X-Org-Id": "dbdown-org"}, session_key
        )
    finally:
        if server is not None:
            server.stop()
        postgres.cleanup()


class Drill:
    def __init__(
        self, postgres: PostgresProcess, server: LiveServer, api: dict[str, str], session: str
    ) -> None:
        self.postgres, self.server, self.api = postgres, server, api
        self.url = server.url
        self.cookies = {"sessionid": session}

    def start_plan(self, title: str) -> str:
        response = httpx.post(
            f"{self.url}/api/plan/start", json={"title": title}, headers=self.api, timeout=20
        )
        assert response.status_code == 200, response.text
        return response.json()["plan_id"]


def _timed(method: str, url: str, **kwargs: Any) -> tuple[httpx.Response | None, float]:
    started = time.monotonic()
    try:
        response = httpx.request(method, url, timeout=30, **kwargs)
    except httpx.HTTPError:
        response = None
    return response, time.monotonic() - started


def _probe(url: str, requests: dict[str, tuple[str, str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Send the requests at once (they wait on the pool together); status, type, time and body of each."""

    def one(item: tuple[str, tuple[str, str, dict[str, Any]]]) -> tuple[str, dict[str, Any]]:
        name, (method, path, kwargs) = item
        response, seconds = _timed(method, f"{url}{path}", **kwargs)
        return name, {
            "status": response.status_code if response is not None else None,
            "content_type": response.headers.get("content-type") if response is not None else None,
            "seconds": round(seconds, 2),
            "body": response.text[:300] if response is not None else None,
        }

    with ThreadPoolExecutor(len(requests)) as pool:
        return dict(pool.map(one, requests.items()))


def _plan_ids(url: str) -> set[str]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return {str(row[0]) for row in conn.execute("SELECT id FROM plans_liveplan")}


def _row_counts(url: str, plan_id: str) -> dict[str, Any]:
    with psycopg.connect(url, connect_timeout=5) as conn:

        def one(sql: str, *args: Any) -> Any:
            return conn.execute(sql, args).fetchone()[0]

        return {
            "plans": one("SELECT count(*) FROM plans_liveplan"),
            "plan_audit": one("SELECT count(*) FROM aep_auditlog WHERE action = 'PLAN_START'"),
            "step_count": one("SELECT step_count FROM plans_liveplan WHERE id = %s", plan_id),
            "steps": one("SELECT count(*) FROM plans_planstep WHERE plan_id = %s", plan_id),
            "seqs": [
                r[0]
                for r in conn.execute(
                    "SELECT seq FROM plans_planstep WHERE plan_id = %s ORDER BY seq", (plan_id,)
                )
            ],
            "step_ids": {
                str(r[0])
                for r in conn.execute("SELECT id FROM plans_planstep WHERE plan_id = %s", (plan_id,))
            },
            "step_events": one(
                "SELECT count(*) FROM django_eventstream_event WHERE channel = %s AND eid > 0",
                f"plan-{plan_id}",
            ),
            "step_audit": one(
                "SELECT count(*) FROM aep_auditlog WHERE action = 'PLAN_STEP' AND resource_id = %s", plan_id
            ),
        }


def test_api_answers_503_while_the_database_is_down_and_recovers_by_itself(drill):
    plan_id = drill.start_plan("DB drill")
    api, cookies = drill.api, drill.cookies
    assert httpx.get(f"{drill.url}/plans", cookies=cookies, timeout=20).status_code == 200

    # Steps keep coming while the database crashes under them.
    writer = StepWriter(drill.url, api, plan_id, count=400, rate=20)
    plan_writer = PlanWriter(drill.url, api, "", count=200, rate=5)
    writer.start()
    plan_writer.start()
    wait_until(lambda: len(writer.acknowledged) >= 10 and len(plan_writer.acknowledged) >= 3, 30)
    drill.postgres.crash()
    crashed_at = time.monotonic()

    # Down: the API answers 503 JSON in bounded time, read and write alike; pages get an HTML 5xx.
    down = _probe(
        drill.url,
        {
            "list": ("GET", "/api/plan/list", {"headers": api}),
            "detail": ("GET", f"/api/plan/{plan_id}", {"headers": api}),
            "step": ("POST", "/api/plan/step", {"headers": api, "json": {"plan_id": plan_id, "text": "x"}}),
            "page": ("GET", "/plans", {"cookies": cookies}),
            "login_page": ("GET", "/accounts/login/", {}),
        },
    )
    for thread in (writer, plan_writer):
        thread.stop_requested.set()
    for thread in (writer, plan_writer):
        thread.join(timeout=60)
        assert not thread.is_alive()

    # Back: the same daphne recovers by itself.
    time.sleep(max(0.0, crashed_at + OUTAGE_SECONDS - time.monotonic()))
    drill.postgres.start()
    restarted_at = time.monotonic()

    def api_serves() -> bool:
        response, _ = _timed("GET", f"{drill.url}/api/plan/list", headers=api)
        return response is not None and response.status_code == 200

    wait_until(api_serves, RECOVERY_LIMIT_SECONDS + 10, 0.2)
    recovery_seconds = time.monotonic() - restarted_at
    after = httpx.post(
        f"{drill.url}/api/plan/step", json={"plan_id": plan_id, "text": "after"}, headers=api, timeout=20
    )
    page_after = httpx.get(f"{drill.url}/plans", cookies=cookies, timeout=20)

    rows = _row_counts(drill.postgres.url, plan_id)
    acknowledged = [*writer.acknowledged, after.json()["step"]["id"]] if after.status_code == 200 else []
    failures = writer.failures + plan_writer.failures
    failed_statuses = sorted({status for status, _, _ in failures})
    plan_ids = _plan_ids(drill.postgres.url)
    figures = {
        "down": {name: {k: v for k, v in d.items() if k != "body"} for name, d in down.items()},
        "seconds_down_before_restart": round(restarted_at - crashed_at, 2),
        "recovery_s": round(recovery_seconds, 2),
        "steps_acknowledged": len(writer.acknowledged),
        "steps_failed": len(writer.failures),
        "plans_acknowledged": len(plan_writer.acknowledged),
        "plans_failed": len(plan_writer.failures),
        "failure_statuses": failed_statuses,
        "failure_seconds_max": round(max((s for _, _, s in failures), default=0), 2),
        "rows": {k: v for k, v in rows.items() if k not in ("seqs", "step_ids")},
    }
    print(f"\ndatabase down: {figures}")

    # Recovered, and nothing half-written.
    assert after.status_code == 200, after.text
    assert page_after.status_code == 200
    assert recovery_seconds <= RECOVERY_LIMIT_SECONDS
    assert rows["plans"] == rows["plan_audit"]
    assert rows["steps"] == rows["step_count"] == rows["step_events"] == rows["step_audit"]
    assert rows["seqs"] == list(range(1, rows["steps"] + 1))
    assert set(acknowledged) <= rows["step_ids"], "an acknowledged step was lost"
    assert set(plan_writer.acknowledged) <= plan_ids, "an acknowledged plan was lost"
    assert set(failed_statuses) <= {0, 503}, failures[:5]

    # While down: 503 JSON from the API, an HTML error page for pages, never a traceback or a hang.
    for name in ("list", "detail", "step"):
        result = down[name]
        assert result["status"] == 503, f"{name}: {result}"
        assert result["content_type"] == "application/json", f"{name}: {result}"
        assert "detail" in json.loads(result["body"])
        assert result["seconds"] <= HANG_LIMIT_SECONDS, f"{name}: {result}"
    page = down["page"]
    assert page["status"] is not None and page["status"] >= 500, page
    assert page["content_type"].startswith("text/html"), page
    assert "Traceback" not in page["body"] and page["seconds"] <= HANG_LIMIT_SECONDS, page


def test_stream_answers_503_while_the_database_is_down(drill):
    """The stream endpoint is part of the API: a database outage is a 503 JSON there too."""
    plan_id = drill.start_plan("DB drill, stream")
    drill.postgres.crash()
    try:
        down = _probe(
            drill.url,
            {
                "new_stream": ("GET", f"/api/plan/{plan_id}/stream", {"headers": drill.api}),
                "resumed_stream": (
                    "GET",
                    f"/api/plan/{plan_id}/stream",
                    {"headers": {**drill.api, "Last-Event-ID": f"plan-{plan_id}:0"}},
                ),
            },
        )
    finally:
        drill.postgres.start()
    print(f"\nstream, database down: {down}")
    for name, result in down.items():
        assert result["status"] == 503, f"{name}: {result}"
        assert result["content_type"] == "application/json", f"{name}: {result}"
        assert result["seconds"] <= HANG_LIMIT_SECONDS, f"{name}: {result}"
