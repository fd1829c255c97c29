"""Fuzz every operation of our own OpenAPI schema (`/api/schema/`) with schemathesis.

The schema is loaded from the app itself (Django's WSGI application, in process, on the test
database), so what is fuzzed is exactly what is documented. Every request is authenticated as a member
of an org that owns a few plans (one archived, so a memory node exists) and generated ids are often
replaced by real ones, so that the fuzzer reaches the 200 paths and not only the 404s.

Checks: no 5xx, the status code is documented, the content type and the body match the schema.

    .venv/bin/pytest tests/fuzz                       # FUZZ_EXAMPLES=25 per operation (CI)
    FUZZ_EXAMPLES=500 .venv/bin/pytest tests/fuzz     # longer
    FUZZ_RANDOM=1 ...                                 # a new random seed each run (CI is derandomized)
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from aep.wsgi import application
from plans import services
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory, token_for

pytestmark = pytest.mark.fuzz

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
FUZZ_RANDOM = os.environ.get("FUZZ_RANDOM", "") == "1"
ORG_ID = "fuzz-org"


@schemathesis.check
def errors_are_json(ctx: Any, response: Any, case: Any) -> None:
    """DESIGN 4: every error the API returns is JSON, `{"detail": ...}` or DRF field errors."""
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith("application/json"), f"error {response.status_code} is {content_type}"
        body = response.json()
        assert isinstance(body, dict) and body, f"error body is not a JSON object: {body!r}"


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    errors_are_json,
]

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)

# Ids of rows that exist during the test; the hooks below mix them into generated requests.
KNOWN: dict[str, list[str]] = {"plan_id": [], "node_id": [], "step_id": [], "after": []}
# Requests made per operation and status code, printed in pytest's summary (tests/fuzz/conftest.py).
CALLS: Counter[tuple[str, int]] = Counter()


def _with_known_ids(values: dict[str, Any] | None, names: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """Either the generated values, or the same with an id replaced by one that exists."""
    if not isinstance(values, dict):
        return st.just(values)
    options = [values]
    for name in names:
        if name in values and KNOWN.get(name):
            options += [{**values, name: known} for known in KNOWN[name]]
    return st.sampled_from(options)


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> st.SearchStrategy[Any]:
    return _with_known_ids(path_parameters, ("plan_id", "node_id", "step_id"))


@schema.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    return _with_known_ids(body, ("plan_id", "context_id", "after"))


@pytest.fixture
def fuzz_org(transactional_db: Any) -> dict[str, str]:
    """A member of an org with three plans (one archived); returns the auth headers."""
    org = OrganizationFactory(id=ORG_ID, name="Fuzz")
    user = UserFactory(username="fuzzer", first_name="Fuzz", last_name="Er")
    MembershipFactory(user=user, org=org)
    plans = []
    for n in range(3):
        plan = services.start_plan(org=org, user=user, title=f"Plan {n}", participants=["fuzzer"])
        for i in range(2):
            services.add_step(org=org, user=user, plan_id=plan.id, text=f"step {i}")
        plans.append(plan)
    archived = services.archive_plan(org=org, user=user, plan_id=plans[-1].id)
    KNOWN["plan_id"] = [str(p.id) for p in plans]
    # The first plan's steps: with that plan's id they reach the 200s of edit, move, delete, restore.
    KNOWN["step_id"] = KNOWN["after"] = [str(s.id) for s in plans[0].steps.all()]
    KNOWN["node_id"] = KNOWN["context_id"] = [str(archived.memory_node_id)]
    try:
        yield {"Authorization": f"Token {token_for(user)}", "X-Org-Id": ORG_ID}
    finally:
        for key in KNOWN:
            KNOWN[key] = []


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=not FUZZ_RANDOM,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate, Phase.target],
)
def test_api_conforms_to_its_schema(case: Any, fuzz_org: dict[str, str]) -> None:
    # Authenticate as the member, in their org, whatever was generated for these headers.
    case.headers = {**(case.headers or {}), **fuzz_org}
    response = case.call_and_validate(checks=CHECKS)
    CALLS[(case.operation.label, response.status_code)] += 1
