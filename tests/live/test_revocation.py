"""Revocation reaches open streams (DESIGN 12): a token revoked or expired, a member removed, a user
deactivated, a session logged out ends the stream within 5 seconds, and the reconnect is refused.

Against real daphne processes (tests/servers.py): on one process the revoking service's own
message ends the stream; across processes it travels over Redis (TEST_REDIS_URL, set by .ci/run);
without any message (a change made in the database, an expiry) the hub's periodic batched
re-check ends it. The units (matching, the batch of queries, the hub) are tested first.
"""

from __future__ import annotations

import datetime
import os
import time
from typing import Any

import httpx
import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from aep import revocation
from aep.accounts import members, tokens
from aep.models import ApiToken, Membership
from aep.revocation import Credential
from live import grip
from live.hub import Hub, Subscriber
from live.stream import StreamDenied, _next_link_user
from tests.plans.test_pushpin import KEY as PUSHPIN_KEY
from tests.plans.test_pushpin import needs_pushpin
from tests.sse import SseStream

REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL not set (CI sets it)")
WITHIN = 5.0  # DESIGN 12
NO_RECHECK = {"STREAM_AUTH_RECHECK_SECONDS": "600"}  # only a message can end the stream in time


# --- units --------------------------------------------------------------------------------------------
class TestCredential:
    def test_a_message_matches_when_all_it_names_match(self):
        token = Credential(user=1, org="a", token=7)
        session = Credential(user=1, org="a", session_key="k")
        assert token.matches({"token": 7}) and not token.matches({"token": 8})
        assert token.matches({"user": 1}) and session.matches({"user": 1})
        assert token.matches({"user": 1, "org": "a"}) and not token.matches({"user": 1, "org": "b"})
        assert session.matches({"session": revocation.session_id("k")}) and not token.matches(
            {"session": "x"}
        )
        assert not token.matches({}) and not token.matches({"unknown": 1})

    def test_pub_sub_never_carries_a_session_key(self):
        assert "k3y" not in revocation.session_id("k3y")


@pytest.mark.django_db
class TestStillValid:
    def test_one_batch_of_queries_however_many_streams(
        self, alice, vic, org_a, django_assert_max_num_queries
    ):
        creds = set()
        for i in range(20):
            token, _ = tokens.token_create(user=alice if i % 2 else vic, name=f"t{i}")
            creds.add(Credential(user=token.user_id, org="org-a", token=token.pk))
        client = Client()
        client.force_login(alice)
        creds.add(Credential(user=alice.pk, org="org-a", session_key=client.session.session_key))
        with django_assert_max_num_queries(4):
            assert revocation.still_valid(creds) == creds

    def test_each_way_access_is_lost(self, alice, carol, ada, org_a, org_b):
        def token_cred(user: Any, org: str = "org-a") -> Credential:
            token, _ = tokens.token_create(user=user, name="t")
            return Credential(user=user.pk, org=org, token=token.pk)

        revoked, expired, removed, kept_b = (
            token_cred(alice),
            token_cred(ada),
            token_cred(carol),
            token_cred(carol, "org-b"),
        )
        ApiToken.objects.filter(pk=revoked.token).delete()
        ApiToken.objects.filter(pk=expired.token).update(expires_at=timezone.now())
        Membership.objects.filter(user=carol, org=org_a).delete()
        client = Client()
        client.force_login(ada)
        live = Credential(user=ada.pk, org="org-a", session_key=client.session.session_key)
        gone = Credential(user=ada.pk, org="org-a", session_key="no-such-session")
        valid = revocation.still_valid({revoked, expired, removed, kept_b, live, gone})
        assert valid == {kept_b, live}
        ada.set_password("a-new-password-1")  # as a password change elsewhere does
        ada.save()
        assert revocation.still_valid({live}) == set()
        ada.refresh_from_db()
        client.force_login(ada)
        relogged = Credential(user=ada.pk, org="org-a", session_key=client.session.session_key)
        assert revocation.still_valid({relogged}) == {relogged}
        ada.is_active = False
        ada.save()
        assert revocation.still_valid({relogged}) == set()


class TestHub:
    def test_revoke_ends_only_the_matching_streams(self):
        hub = Hub()
        subs = []
        for user, token in ((1, 10), (1, 11), (2, 12)):
            sub = Subscriber("plan-x")
            sub.credential = Credential(user=user, org="a", token=token)
            hub.channels.setdefault("plan-x", set()).add(sub)
            subs.append(sub)
        assert hub.revoke({"token": 10}) == 1
        assert [s.ended for s in subs] == [True, False, False]
        assert hub.revoke({"user": 1, "org": "b"}) == 0
        assert hub.revoke({"user": 1}) == 1
        assert [s.ended for s in subs] == [True, True, False]
        assert subs[0].sender is None  # nothing more is written to an ended stream


# --- real servers -------------------------------------------------------------------------------------
def token_stream(server: Any, plan: Any, secret: str, org: str = "org-a") -> SseStream:
    """The stream, opened as a client would: right after start, Pushpin can answer "Accept service
    unavailable" (500) until its handler is connected; an EventSource retries, and so does this.
    The first held stream after Pushpin's start has also, twice in CI, got no response head at all
    within 10 s (never reproduced alone); that attempt is given up and made again, as a client
    whose connection stalls reconnects."""
    headers = {"Authorization": f"Token {secret}", "X-Org-Id": org}
    deadline = time.monotonic() + 30
    while True:
        try:
            stream = SseStream(f"{server.url}/api/plan/{plan.id}/stream", headers=headers)
        except TimeoutError:
            if time.monotonic() > deadline:
                raise
            continue
        not_ready = stream.status_code == 500 and b"Accept service unavailable" in stream.body
        if not not_ready or time.monotonic() > deadline:
            return stream
        stream.close()
        time.sleep(0.2)


def session_stream(server: Any, plan: Any, session_key: str, org: str = "org-a") -> SseStream:
    return SseStream(
        f"{server.url}/api/plan/{plan.id}/stream?org={org}", headers={"Cookie": f"sessionid={session_key}"}
    )


def ends_within(stream: SseStream, seconds: float) -> float:
    """Seconds until the server ended the stream (events before that are skipped)."""
    start = time.monotonic()
    while True:
        left = seconds - (time.monotonic() - start)
        if left <= 0:
            raise AssertionError(f"the stream was still open after {seconds} s")
        try:
            stream.next_event(left)
        except ConnectionError:
            return time.monotonic() - start
        except TimeoutError:
            continue


def connected(stream: SseStream) -> SseStream:
    assert stream.status_code == 200, stream.body
    assert stream.next_event().json["type"] == "connected"
    return stream


def refused(server: Any, plan: Any, headers: dict[str, str], query: str = "") -> int:
    with SseStream(f"{server.url}/api/plan/{plan.id}/stream{query}", headers=headers) as again:
        return again.status_code


@pytest.mark.live
class TestOneProcess:
    def test_a_token_revoked_through_the_api_ends_its_stream_at_once(
        self, live_daphne_factory, alice, plan_a
    ):
        server = live_daphne_factory(**NO_RECHECK)
        token, secret = tokens.token_create(user=alice, name="panel")
        _other, other_secret = tokens.token_create(user=alice, name="other")
        with (
            connected(token_stream(server, plan_a, secret)) as revoked,
            connected(token_stream(server, plan_a, other_secret)) as kept,
        ):
            response = httpx.delete(
                f"{server.url}/api/tokens/{token.pk}", headers={"Authorization": f"Token {secret}"}
            )
            assert response.status_code == 204
            assert ends_within(revoked, WITHIN) < 2.0
            assert kept.no_event(0.5)  # the user's other token keeps its stream
        assert refused(server, plan_a, {"Authorization": f"Token {secret}", "X-Org-Id": "org-a"}) == 401

    def test_a_logout_on_the_same_process_ends_the_session_stream(self, live_daphne_factory, alice, plan_a):
        server = live_daphne_factory(**NO_RECHECK)
        signed_in = Client()
        signed_in.force_login(alice)
        session_key = signed_in.cookies["sessionid"].value
        browser = httpx.Client(base_url=server.url, cookies={"sessionid": session_key})
        assert browser.get("/plans").status_code == 200  # sets the CSRF cookie, as a page does
        with connected(session_stream(server, plan_a, session_key)) as stream:
            out = browser.post(
                "/accounts/logout/", data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]}
            )
            assert out.status_code == 302
            assert ends_within(stream, WITHIN) < 2.0
        assert refused(server, plan_a, {"Cookie": f"sessionid={session_key}"}, "?org=org-a") == 401

    @pytest.mark.parametrize(
        "case", ["token expired", "member removed", "user deactivated", "session deleted"]
    )
    def test_without_any_message_the_batched_recheck_ends_it(
        self, live_daphne_factory, alice, org_a, plan_a, case
    ):
        """Changes that announce nothing (an expiry; rows changed by a script or the shell) are
        found by the hub's periodic re-check: one batch of queries for all the process' streams."""
        server = live_daphne_factory(STREAM_AUTH_RECHECK_SECONDS="1")
        token, secret = tokens.token_create(user=alice, name="t")
        client = Client()
        client.force_login(alice)
        session_key = client.cookies["sessionid"].value
        by_session = case in ("session deleted", "password changed")
        opened = (
            session_stream(server, plan_a, session_key)
            if by_session
            else token_stream(server, plan_a, secret)
        )
        with connected(opened) as stream:
            assert stream.no_event(1.5)  # still valid: the re-check leaves it open
            if case == "token expired":
                ApiToken.objects.filter(pk=token.pk).update(
                    expires_at=timezone.now() - datetime.timedelta(seconds=1)
                )
            elif case == "member removed":
                Membership.objects.filter(user=alice, org=org_a).delete()
            elif case == "user deactivated":
                type(alice).objects.filter(pk=alice.pk).update(is_active=False)
            elif case == "session deleted":
                Session.objects.filter(session_key=session_key).delete()
            else:  # in another browser: this session's pages are logged out, and so is its stream
                alice.set_password("changed-elsewhere-1")
                alice.save()
            assert ends_within(stream, WITHIN) < WITHIN
        headers = (
            {"Cookie": f"sessionid={session_key}"}
            if by_session
            else {"Authorization": f"Token {secret}", "X-Org-Id": "org-a"}
        )
        status = refused(server, plan_a, headers, "?org=org-a" if by_session else "")
        assert status in (401, 403)

    def test_a_role_change_leaves_the_stream_open(self, live_daphne_factory, ada, alice, org_a, plan_a):
        server = live_daphne_factory(STREAM_AUTH_RECHECK_SECONDS="1")
        _token, secret = tokens.token_create(user=alice, name="t")
        with connected(token_stream(server, plan_a, secret)) as stream:
            membership = Membership.objects.get(user=alice, org=org_a)
            members.member_set_role(org=org_a, by=ada, membership_id=membership.pk, role="viewer")
            assert stream.no_event(2.5)  # every role reads


@pytest.mark.live
@needs_redis
class TestAcrossProcesses:
    """The revocation is made on another process (or this test process); only the Redis message can
    end the stream in time, because the re-check is off."""

    @pytest.fixture
    def two(self, live_daphne_factory):  # type: ignore[no-untyped-def]
        return (
            live_daphne_factory(REDIS_URL=REDIS_URL, **NO_RECHECK),
            live_daphne_factory(REDIS_URL=REDIS_URL, **NO_RECHECK),
        )

    @pytest.fixture
    def publishing(self, settings):  # type: ignore[no-untyped-def]
        settings.REDIS_URL = REDIS_URL  # the services called in this test process publish too
        revocation._redis_client = None
        yield
        revocation._redis_client = None

    def test_token_revoked_on_another_process(self, two, alice, plan_a):
        one, other = two
        token, secret = tokens.token_create(user=alice, name="panel")
        with connected(token_stream(one, plan_a, secret)) as stream:
            time.sleep(0.3)  # the hub's Redis subscription starts with the first stream
            response = httpx.delete(
                f"{other.url}/api/tokens/{token.pk}", headers={"Authorization": f"Token {secret}"}
            )
            assert response.status_code == 204
            assert ends_within(stream, WITHIN) < 2.0
        assert refused(one, plan_a, {"Authorization": f"Token {secret}", "X-Org-Id": "org-a"}) == 401

    def test_member_removed(self, two, publishing, ada, alice, org_a, plan_a):
        one, _other = two
        _token, secret = tokens.token_create(user=alice, name="panel")
        with connected(token_stream(one, plan_a, secret)) as stream:
            time.sleep(0.3)
            membership = Membership.objects.get(user=alice, org=org_a)
            members.member_remove(org=org_a, by=ada, membership_id=membership.pk)
            assert ends_within(stream, WITHIN) < 2.0
        assert refused(one, plan_a, {"Authorization": f"Token {secret}", "X-Org-Id": "org-a"}) == 403

    def test_user_deactivated(self, two, publishing, alice, plan_a):
        one, _other = two
        _token, secret = tokens.token_create(user=alice, name="panel")
        with connected(token_stream(one, plan_a, secret)) as stream:
            time.sleep(0.3)
            alice.is_active = False
            alice.save()
            members.user_deactivated(user=alice)
            assert ends_within(stream, WITHIN) < 2.0
        assert refused(one, plan_a, {"Authorization": f"Token {secret}", "X-Org-Id": "org-a"}) == 401

    def test_session_logged_out_elsewhere(self, two, publishing, alice, plan_a):
        one, _other = two
        browser = Client()
        browser.force_login(alice)
        session_key = browser.cookies["sessionid"].value
        with connected(session_stream(one, plan_a, session_key)) as stream:
            time.sleep(0.3)
            assert browser.post("/accounts/logout/").status_code == 302  # Django's LogoutView, here
            assert ends_within(stream, WITHIN) < 2.0
        assert refused(one, plan_a, {"Cookie": f"sessionid={session_key}"}, "?org=org-a") == 401


# --- behind Pushpin: the connection is held by Pushpin, not by a server process ----------------------
@needs_pushpin
@pytest.mark.live
class TestThroughPushpin:
    """A revocation publishes a `close` on the stream's revocation channel (live.grip), from whichever
    process announces it; Pushpin ends the held connection."""

    def test_a_token_revoked_through_the_api_closes_the_held_stream(self, pushpin, alice, plan_a):  # type: ignore[no-untyped-def]
        token, secret = tokens.token_create(user=alice, name="panel")
        _other, other_secret = tokens.token_create(user=alice, name="other")
        with (
            connected(token_stream(pushpin, plan_a, secret)) as revoked,
            connected(token_stream(pushpin, plan_a, other_secret)) as kept,
        ):
            response = httpx.delete(
                f"{pushpin.url}/api/tokens/{token.pk}", headers={"Authorization": f"Token {secret}"}
            )
            assert response.status_code == 204
            assert ends_within(revoked, WITHIN) < 2.0
            assert kept.no_event(0.5)
        assert refused(pushpin, plan_a, {"Authorization": f"Token {secret}", "X-Org-Id": "org-a"}) == 401

    def test_a_member_removed_in_another_process(self, pushpin, settings, ada, alice, org_a, plan_a):  # type: ignore[no-untyped-def]
        settings.GRIP_URL, settings.GRIP_KEY = f"http://127.0.0.1:{pushpin.publish_port}", PUSHPIN_KEY
        _token, secret = tokens.token_create(user=alice, name="panel")
        with connected(token_stream(pushpin, plan_a, secret)) as stream:
            membership = Membership.objects.get(user=alice, org=org_a)
            members.member_remove(org=org_a, by=ada, membership_id=membership.pk)  # here, in the test
            assert ends_within(stream, WITHIN) < 2.0
        assert refused(pushpin, plan_a, {"Authorization": f"Token {secret}", "X-Org-Id": "org-a"}) == 403

    def test_a_revoked_token_is_refused_at_the_next_link(self, alice, org_a, plan_a):  # type: ignore[no-untyped-def]
        """Pushpin's next-link fetch re-checks the token the link names (an expiry is found there)."""
        token, _secret = tokens.token_create(user=alice, name="t")
        claims = {"u": alice.pk, "c": f"plan-{plan_a.id}", "o": "org-a", "h": 0, "t": token.pk}
        assert _next_link_user(claims) == alice
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())
        with pytest.raises(StreamDenied):
            _next_link_user(claims)


class TestGripChannels:
    def test_each_revocation_names_the_channel_its_streams_hold(self):
        token = grip.revoke_channels(user=1, org="a", token=7)
        session = grip.revoke_channels(user=1, org="a", session="abc")
        assert grip.revoke_channel({"token": 7}) in token
        assert grip.revoke_channel({"session": "abc"}) in session
        assert (
            grip.revoke_channel({"user": 1, "org": "a"}) in token
            and grip.revoke_channel({"user": 1, "org": "a"}) in session
        )
        assert grip.revoke_channel({"user": 1}) in token
        assert grip.revoke_channel({"user": 1, "org": "b"}) not in token
        assert grip.revoke_channel({"token": 8}) not in token

    def test_the_hold_lists_them_after_the_plan_channel(self):
        headers = dict(
            grip.hold_headers(
                channel="plan-x",
                html=False,
                last_id=3,
                link="/n",
                keepalive_seconds=15,
                revoke_on=["revoke~t7"],
            )
        )
        assert headers[b"grip-channel"] == b"plan-x; prev-id=3, revoke~t7"

    def test_a_next_link_keeps_the_credential(self):
        claims = grip.read_next_token(
            grip.make_next_token(user_id=1, channel="plan-x", org_id="a", html=False, token=7)
        )
        assert claims == {"u": 1, "c": "plan-x", "o": "a", "h": 0, "t": 7}
