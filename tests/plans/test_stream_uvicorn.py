"""The stream contract under uvicorn (`make run SERVER=uvicorn`, the server docs/PERFORMANCE.md
recommends for stream-heavy processes): the same tests as under daphne, against a real uvicorn.

The hub writes events straight to each stream's ASGI `send`; that must behave the same whichever
server provides it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.plans.test_stream_live import TestRefused, TestReplay, TestSubscribe
from tests.servers import LiveServer, running, server_factory, shared_server

pytestmark = pytest.mark.live

__all__ = ["TestRefused", "TestReplay", "TestSubscribe"]


@pytest.fixture(scope="module")
def _shared_uvicorn(django_db_setup: Any, django_db_blocker: Any) -> Iterator[LiveServer]:
    yield from shared_server("uvicorn")


@pytest.fixture
def live_daphne(transactional_db: Any, _shared_uvicorn: LiveServer) -> LiveServer:
    """Overrides tests.servers' fixture of that name for the imported test classes: uvicorn instead."""
    return running(_shared_uvicorn)


@pytest.fixture
def live_daphne_factory(transactional_db: Any) -> Iterator[Any]:
    yield from server_factory("uvicorn")
