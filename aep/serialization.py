"""JSON shapes every app shares: timestamps as the API writes them, and strict input fields."""

from __future__ import annotations

import datetime
from typing import Any

from rest_framework import serializers


def iso(value: datetime.datetime | None) -> str | None:
    """ISO 8601 in UTC with microseconds and a `Z` suffix (`2026-11-26T09:30:00.000000Z`), the same
    text the database writes for steps read in bulk (the plan selectors' bulk reads)."""
    if value is None:
        return None
    return value.astimezone(datetime.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans (DRF would coerce them) and text that is not
    valid Unicode (lone surrogates cannot be stored)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            raise serializers.ValidationError("Text must be valid Unicode.") from None
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A UUIDField that refuses numbers and booleans (DRF would turn 42 into a UUID)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid", value="")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A BooleanField that takes JSON true and false only (DRF also takes "yes", 1 and "on")."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictIntegerField(serializers.IntegerField):
    """An IntegerField that takes JSON integers only (DRF also takes "3" and 3.0)."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class BoundedListField(serializers.ListField):
    """A ListField that checks `max_length` before it validates any item: DRF validates every item
    first and counts after, so a 64k-entry list cost 64k item validations before its 400."""

    def to_internal_value(self, data: Any) -> Any:
        if self.max_length is not None and isinstance(data, list | tuple) and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)
