"""The tenant isolation matrix (DESIGN 3, issue 7 item 2): every endpoint that shows or changes org data,
asked for org A's objects by everyone who must not get them, each expecting one precise status.

Personas (tests/conftest.py): nobody (no credentials), a bad token, bob (org B only), carol (A and B,
but acting for org B), sam (staff and superuser, org B only); and vic, a viewer in org A, whose every
write is refused (403) and whose reads are allowed. Org A's data is plan_a (two steps) and a
second plan of org A archived into a memory node ("Zanzibar ..."); org B has a plan and a "Zanzibar"
memory node of its own, so B's lists and searches return something, just nothing of A.

Every request of the matrix checks: the status; that no title, step text or id of org A is in the body
(the name of org A as well for users who are not in it); and that nothing was written (rows of plans,
steps, audit, events, memory nodes and edges, idempotency records, and every plan's state, before and
after). Writes that are allowed (a member of B starting a plan in B) are checked to land in org B.
API tokens are the user's own, not the org's: nobody lists, revokes or (with a token) makes one for
another user.

Control requests (alice, a member of A) show that the same checks see org A's data when it is there.

The admin is the moderators' tool, not a tenant surface: non-staff users are sent to the admin login,
and a superuser (sam) sees every org's plans and nodes there, by design: the admin lists plans of
all orgs with a filter by org (DESIGN 7); it is for moderation, and its users are the operators.

The number of (persona, endpoint) requests is printed at the end of the module and recorded per test
(`record_property("matrix_requests", n)`, in the JUnit XML).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django_eventstream.models import Event
from rest_framework.test import APIClient

from aep.models import ApiToken, AuditLog, IdempotencyRecord, Membership, Organization
from aep.tenancy import SESSION_ORG_KEY
from memory_graph.models import MemoryEdge, MemoryNode
from plans import services
from plans.models import LivePlan, PlanStep
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory, token_for
from tests.servers import LiveServer
from tests.sse import SseStream

pytestmark = pytest.mark.django_db

BAD_TOKEN = "Token 0123456789abcdef0123456789abcdef01234567"
SEARCH_WORD = "Zanzibar"
A_ARCHIVED_TITLE = "Zanzibar ferry timetable"
A_ARCHIVED_STEPS = ["Compare the Stone Town crossings"]
B_ARCHIVED_TITLE = "Zanzibar spice tour for B"

# (persona, endpoint) requests made, by surface; printed when the module ends.
MATRIX: Counter[str] = Counter()
CONTROLS: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_matrix_size(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not MATRIX:
        return
    by_surface = ", ".join(f"{surface} {count}" for surface, count in sorted(MATRIX.items()))
    line = (
        f"isolation matrix: {sum(MATRIX.values())} (persona, endpoint) requests ({by_surface}); "
        f"{sum(CONTROLS.values())} control requests by a member of org A"
    )
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(line)


def counted(surface: str, record_property: Any) -> None:
    MATRIX[surface] += 1
    record_property("matrix_requests", 1)


# --- one world for the module ---------------------------------------------------------------------------
#
# Every request of the matrix reads (or is refused before writing) the same data, so it is made once
# for the module and COMMITTED (the live daphne of the stream tests must see it), then each test runs
# in its own transaction as usual (pytest-django's `db`), so what a test writes (a session, a plan
# started in org B) is rolled back. The module flushes the database at the end, as `transactional_db`
# does after each test. Made per test, the same data took ~20 s of the module on PostgreSQL.


@pytest.fixture(scope="module")
def committed_db(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        assert not Organization.objects.exists(), "the matrix needs an empty test database"
        try:
            yield
        finally:
            call_command("flush", verbosity=0, interactive=False)


@pytest.fixture(scope="module")
def people(committed_db: None) -> dict[str, Any]:
    """The personas of tests/conftest.py, committed: alice (A), bob (B), carol (A and B), sam (staff,
    superuser, B)."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        org_a = OrganizationFactory(id="org-a", name="Org A")
        org_b = OrganizationFactory(id="org-b", name="Org B")
        alice = UserFactory(username="alice", first_name="Alice", last_name="Archer")
        bob = UserFactory(username="bob")
        carol = UserFactory(username="carol")
        sam = UserFactory(username="sam", is_staff=True, is_superuser=True)
    for user, org in ((alice, org_a), (bob, org_b), (carol, org_a), (carol, org_b), (sam, org_b)):
        MembershipFactory(user=user, org=org)
    vic = UserFactory(username="vic")  # a viewer in org A: reads A, writes nothing
    MembershipFactory(user=vic, org=org_a, role="viewer")
    for user in (alice, bob, carol, sam, vic):
        token_for(user)
    return {
        "org_a": org_a,
        "org_b": org_b,
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "sam": sam,
        "vic": vic,
    }


def _archive(org: Any, user: Any, title: str, steps: list[str]) -> MemoryNode:
    plan = services.start_plan(org=org, user=user, title=title, participants=[user.username])
    for text in steps:
        services.add_step(org=org, user=user, plan_id=plan.id, text=text)
    plan = services.archive_plan(org=org, user=user, plan_id=plan.id)
    return MemoryNode.objects.get(id=plan.memory_node_id)


@pytest.fixture(scope="module")
def archived_node_a(people: dict[str, Any]) -> MemoryNode:
    """A second plan of org A, archived through the service: org A's memory node."""
    return _archive(people["org_a"], people["alice"], A_ARCHIVED_TITLE, A_ARCHIVED_STEPS)


@pytest.fixture(scope="module")
def archived_node_b(people: dict[str, Any]) -> MemoryNode:
    """Org B's own "Zanzibar" node: B's searches find it, and must find nothing else."""
    return _archive(people["org_b"], people["bob"], B_ARCHIVED_TITLE, [])


@dataclass
class World:
    plan_a: LivePlan
    node_a: MemoryNode
    plan_b: LivePlan
    node_b: MemoryNode
    users: dict[str, Any]
    sessions: dict[str, str]  # username -> a committed session key (the stream reads it in daphne)
    token_a: ApiToken  # alice's API token (user-scoped, not org-scoped: nobody else may touch it)

    @property
    def org_a_secrets(self) -> list[str]:
        """Everything of org A a response must not carry (as it would appear in JSON or HTML)."""
        archived_plan_id = self.node_a.metadata["plan_id"]
        return [
            self.plan_a.title,
            *self.plan_a.steps.values_list("text", flat=True),
            str(self.plan_a.id),
            self.plan_a.id.hex,
            self.node_a.title,
            A_ARCHIVED_TITLE,
            *A_ARCHIVED_STEPS,
            archived_plan_id,
            str(self.node_a.id),
            self.node_a.id.hex,
            "Alice Archer",  # the owner of org A's steps
            self.token_a.prefix,  # alice's token, as lists show it
        ]

    def assert_no_org_a_data(self, body: str, *, member_of_a: bool = False) -> None:
        for secret in self.org_a_secrets:
            assert secret not in body, f"org A's {secret!r} leaked"
        if not member_of_a:  # carol may see org A's name in her org switcher, nobody else may
            assert "Org A" not in body and "org-a" not in body, "org A's name leaked"

    def assert_shows_org_a_data(self, body: str) -> None:
        """Controls: the same markers are found when a member of A looks."""
        assert any(secret in body for secret in self.org_a_secrets)


@pytest.fixture(scope="module")
def world(people: dict[str, Any], archived_node_a: MemoryNode, archived_node_b: MemoryNode) -> World:
    org_a, org_b, alice, bob = people["org_a"], people["org_b"], people["alice"], people["bob"]
    # plan_a and plan_b exactly as in tests/conftest.py
    plan_a = services.start_plan(org=org_a, user=alice, title="Auth service", participants=["alice"])
    services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="Design the token schema")
    services.add_step(org=org_a, user=alice, plan_id=plan_a.id, text="Write the migration", owner="bob")
    plan_a.refresh_from_db()
    plan_b = services.start_plan(org=org_b, user=bob, title="Secret B plan")
    services.add_step(org=org_b, user=bob, plan_id=plan_b.id, text="B-only step")
    users = {name: people[name] for name in ("alice", "bob", "carol", "sam", "vic")}
    sessions = {}
    for name in ("bob", "carol", "sam"):
        client = Client()
        client.force_login(users[name])
        sessions[name] = client.cookies["sessionid"].value
    token_a = ApiToken.objects.get(user=alice)
    return World(plan_a, archived_node_a, plan_b, archived_node_b, users, sessions, token_a)


def rows() -> dict[str, Any]:
    """Everything a request could write: row counts, and the state of every plan and node."""
    return {
        "plans": sorted(
            (str(p[0]), *p[1:])
            for p in LivePlan.objects.values_list(
                "id",
                "org_id",
                "title",
                "description",
                "version",
                "step_count",
                "archived",
                "memory_node_id",
                "updated_at",
            )
        ),
        "steps": sorted(
            (str(s[0]), *s[1:])
            for s in PlanStep.objects.values_list("id", "text", "done", "version", "position", "deleted_at")
        ),
        "audit": AuditLog.objects.count(),
        "events": Event.objects.count(),
        "nodes": sorted((str(i), o) for i, o in MemoryNode.objects.values_list("id", "org_id")),
        "edges": MemoryEdge.objects.count(),
        "idempotency": IdempotencyRecord.objects.count(),
        "tokens": ApiToken.objects.count(),
    }


def org_a_rows() -> dict[str, Any]:
    """Org A's part of `rows()`: what a member of B writing in B must leave alone."""
    return {
        "plans": sorted(
            (str(p[0]), *p[1:])
            for p in LivePlan.objects.filter(org_id="org-a").values_list(
                "id", "title", "step_count", "archived", "memory_node_id", "updated_at"
            )
        ),
        "steps": PlanStep.objects.filter(plan__org_id="org-a").count(),
        "audit": AuditLog.objects.filter(org_id="org-a").count(),
        "nodes": MemoryNode.objects.filter(org_id="org-a").count(),
        "edges": MemoryEdge.objects.filter(org_id="org-a").count(),
    }


# --- the JSON API ------------------------------------------------------------------------------------

# persona -> (user, X-Org-Id)
API_PERSONAS: dict[str, tuple[str | None, str]] = {
    "anonymous": (None, "org-a"),
    "bad-token": ("bad-token", "org-a"),
    "bob@org-b": ("bob", "org-b"),
    "bob@org-a": ("bob", "org-a"),
    "carol@org-b": ("carol", "org-b"),
    "sam@org-b": ("sam", "org-b"),
    "sam@org-a": ("sam", "org-a"),
}

# endpoint -> (method, path, body); {plan} is plan A's id, {node} org A's memory node's id.
API_ENDPOINTS: dict[str, tuple[str, str, dict[str, str] | None]] = {
    "GET /api/plan/{A}": ("get", "/api/plan/{plan}", None),
    "POST /api/plan/step": ("post", "/api/plan/step", {"plan_id": "{plan}", "text": "Intruder step"}),
    "POST /api/plan/{A}/archive": ("post", "/api/plan/{plan}/archive", {}),
    "PATCH /api/plan/{A}": ("patch", "/api/plan/{plan}", {"title": "Intruder title"}),
    "PATCH /api/plan/{A}/steps/{S}": ("patch", "/api/plan/{plan}/steps/{step}", {"text": "x", "done": True}),
    "POST /api/plan/{A}/steps/{S}/move": ("post", "/api/plan/{plan}/steps/{step}/move", {"after": None}),
    "DELETE /api/plan/{A}/steps/{S}": ("delete", "/api/plan/{plan}/steps/{step}", None),
    "POST /api/plan/{A}/steps/{S}/restore": ("post", "/api/plan/{plan}/steps/{step}/restore", {}),
    "GET /api/plan/{A}/presence": ("get", "/api/plan/{plan}/presence", None),
    "GET /api/plan/list": ("get", "/api/plan/list", None),
    "POST /api/plan/start": ("post", "/api/plan/start", {"title": "Intruder plan"}),
    "GET /api/memory/search": ("get", f"/api/memory/search?q={SEARCH_WORD}", None),
    "GET /api/memory/nodes/{A node}": ("get", "/api/memory/nodes/{node}", None),
    # DESIGN 13: search by meaning, related nodes, links made by people.
    "GET /api/memory/search (semantic)": ("get", f"/api/memory/search?q={SEARCH_WORD}&mode=semantic", None),
    "GET /api/memory/nodes/{A node}/related": ("get", "/api/memory/nodes/{node}/related", None),
    "POST /api/memory/nodes/{A node}/links": ("post", "/api/memory/nodes/{node}/links", {"target": "{node}"}),
    "GET /api/org/members": ("get", "/api/org/members", None),
    # A user's own tokens (DESIGN 12): not org-scoped; nobody reaches another user's token.
    "GET /api/tokens": ("get", "/api/tokens", None),
    "POST /api/tokens": ("post", "/api/tokens", {"name": "Intruder token"}),
    "DELETE /api/tokens/{alice's}": ("delete", "/api/tokens/{token}", None),
}
USER_SCOPED = {"GET /api/tokens": 200, "POST /api/tokens": 403, "DELETE /api/tokens/{alice's}": 404}
ON_A_OBJECT = {
    "GET /api/plan/{A}",
    "GET /api/plan/{A}/presence",
    "POST /api/plan/step",
    "POST /api/plan/{A}/archive",
    "PATCH /api/plan/{A}",
    "PATCH /api/plan/{A}/steps/{S}",
    "POST /api/plan/{A}/steps/{S}/move",
    "DELETE /api/plan/{A}/steps/{S}",
    "POST /api/plan/{A}/steps/{S}/restore",
    "GET /api/memory/nodes/{A node}",
    "GET /api/memory/nodes/{A node}/related",
    "POST /api/memory/nodes/{A node}/links",
}


def api_status(persona: str, endpoint: str) -> int:
    user, org = API_PERSONAS[persona]
    if user in (None, "bad-token"):
        return 401
    if endpoint in USER_SCOPED:  # POST: a token cannot make tokens; DELETE: not your token
        return USER_SCOPED[endpoint]
    if org == "org-a":
        return 403  # bob and sam are not members of org A: refused before anything is looked up
    return 404 if endpoint in ON_A_OBJECT else 200  # acting for org B: A's objects do not exist


API_MATRIX = [
    pytest.param(persona, endpoint, api_status(persona, endpoint), id=f"{endpoint} | {persona}")
    for endpoint in API_ENDPOINTS
    for persona in API_PERSONAS
]


def api_client(world: World, user: str | None, org: str | None) -> APIClient:
    client = APIClient()
    if user == "bad-token":
        client.credentials(HTTP_AUTHORIZATION=BAD_TOKEN)
    elif user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(world.users[user])}")
    if org is not None:
        client.defaults["HTTP_X_ORG_ID"] = org
    return client


def api_call(client: APIClient, world: World, endpoint: str) -> Any:
    method, path, body = API_ENDPOINTS[endpoint]
    step = world.plan_a.steps.order_by("position").first()
    url = path.format(plan=world.plan_a.id, node=world.node_a.id, step=step.id, token=world.token_a.pk)
    if method in ("get", "delete"):
        return getattr(client, method)(url)
    data = {
        k: v.format(plan=world.plan_a.id, node=world.node_a.id) if isinstance(v, str) else v
        for k, v in (body or {}).items()
    }
    return getattr(client, method)(url, data, format="json")


@pytest.mark.parametrize(("persona", "endpoint", "status"), API_MATRIX)
def test_api(world: World, persona: str, endpoint: str, status: int, record_property: Any) -> None:
    user, org = API_PERSONAS[persona]
    client = api_client(world, user, org)
    before, before_a = rows(), org_a_rows()

    response = api_call(client, world, endpoint)
    counted("api", record_property)

    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.content.decode()
    world.assert_no_org_a_data(body, member_of_a=user == "carol")
    data = json.loads(body)
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Token")
    if status != 200:
        assert set(data) == {"detail"}
        assert rows() == before, "a refused request wrote something"
        return
    # Allowed: acting for org B, the answer is org B's and only org B's.
    b_plans = {str(p) for p in LivePlan.objects.filter(org_id="org-b").values_list("id", flat=True)}
    if endpoint == "GET /api/plan/list":
        assert {p["id"] for p in data["plans"]} == b_plans and data["count"] == len(b_plans)
        assert {p["org_id"] for p in data["plans"]} == {"org-b"}
        assert rows() == before
    elif endpoint.startswith("GET /api/memory/search"):
        assert [r["id"] for r in data["results"]] == [str(world.node_b.id)]
        assert rows() == before
    elif endpoint == "POST /api/plan/start":
        created = LivePlan.objects.get(id=data["plan_id"])
        assert created.org_id == "org-b" and created.title == "Intruder plan"
        assert org_a_rows() == before_a, "a write for org B touched org A"
    elif endpoint == "GET /api/org/members":
        assert {m["username"] for m in data["members"]} == {"bob", "carol", "sam"}  # org B's
        assert rows() == before
    elif endpoint == "GET /api/tokens":
        own = set(ApiToken.objects.filter(user=world.users[user]).values_list("pk", flat=True))
        assert {t["id"] for t in data["tokens"]} == own and world.token_a.pk not in own
        assert rows() == before
    else:  # pragma: no cover - every 200 is one of the above
        pytest.fail(f"unexpected 200 for {endpoint}")


@pytest.mark.parametrize(
    "endpoint",
    [
        "GET /api/plan/{A}",
        "GET /api/plan/list",
        "GET /api/memory/search",
        "GET /api/memory/search (semantic)",
        "GET /api/memory/nodes/{A node}",
    ],
)
def test_api_control_member_of_a_sees_it(world: World, endpoint: str) -> None:
    """Controls: the leak markers are found when a member of org A asks, so the matrix would see a leak."""
    response = api_call(api_client(world, "alice", "org-a"), world, endpoint)
    CONTROLS["api"] += 1
    assert response.status_code == 200, response.content
    world.assert_shows_org_a_data(response.content.decode())


# The viewer persona: vic, a viewer in org A, reads all of A and writes nothing (DESIGN 12).
VIEWER_WRITES = [
    e for e, (method, _, _) in API_ENDPOINTS.items() if method == "post" and e not in USER_SCOPED
]
VIEWER_READS = [e for e, (method, _, _) in API_ENDPOINTS.items() if method == "get" and e not in USER_SCOPED]


@pytest.mark.parametrize("endpoint", VIEWER_WRITES)
def test_api_viewer_of_a_cannot_write(world: World, endpoint: str, record_property: Any) -> None:
    before = rows()
    response = api_call(api_client(world, "vic", "org-a"), world, endpoint)
    counted("api", record_property)
    assert response.status_code == 403, response.content
    assert set(response.json()) == {"detail"} and "viewer" in response.json()["detail"]
    assert rows() == before, "a viewer's write wrote something"


@pytest.mark.parametrize("endpoint", VIEWER_READS)
def test_api_viewer_of_a_reads(world: World, endpoint: str, record_property: Any) -> None:
    before = rows()
    response = api_call(api_client(world, "vic", "org-a"), world, endpoint)
    counted("api", record_property)
    assert response.status_code == 200, response.content
    # People, not plan data; and org A's one node has no neighbour in org A: its related list is
    # empty, but allowed.
    people_or_empty = (
        "GET /api/org/members",
        "GET /api/plan/{A}/presence",
        "GET /api/memory/nodes/{A node}/related",
    )
    if endpoint not in people_or_empty:
        world.assert_shows_org_a_data(response.content.decode())
    assert rows() == before


# Requests that act in org B but name org A's node inside the body: refused as invalid input naming
# the field (exactly as for a node that does not exist), and nothing is written.
B_PERSONAS = ["bob@org-b", "carol@org-b", "sam@org-b"]
REFERENCES = {
    "POST /api/plan/start (template: A node)": ("/api/plan/start", {"title": "Intruder plan"}, "template"),
    "POST /api/memory/nodes/{B node}/links (target: A node)": (
        "/api/memory/nodes/{node_b}/links",
        {},
        "target",
    ),
}


@pytest.mark.parametrize("persona", B_PERSONAS)
@pytest.mark.parametrize("endpoint", list(REFERENCES))
def test_api_org_b_cannot_reach_a_node_of_a(
    world: World, persona: str, endpoint: str, record_property: Any
) -> None:
    user, org = API_PERSONAS[persona]
    path, body, field = REFERENCES[endpoint]
    before = rows()
    response = api_client(world, user, org).post(
        path.format(node_b=world.node_b.id), {**body, field: str(world.node_a.id)}, format="json"
    )
    counted("api", record_property)
    assert response.status_code == 400, response.content
    assert set(response.json()) == {field}
    world.assert_no_org_a_data(response.content.decode(), member_of_a=user == "carol")
    assert rows() == before


# --- the live stream (a real daphne, one for the session: tests/servers.py) -----------------------------


@pytest.fixture
def daphne(_shared_daphne: LiveServer) -> LiveServer:
    """The session's daphne (tests/servers.py), without `live_daphne`'s `transactional_db`: the world is
    already committed, and a refused stream writes nothing to flush."""
    if _shared_daphne.process is None or _shared_daphne.process.poll() is not None:
        _shared_daphne.start()
    return _shared_daphne


# persona -> (user or session user, X-Org-Id header, ?org=, expected status)
STREAM_PERSONAS: dict[str, tuple[str | None, str | None, str | None, int]] = {
    "anonymous": (None, "org-a", None, 401),
    "bad-token": ("bad-token", "org-a", None, 401),
    "bob@org-b": ("bob", "org-b", None, 404),
    "bob@org-a": ("bob", "org-a", None, 403),
    "carol@org-b": ("carol", "org-b", None, 404),
    "sam@org-b": ("sam", "org-b", None, 404),
    "sam@org-a": ("sam", "org-a", None, 403),
    # The pages' way in: the session cookie and ?org= (EventSource cannot send headers).
    "anonymous ?org=org-a": (None, None, "org-a", 401),
    "session bob ?org=org-b": ("session:bob", None, "org-b", 404),
    "session bob ?org=org-a": ("session:bob", None, "org-a", 403),
    "session carol ?org=org-b": ("session:carol", None, "org-b", 404),
    "session sam ?org=org-b": ("session:sam", None, "org-b", 404),
}


def stream_headers(world: World, user: str | None, header_org: str | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if user == "bad-token":
        headers["Authorization"] = BAD_TOKEN
    elif user is not None and user.startswith("session:"):
        headers["Cookie"] = f"sessionid={world.sessions[user.removeprefix('session:')]}"
    elif user is not None:
        headers["Authorization"] = f"Token {token_for(world.users[user])}"
    if header_org is not None:
        headers["X-Org-Id"] = header_org
    return headers


@pytest.mark.live
@pytest.mark.parametrize("persona", list(STREAM_PERSONAS))
def test_stream(daphne: LiveServer, world: World, persona: str, record_property: Any) -> None:
    user, header_org, query_org, status = STREAM_PERSONAS[persona]
    headers = stream_headers(world, user, header_org)
    query = f"?{urlencode({'org': query_org})}" if query_org else ""
    before = rows()

    with SseStream(f"{daphne.url}/api/plan/{world.plan_a.id}/stream{query}", headers=headers) as s:
        counted("stream", record_property)
        assert s.status_code == status
        assert s.headers["content-type"] == "application/json"
        body = s.json_body()
        raw = s.body.decode()
    assert set(body) == {"detail"}
    assert not s.pending and "data:" not in raw and "event:" not in raw, "events sent to a refused stream"
    world.assert_no_org_a_data(raw, member_of_a=(user or "").endswith("carol"))
    assert rows() == before


@pytest.mark.live
def test_stream_control_member_of_a_is_connected(daphne: LiveServer, world: World) -> None:
    headers = stream_headers(world, "alice", "org-a")
    with SseStream(f"{daphne.url}/api/plan/{world.plan_a.id}/stream", headers=headers) as s:
        CONTROLS["stream"] += 1
        assert s.status_code == 200
        assert s.next_event().json == {"type": "connected", "plan_id": str(world.plan_a.id)}


@pytest.mark.live
def test_stream_viewer_of_a_is_connected(daphne: LiveServer, world: World) -> None:
    """Every role reads: a viewer's stream is open like a member's."""
    headers = stream_headers(world, "vic", "org-a")
    with SseStream(f"{daphne.url}/api/plan/{world.plan_a.id}/stream", headers=headers) as s:
        CONTROLS["stream"] += 1
        assert s.status_code == 200
        assert s.next_event().json == {"type": "connected", "plan_id": str(world.plan_a.id)}


# --- server-rendered pages (the org comes from the session, chosen with POST /org/switch) ------------

PAGE_PERSONAS = ["anonymous", "bob", "carol@org-b", "sam"]

# endpoint -> (method, path, form data, extra headers, status for a logged-in user acting for org B)
PAGE_ENDPOINTS: dict[str, tuple[str, str, dict[str, str] | None, dict[str, str], int]] = {
    "GET /plans": ("get", "/plans", None, {}, 200),
    "GET /plans?archived=1": ("get", "/plans?archived=1", None, {}, 200),
    "GET /plan/{A}": ("get", "/plan/{plan}", None, {}, 404),
    "GET /plan/{A}?steps=all": ("get", "/plan/{plan}?steps=all", None, {}, 404),
    "GET /plan/{A}/progress": ("get", "/plan/{plan}/progress", None, {}, 404),
    "POST /plan/{A}/step": ("post", "/plan/{plan}/step", {"text": "Intruder step", "owner": "x"}, {}, 404),
    "POST /plan/{A}/step (htmx)": (
        "post",
        "/plan/{plan}/step",
        {"text": "Intruder step", "owner": "x"},
        {"HTTP_HX_REQUEST": "true"},
        404,
    ),
    "POST /plan/{A}/archive": ("post", "/plan/{plan}/archive", {}, {}, 404),
    "GET /memory": ("get", "/memory", None, {}, 200),
    "GET /memory?q=word": ("get", f"/memory?q={SEARCH_WORD}", None, {}, 200),
    "GET /memory/search?q=word (htmx)": (
        "get",
        f"/memory/search?q={SEARCH_WORD}",
        None,
        {"HTTP_HX_REQUEST": "true"},
        200,
    ),
    "GET /memory/{A node}": ("get", "/memory/{node}", None, {}, 404),
    # DESIGN 13: links from a node page, similar plans while typing a title, a plan from a template.
    "POST /memory/{A node}/links": ("post", "/memory/{node}/links", {"target": "{node}"}, {}, 404),
    "GET /memory/similar?title=word (htmx)": (
        "get",
        f"/memory/similar?title={SEARCH_WORD}",
        None,
        {"HTTP_HX_REQUEST": "true"},
        200,
    ),
    "GET /plans/new?template={A node}": ("get", "/plans/new?template={node}", None, {}, 200),
    "POST /plans/new (template: A node)": (
        "post",
        "/plans/new",
        {"title": "Intruder plan", "template": "{node}", "participants": ""},
        {},
        422,
    ),
    # Accounts (DESIGN 12): one's own tokens; members and invitations for org admins only.
    "GET /settings/tokens": ("get", "/settings/tokens", None, {}, 200),
    "POST /settings/tokens/{alice's}/revoke": ("post", "/settings/tokens/{token}/revoke", {}, {}, 302),
    "GET /org/members": ("get", "/org/members", None, {}, 403),
    "POST /org/members/invite": ("post", "/org/members/invite", {"role": "admin"}, {}, 403),
    "POST /org/members/{alice's}/remove": ("post", "/org/members/{membership}/remove", {}, {}, 403),
}

PAGE_MATRIX = [
    pytest.param(persona, endpoint, id=f"{endpoint} | {persona}")
    for endpoint in PAGE_ENDPOINTS
    for persona in PAGE_PERSONAS
]


def page_client(world: World, persona: str) -> Client:
    client = Client()  # CSRF is not enforced here: the refusal must come from tenancy, not from CSRF
    if persona == "anonymous":
        return client
    name = persona.split("@")[0]
    client.force_login(world.users[name])
    if persona == "carol@org-b":
        response = client.post("/org/switch", {"org": "org-b"})
        assert response.status_code == 302
    return client


def login_redirect(login_url: str, path: str) -> str:
    return f"{login_url}?{urlencode({'next': path}, safe='/')}"


@pytest.mark.parametrize(("persona", "endpoint"), PAGE_MATRIX)
def test_page(world: World, persona: str, endpoint: str, record_property: Any) -> None:
    method, path, data, extra, member_status = PAGE_ENDPOINTS[endpoint]
    membership = Membership.objects.get(user=world.users["alice"], org_id="org-a").pk
    url = path.format(
        plan=world.plan_a.id, node=world.node_a.id, token=world.token_a.pk, membership=membership
    )
    client = page_client(world, persona)
    before = rows()
    if data is not None:
        data = {k: v.format(node=world.node_a.id) for k, v in data.items()}

    response = (
        getattr(client, method)(url, data, **extra)
        if data is not None
        else getattr(client, method)(url, **extra)
    )
    counted("pages", record_property)

    body = response.content.decode()
    world.assert_no_org_a_data(body, member_of_a=persona.startswith("carol"))
    assert rows() == before, "a page request wrote something"
    assert Membership.objects.filter(pk=membership).exists()
    if persona == "anonymous":
        assert response.status_code == 302
        assert response["Location"] == login_redirect("/accounts/login/", url)
        return
    if persona == "carol@org-b" and endpoint in ("GET /plan/{A}", "GET /plan/{A}?steps=all"):
        # She is a member of org A too: the link switches her to it (DESIGN 11), showing nothing yet.
        assert (response.status_code, response["Location"]) == (302, url)
        assert client.session[SESSION_ORG_KEY] == "org-a"
        return
    assert response.status_code == member_status, body[:500]
    assert client.session[SESSION_ORG_KEY] == "org-b"
    if member_status == 404:
        assert "Page not found" in body  # the site's 404 page, exactly as for a plan that does not exist
        return
    if endpoint.startswith("GET /plans/new"):
        assert "Starting from" not in body  # A's node is no template for org B
    elif endpoint.startswith("GET /plans"):
        shown = world.plan_b.title if "archived" not in endpoint else B_ARCHIVED_TITLE
        assert shown in body  # B's cards are there, A's are not
    elif SEARCH_WORD in endpoint or endpoint == "GET /memory":
        assert B_ARCHIVED_TITLE in body  # B's node is found, A's is not


@pytest.mark.parametrize(
    "endpoint",
    ["GET /plans", "GET /plans?archived=1", "GET /plan/{A}", "GET /memory?q=word", "GET /memory/{A node}"],
)
def test_page_control_member_of_a_sees_it(world: World, endpoint: str) -> None:
    _, path, _, extra, _ = PAGE_ENDPOINTS[endpoint]
    client = Client()
    client.force_login(world.users["alice"])
    response = client.get(path.format(plan=world.plan_a.id, node=world.node_a.id), **extra)
    CONTROLS["pages"] += 1
    assert response.status_code == 200
    world.assert_shows_org_a_data(response.content.decode())


@pytest.mark.parametrize(("persona", "status"), [("anonymous", 302), ("bob", 403), ("sam", 403)])
def test_page_switch_to_org_a_is_refused(
    world: World, persona: str, status: int, record_property: Any
) -> None:
    """A non-member cannot make org A the session's org; the session keeps its org."""
    client = page_client(world, persona)
    if persona != "anonymous":
        client.get("/plans")  # the session's org is chosen (org B, their only one)
    before = rows()

    response = client.post("/org/switch", {"org": "org-a", "next": "/plans"})
    counted("pages", record_property)

    assert response.status_code == status
    world.assert_no_org_a_data(response.content.decode())
    assert rows() == before
    if persona == "anonymous":
        assert response["Location"] == login_redirect("/accounts/login/", "/org/switch")
    else:
        assert client.session[SESSION_ORG_KEY] == "org-b"
        assert client.get(f"/plan/{world.plan_a.id}").status_code == 404


# --- the admin: the moderators' tool ------------------------------------------------------------------

ADMIN_ENDPOINTS = {
    "plans changelist": "/admin/plans/liveplan/",
    "plan A page": "/admin/plans/liveplan/{plan}/change/",
    "memory nodes changelist": "/admin/memory_graph/memorynode/",
    "A node page": "/admin/memory_graph/memorynode/{node}/change/",
}
ADMIN_PERSONAS = ["anonymous", "bob", "carol", "sam"]
# What sam sees on each admin page: org A's data beside org B's.
ADMIN_SHOWS: dict[str, Any] = {
    "plans changelist": lambda w: {w.plan_a.title, A_ARCHIVED_TITLE, w.plan_b.title, "Org A", "Org B"},
    "plan A page": lambda w: {w.plan_a.title, "Design the token schema", "Write the migration", "Org A"},
    "memory nodes changelist": lambda w: {w.node_a.title, w.node_b.title, "Org A", "Org B"},
    "A node page": lambda w: {w.node_a.title, A_ARCHIVED_STEPS[0], "Org A"},
}


def set_of_fragments(body: str, world: World) -> set[str]:
    """Which of the fragments ADMIN_SHOWS looks for are in the body."""
    candidates = set().union(*(shows(world) for shows in ADMIN_SHOWS.values()))
    return {fragment for fragment in candidates if fragment in body}


ADMIN_MATRIX = [
    pytest.param(persona, endpoint, id=f"admin {endpoint} | {persona}")
    for endpoint in ADMIN_ENDPOINTS
    for persona in ADMIN_PERSONAS
]


@pytest.mark.parametrize(("persona", "endpoint"), ADMIN_MATRIX)
def test_admin(world: World, persona: str, endpoint: str, record_property: Any) -> None:
    """Non-staff users (members of A or not) are sent to the admin login; sam, a Django superuser,
    sees every org's plans and nodes: the admin does not scope by org, by design (moderation)."""
    url = ADMIN_ENDPOINTS[endpoint].format(plan=world.plan_a.id, node=world.node_a.id)
    client = Client()
    if persona != "anonymous":
        client.force_login(world.users[persona])
    before = rows()

    response = client.get(url)
    counted("admin", record_property)

    body = response.content.decode()
    assert rows() == before
    if persona != "sam":
        assert response.status_code == 302
        assert response["Location"] == login_redirect("/admin/login/", url)
        world.assert_no_org_a_data(body, member_of_a=persona == "carol")
        return
    # sam is staff of org B only, and sees org A's objects here: the admin is not scoped by org.
    assert response.status_code == 200
    assert ADMIN_SHOWS[endpoint](world) <= set_of_fragments(body, world)
