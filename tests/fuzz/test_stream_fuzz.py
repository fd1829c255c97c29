"""Fuzz the live stream endpoint, `GET /api/plan/{id}/stream`, which the OpenAPI schema does not cover.

The stream is a plain ASGI app in front of Django (live.stream), so schemathesis never reaches it.
Hypothesis calls that app in process with generated plan ids, methods, credentials, org ids,
`Last-Event-ID` headers, query strings and cookies; the client disconnects at once, so a stream that
is accepted ends after its first events (`connected`, then any replay). Whatever the input:

- the answer is one of the documented statuses, never an exception or a 5xx;
- a refusal is JSON with a `detail`;
- an accepted stream is `text/event-stream` whose first event is `connected`, whose events carry ids
  of this plan's channel in increasing order, and whose data is JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plans import services
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory, token_for
from tests.sse import SseParser, call_stream_app

pytestmark = pytest.mark.fuzz

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
FUZZ_RANDOM = os.environ.get("FUZZ_RANDOM", "") == "1"
STATUSES = {200, 400, 401, 403, 404, 405, 429}

# Filled by the fixture: the ids and credentials the strategies draw from.
WORLD: dict[str, Any] = {}

header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=80
)
segment = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/?#%"), min_size=1
)


def corrupted(draw: Any) -> bool:
    """One time in four, a request part is generated freely; else it is the valid one."""
    return draw(st.integers(0, 3)) == 0


def plan_ids() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(WORLD["plans"]),
        st.uuids().map(str),
        st.sampled_from(WORLD["plans"]).map(str.upper),
        segment,
    )


@st.composite
def last_event_ids(draw: Any, plan_id: str) -> str | None:
    number = st.integers(min_value=-5, max_value=10**20).map(str)
    channel = st.sampled_from([f"plan-{plan_id}", f"plan-{WORLD['plans'][0]}", f"plan-{uuid.uuid4()}", ""])
    one = st.one_of(number, st.builds(lambda c, n: f"{c}:{n}", channel, number), header_text)
    return draw(st.one_of(st.none(), one, st.lists(one, min_size=1, max_size=3).map(",".join)))


@st.composite
def stream_requests(draw: Any) -> dict[str, Any]:
    plan_id = draw(plan_ids()) if corrupted(draw) else WORLD["plans"][draw(st.integers(0, 1))]
    headers: list[tuple[bytes, bytes]] = []
    auth = f"Token {WORLD['tokens'][0]}"
    if corrupted(draw):
        auth = draw(
            st.one_of(
                st.none(),
                st.sampled_from(WORLD["tokens"]).map(lambda t: f"Token {t}"),
                st.sampled_from(WORLD["tokens"]).map(lambda t: f"Bearer {t}"),
                header_text,
            )
        )
    if auth is not None:
        headers.append((b"authorization", auth.encode("latin-1")))
    org = (
        draw(st.one_of(st.none(), st.sampled_from(WORLD["orgs"]), header_text))
        if corrupted(draw)
        else "fuzz-org"
    )
    org_in_query = draw(st.booleans())
    if org is not None and not org_in_query:
        headers.append((b"x-org-id", org.encode("latin-1")))
    last = draw(last_event_ids(plan_id))
    last_in_query = draw(st.booleans())
    if last is not None and not last_in_query:
        headers.append((b"last-event-id", last.encode("latin-1")))
    cookie = draw(st.one_of(header_text, st.just("sessionid=nope"))) if corrupted(draw) else None
    if cookie is not None:
        headers.append((b"cookie", cookie.encode("latin-1")))
    query: list[str] = []
    if org is not None and org_in_query:
        query.append(f"org={org}")
    if last is not None and last_in_query:
        query.append(f"lastEventId={last}")
    query += draw(
        st.lists(st.sampled_from(["html=1", "html=0", "html=true", "x=%ZZ", "org=", "lastEventId="]))
    )
    return {
        "method": draw(st.sampled_from(["HEAD", "POST", "DELETE"])) if corrupted(draw) else "GET",
        "path": f"/api/plan/{plan_id}/stream" + draw(st.sampled_from(["", "/"])),
        "query_string": "&".join(query).encode("latin-1"),
        "headers": headers,
    }


@pytest.fixture
def stream_world(transactional_db: Any) -> Any:
    member_org = OrganizationFactory(id="fuzz-org", name="Fuzz")
    other_org = OrganizationFactory(id="other-org", name="Other")
    member = UserFactory(username="fuzzer")
    outsider = UserFactory(username="outsider")
    MembershipFactory(user=member, org=member_org)
    MembershipFactory(user=outsider, org=other_org)
    plans = []
    for n in range(2):
        plan = services.start_plan(org=member_org, user=member, title=f"Plan {n}")
        for i in range(3):
            services.add_step(org=member_org, user=member, plan_id=plan.id, text=f"step {i}")
        plans.append(str(plan.id))
    services.archive_plan(org=member_org, user=member, plan_id=plans[1])
    foreign = services.start_plan(org=other_org, user=outsider, title="Other org's plan")
    WORLD.update(
        plans=[*plans, str(foreign.id)],
        tokens=[token_for(member), token_for(outsider), "0" * 40],
        orgs=["fuzz-org", "other-org", "nope"],
    )
    try:
        yield WORLD
    finally:
        WORLD.clear()


def test_stream_endpoint_answers_every_request_as_documented(stream_world: Any) -> None:
    seen: dict[int, int] = {}

    @settings(
        max_examples=FUZZ_EXAMPLES * 8,
        deadline=None,
        database=None,
        derandomize=not FUZZ_RANDOM,
        suppress_health_check=list(HealthCheck),
    )
    @given(request=stream_requests())
    def check(request: dict[str, Any]) -> None:
        status, headers, body = asyncio.run(call_stream_app(request))
        seen[status] = seen.get(status, 0) + 1
        assert status in STATUSES, (status, body[:300])
        if status != 200:
            assert headers["content-type"] == "application/json"
            assert "detail" in json.loads(body)
            return
        assert headers["content-type"].startswith("text/event-stream")
        if request["method"] == "HEAD":
            assert body == b""
            return
        events = SseParser().feed(body.decode())
        assert events and json.loads(events[0].data)["type"] == "connected"
        channel = f"plan-{uuid.UUID(request['path'].split('/')[3])}"
        numbers: dict[str, list[int]] = {}  # per event name: with ?html=1 each event also comes as HTML
        for event in events:
            if event.is_presence:  # who is here: no id, right after the replay
                assert event.id is None, event
                continue
            assert event.id is not None and event.id.startswith(f"{channel}:"), event
            numbers.setdefault(event.event, []).append(int(event.id.rsplit(":", 1)[1]))
            if event.event == "message":
                assert json.loads(event.data)["type"] in {"connected", "step", "archived", "reset"}
        replayed = numbers["message"][1:]
        assert replayed == sorted(set(replayed)), numbers
        for name, ids in numbers.items():
            assert ids == sorted(set(ids)) or name == "message", numbers

    check()
    print(f"\nstream fuzz: {sum(seen.values())} requests, by status {dict(sorted(seen.items()))}")
    assert seen.get(200), "no example reached an open stream"
