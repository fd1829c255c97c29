"""ASGI entry point, served by daphne or uvicorn (`make run`).

The composition root: live streams (the URLs of the channels apps register with live/) go to
`live.stream`, which holds no thread or database connection while a stream is open; everything else
goes to Django through `aep.asgi_handler`.
"""

import gc
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aep.settings")
django.setup(set_prefix=False)

from aep.asgi_handler import SyncASGIHandler  # noqa: E402  (needs Django set up first)
from live.stream import stream_app, stream_route  # noqa: E402

django_application = SyncASGIHandler()


async def application(scope, receive, send):  # type: ignore[no-untyped-def]
    route = stream_route(scope)
    if route is not None:
        await stream_app(scope, receive, send, route)
    else:
        await django_application(scope, receive, send)


# Everything loaded so far lives as long as the process. Freezing it keeps Python's cyclic garbage
# collector from walking it again on every full collection: one took 51 ms right after startup, a
# pause of every stream and request in the process (docs/PERFORMANCE.md).
gc.collect()
gc.freeze()
