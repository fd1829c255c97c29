"""Database helpers the apps share."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db import connection, models, transaction

M = TypeVar("M", bound=models.Model)


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


def sql_names(model: type[models.Model], *field_names: str) -> tuple[str, ...]:
    """For plain SQL on `model`: its quoted table name, then the quoted column of each field named."""
    q = connection.ops.quote_name
    meta = model._meta
    return (q(meta.db_table), *(q(meta.get_field(name).column) for name in field_names))


def db_param(model: type[models.Model], field_name: str, value: Any) -> Any:
    """`value` as the ORM would send it for `model`'s field as a query parameter (a UUID as hex on
    SQLite, say)."""
    return model._meta.get_field(field_name).get_db_prep_value(value, connection)


def model_columns(model: type[models.Model], alias: str) -> str:
    """The model's concrete columns, in field order, for a SELECT list: `alias."column", ...`.
    A row read with them becomes an instance with `instance_from_row`."""
    q = connection.ops.quote_name
    return ", ".join(f"{alias}.{q(field.column)}" for field in model._meta.concrete_fields)


def instance_from_row(model: type[M], values: Sequence[Any]) -> M:
    """An instance of `model` from a row of `model_columns`, its values through the converters the
    ORM applies (the backend's, e.g. SQLite's UUIDs, datetimes and booleans, then the field's own).

    For the reads every request makes: a plain cursor with this costs a tenth of what compiling the
    same ORM query does (py-spy profiles in docs/PERFORMANCE.md)."""
    names, converters = _converters(model, connection.vendor)
    row = list(values[: len(names)])
    for index, column, functions in converters:
        for convert in functions:
            row[index] = convert(row[index], column, connection)
    return model.from_db(connection.alias, names, row)


@functools.cache
def _converters(model: type[models.Model], vendor: str) -> tuple[list[str], list[tuple[int, Any, list[Any]]]]:
    meta = model._meta
    names, converters = [], []
    for index, field in enumerate(meta.concrete_fields):
        names.append(field.attname)
        column = field.get_col(meta.db_table)
        functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if functions:
            converters.append((index, column, functions))
    return names, converters


def insert_row(model: type[models.Model], **values: Any) -> None:
    """INSERT one row of `model` with a plain cursor: the fields given, the others at their
    defaults (auto_now_add included), the id the database gives. No signal is sent and nothing is
    read back. For the rows every write adds (audit rows, stored events): `create()` builds its
    INSERT anew each time, 0.3 ms of CPU per row (py-spy, bench/step_in_process.py)."""
    instance = model(**values)
    fields, sql = _insert(model, connection.vendor)
    params = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@functools.cache
def _insert(model: type[models.Model], vendor: str) -> tuple[list[models.Field], str]:
    meta = model._meta
    q = connection.ops.quote_name
    fields = [field for field in meta.concrete_fields if not field.db_returning]
    columns = ", ".join(q(field.column) for field in fields)
    marks = ", ".join(["%s"] * len(fields))
    return fields, f"INSERT INTO {q(meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608 (the model's names)
