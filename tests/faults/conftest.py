"""Fixtures shared by the fault drills."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.procs import RedisProcess


@pytest.fixture
def redis_server() -> Iterator[RedisProcess]:
    """A throwaway redis-server on a free port (never the shared one), stopped by pid afterwards."""
    server = RedisProcess().start()
    try:
        yield server
    finally:
        server.stop()
