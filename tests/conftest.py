"""Shared fixtures: two orgs and the personas that try every endpoint (DESIGN 3, STYLE personas).

- alice: member of org A        - bob: member of org B only
- carol: member of A and B      - sam: staff, member of org B only
- vic: viewer in org A          - ada: admin of org A
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from plans import services
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory, token_for


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_write_throttle(settings: Any) -> None:
    """Throttling has its own tests; elsewhere a busy test must not be refused for its pace."""
    from django.core.cache import cache

    settings.API_WRITE_RATE = "off"
    cache.clear()


@pytest.fixture(autouse=True)
def _events_in_this_process(settings: Any) -> None:
    """In-process tests deliver events inside this process: a Redis listener would bind to the
    first test's event loop. Cross-process delivery is tested with real servers, given REDIS_URL."""
    settings.REDIS_URL = ""


@pytest.fixture(scope="session", autouse=True)
def _org_announcements_at_once() -> Iterator[None]:
    """In this process every change is told to the org's stream at once, in the thread that made
    it: an announcer thread could not see a test's uncommitted data, and would write while later
    tests count rows. Session-wide, so that module fixtures get it too; the servers the tests
    start run as configured. tests/plans/test_events.py tests the coalescing with an interval."""
    from django.conf import settings as django_settings

    previous = django_settings.ORG_CHANGE_INTERVAL_SECONDS
    django_settings.ORG_CHANGE_INTERVAL_SECONDS = 0
    yield
    django_settings.ORG_CHANGE_INTERVAL_SECONDS = previous


@pytest.fixture
def org_a(db):  # type: ignore[no-untyped-def]
    return OrganizationFactory(id="org-a", name="Org A")


@pytest.fixture
def org_b(db):  # type: ignore[no-untyped-def]
    return OrganizationFactory(id="org-b", name="Org B")


@pytest.fixture
def alice(org_a):  # type: ignore[no-untyped-def]
    user = UserFactory(username="alice", first_name="Alice", last_name="Archer")
    MembershipFactory(user=user, org=org_a)
    return user


@pytest.fixture
def bob(org_b):  # type: ignore[no-untyped-def]
    user = UserFactory(username="bob")
    MembershipFactory(user=user, org=org_b)
    return user


@pytest.fixture
def carol(org_a, org_b):  # type: ignore[no-untyped-def]
    user = UserFactory(username="carol")
    MembershipFactory(user=user, org=org_a)
    MembershipFactory(user=user, org=org_b)
    return user


@pytest.fixture
def sam(org_b):  # type: ignore[no-untyped-def]
    user = UserFactory(username="sam", is_staff=True, is_superuser=True)
    MembershipFactory(user=user, org=org_b)
    return user


@pytest.fixture
def vic(org_a):  # type: ignore[no-untyped-def]
    """A viewer in org A: reads everything there, writes nothing (DESIGN 12)."""
    user = UserFactory(username="vic", first_name="Vic")
    MembershipFactory(user=user, org=org_a, role="viewer")
    return user


@pytest.fixture
def ada(org_a):  # type: ignore[no-untyped-def]
    """An admin of org A: manages its members and invitations."""
    user = UserFactory(username="ada", first_name="Ada")
    MembershipFactory(user=user, org=org_a, role="admin")
    return user


@pytest.fixture
def make_client() -> Callable[..., APIClient]:
    """An API client with a user's token and an org header (either may be left out)."""

    def make(user: Any = None, org: Any = None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
        if org is not None:
            client.defaults["HTTP_X_ORG_ID"] = org if isinstance(org, str) else org.id
        return client

    return make


@pytest.fixture
def client_a(make_client, alice, org_a) -> APIClient:  # type: ignore[no-untyped-def]
    return make_client(alice, org_a)


@pytest.fixture
def plan_a(alice, org_a):  # type: ignore[no-untyped-def]
    """A plan of org A, started by alice, with two steps."""
    plan = services.start_plan(org=org_a, user=alice, title="Auth service", participants=["alice"])
    services.add_step(org=org_a, user=alice, plan_id=plan.id, text="Design the token schema")
    services.add_step(org=org_a, user=alice, plan_id=plan.id, text="Write the migration", owner="bob")
    plan.refresh_from_db()
    return plan


@pytest.fixture
def plan_b(bob, org_b):  # type: ignore[no-untyped-def]
    plan = services.start_plan(org=org_b, user=bob, title="Secret B plan")
    services.add_step(org=org_b, user=bob, plan_id=plan.id, text="B-only step")
    return plan


from tests.servers import _shared_daphne, live_daphne, live_daphne_factory  # noqa: E402, F401  (fixtures)
