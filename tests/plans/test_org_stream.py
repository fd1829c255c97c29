"""The org's stream (`GET /api/org/stream`, DESIGN 11) against a real daphne: the org's plans,
live, with the plan stream's authentication, status codes, ids and replay."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.live.test_revocation import REDIS_URL, needs_redis
from tests.plans.test_stream_live import auth, post_step
from tests.sse import SseStream


def org_stream(server: Any, headers: dict[str, str], query: str = "") -> SseStream:
    return SseStream(f"{server.url}/api/org/stream{query}", headers=headers)


def start(server: Any, user: Any, org: Any, title: str) -> str:
    response = httpx.post(f"{server.url}/api/plan/start", json={"title": title}, headers=auth(user, org))
    assert response.status_code == 200, response.text
    return response.json()["plan_id"]


@pytest.mark.live
class TestOrgStream:
    def test_a_member_sees_plans_start_change_and_leave(self, live_daphne, alice, carol, org_a):
        with org_stream(live_daphne, auth(carol, org_a)) as s:
            assert s.status_code == 200
            connected = s.next_event()
            assert connected.json == {"type": "connected", "org_id": "org-a"}
            assert connected.id == "org-org-a:0"
            plan_id = start(live_daphne, alice, org_a, "Roll out SSO")
            started = s.next_event()
            assert started.id == "org-org-a:1"
            assert started.json["type"] == "plan_started"
            assert started.json["plan"]["title"] == "Roll out SSO" and started.json["plan"]["id"] == plan_id
            post_step(live_daphne, alice, org_a, plan_id, "Pick a provider")
            changed = s.next_event(3).json
            assert changed["type"] == "plan_changed"
            assert changed["plan"]["progress"] == {"done": 0, "total": 1}
            assert "steps" not in changed["plan"]
            archive = httpx.post(f"{live_daphne.url}/api/plan/{plan_id}/archive", headers=auth(alice, org_a))
            assert archive.status_code == 200
            archived = s.next_event(3).json
            assert archived == {
                "type": "plan_archived",
                "plan_id": plan_id,
                "memory_node_id": archive.json()["memory_node_id"],
            }

    def test_another_orgs_plans_never_arrive(self, live_daphne, alice, bob, org_a, org_b):
        with org_stream(live_daphne, auth(alice, org_a)) as s:
            assert s.next_event().json["type"] == "connected"
            start(live_daphne, bob, org_b, "B's secret plan")
            assert s.no_event(1.5)

    def test_a_reconnect_gets_what_it_missed(self, live_daphne, alice, org_a):
        with org_stream(live_daphne, auth(alice, org_a)) as s:
            position = s.next_event().id
        first = start(live_daphne, alice, org_a, "Missed one")
        second = start(live_daphne, alice, org_a, "Missed two")
        with org_stream(live_daphne, {**auth(alice, org_a), "Last-Event-ID": position}) as s:
            assert s.next_event().json["type"] == "connected"
            missed = [e.json["plan"]["id"] for e in s.events(2)]
            assert missed == [first, second]

    def test_refusals_are_the_plan_streams(self, live_daphne, alice, bob, org_a, org_b):
        assert org_stream(live_daphne, {}).status_code == 401
        assert org_stream(live_daphne, {"Authorization": "Token nope"}).status_code == 401
        refused = org_stream(live_daphne, auth(alice, org_b))  # not a member of B
        assert refused.status_code == 403 and "detail" in refused.json_body()
        for other_channel in ("plan-x:1", "org-org-b:1"):  # another channel's position
            bad_id = org_stream(live_daphne, {**auth(alice, org_a), "Last-Event-ID": other_channel})
            assert bad_id.status_code == 400, other_channel

    def test_a_viewer_reads_the_org_stream(self, live_daphne, vic, alice, org_a):
        with org_stream(live_daphne, auth(vic, org_a)) as s:
            assert s.next_event().json["type"] == "connected"
            start(live_daphne, alice, org_a, "Seen by a viewer")
            assert s.next_event().json["type"] == "plan_started"

    def test_pages_get_the_card(self, live_daphne, alice, org_a):
        with org_stream(live_daphne, auth(alice, org_a), "?html=1") as s:
            assert s.next_event().json["type"] == "connected"
            plan_id = start(live_daphne, alice, org_a, "Card <b>title</b>")
            assert s.next_event().json["type"] == "plan_started"
            html = s.next_event()
            assert html.event == "org_html" and html.id == "org-org-a:1"
            assert f'data-op="add" data-plan="{plan_id}"' in html.data
            assert f'id="plan-card-{plan_id}"' in html.data
            assert "Card &lt;b&gt;title&lt;/b&gt;" in html.data  # escaped as on the page


@pytest.mark.live
@needs_redis
def test_across_processes_the_list_hears_every_process(live_daphne_factory, alice, carol, org_a):
    """PostgreSQL + Redis, two servers: a plan started and changed through one reaches the org's
    stream held by the other, in order."""
    one = live_daphne_factory(REDIS_URL=REDIS_URL)
    other = live_daphne_factory(REDIS_URL=REDIS_URL)
    with org_stream(one, auth(carol, org_a)) as s:
        assert s.next_event().json["type"] == "connected"
        plan_id = start(other, alice, org_a, "Started elsewhere")
        post_step(other, alice, org_a, plan_id, "And changed there")
        heard = [(e.id, e.json["type"]) for e in s.events(2, timeout=5)]
        assert heard == [("org-org-a:1", "plan_started"), ("org-org-a:2", "plan_changed")]
