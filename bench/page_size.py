"""The size and render time of a plan's page at the step cap (issue 19): 2,000 steps of 1,000
characters; the default page (its first PLAN_PAGE_STEPS steps) and `?steps=all`. In process, on a
fresh SQLite database in a temporary folder.

    .venv/bin/python bench/page_size.py
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    folder = tempfile.mkdtemp(prefix="aep-page-size-")
    os.environ.update(
        SQLITE_PATH=f"{folder}/page.sqlite3",
        DJANGO_SETTINGS_MODULE="aep.settings",
        SECRET_KEY="page-size-" + "x" * 50,
        LOG_LEVEL="WARNING",
        ALLOWED_HOSTS="testserver",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from aep.models import Membership, Organization
    from plans import services

    call_command("migrate", verbosity=0)
    org = Organization.objects.create(id="page", name="Page")
    user = get_user_model().objects.create(username="reader")
    Membership.objects.create(user=user, org=org)
    plan = services.start_plan(org=org, user=user, title="At the cap")
    rng = random.Random(1)
    words = [
        "rotate",
        "database",
        "credentials",
        "deploy",
        "migrate",
        "verify",
        "rollback",
        "monitor",
        "alert",
        "review",
    ]
    for _ in range(2000):
        text = " ".join(rng.choice(words) for _ in range(140))[:1000]
        services.add_step(org=org, user=user, plan_id=plan.id, text=text)
    client = Client()
    client.force_login(user)
    for query in ("", "?steps=all"):
        client.get(f"/plan/{plan.id}{query}")  # warm
        started = time.perf_counter()
        response = client.get(f"/plan/{plan.id}{query}")
        elapsed = time.perf_counter() - started
        size = len(response.content) / 1e6
        print(f"{query or 'default'}: {response.status_code}, {size:.2f} MB, {elapsed * 1000:.0f} ms")


if __name__ == "__main__":
    main()
