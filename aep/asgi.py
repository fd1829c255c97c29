"""ASGI entry point, served by daphne (`make run`) or any ASGI server.

Live plan streams (`/api/plan/{id}/stream`) go straight to `plans.stream`, which holds no thread or
database connection while a stream is open; everything else goes to Django.
"""

import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aep.settings")
django.setup(set_prefix=False)

from aep.asgi_handler import SyncASGIHandler  # noqa: E402  (needs Django set up first)

django_application = SyncASGIHandler()

from plans.stream import STREAM_PATH, plan_stream_app  # noqa: E402  (needs Django set up first)


async def application(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] == "http" and STREAM_PATH.match(scope["path"]):
        await plan_stream_app(scope, receive, send)
    else:
        await django_application(scope, receive, send)


# Everything loaded so far lives as long as the process. Freezing it keeps Python's cyclic garbage
# collector from walking it again on every full collection: one took 51 ms right after startup, a
# pause of every stream and request in the process (docs/PERFORMANCE.md).
gc.collect()
gc.freeze()
