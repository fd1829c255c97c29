"""Database helpers the apps share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def read_snapshot() -> Iterator[None]:
    """Run the reads inside on one committed state of the database.

    A client that fetches a plan and the position of its event stream, then applies the events
    after that position, must start from exactly the state at that position: no write may commit
    between the two reads. PostgreSQL gives that with a REPEATABLE READ transaction (readers do not
    block writers); SQLite with a deferred read transaction in WAL mode (Django's atomic would take
    the write lock, as this project's SQLite transactions are IMMEDIATE). Inside an outer
    transaction the reads already share one.
    """
    if connection.in_atomic_block:
        yield
        return
    if connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield
        return
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("COMMIT")
        return
    with transaction.atomic():
        yield
