"""Declaring the events a channel carries: each event type once, with its fields.

An app declares its event types with `EventType` and the field types below, and gathers them with
the stream's own control events (`control_events`) in a `Contract`, which its channel registers
(live.channels). The declaration is what tests validate every emitted payload against (as JSON
Schema) and what the VS Code extension's TypeScript types are generated from
(`manage.py event_contract --typescript`), so the server, its tests and the extension cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema


@dataclass(frozen=True)
class FieldType:
    schema: Mapping[str, Any]
    typescript: str


STRING = FieldType({"type": "string"}, "string")
INTEGER = FieldType({"type": "integer"}, "number")
BOOLEAN = FieldType({"type": "boolean"}, "boolean")
TIMESTAMP = FieldType(
    {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$"}, "string"
)
UUID = FieldType(
    {"type": "string", "pattern": r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}, "string"
)


def nullable(inner: FieldType) -> FieldType:
    return FieldType({"anyOf": [dict(inner.schema), {"type": "null"}]}, f"{inner.typescript} | null")


def list_of(inner: FieldType) -> FieldType:
    return FieldType({"type": "array", "items": dict(inner.schema)}, f"Array<{inner.typescript}>")


def object_of(fields: Mapping[str, FieldType]) -> FieldType:
    """A JSON object with exactly these fields (an entity an event carries whole, e.g. a step)."""
    schema = {
        "type": "object",
        "properties": {key: dict(value.schema) for key, value in fields.items()},
        "required": list(fields),
        "additionalProperties": False,
    }
    members = " ".join(f"{key}: {value.typescript};" for key, value in fields.items())
    return FieldType(schema, f"{{ {members} }}")


@dataclass(frozen=True)
class EventType:
    """One kind of event: `{"type": name, **fields}`. `stored` events are kept with their id and
    replayed after a reconnect; the others are sent by the stream itself to one client (`connected`
    carries the id of the position it starts from, not one of its own)."""

    name: str
    fields: Mapping[str, FieldType]
    doc: str
    stored: bool = True

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "type": {"const": self.name},
                **{k: dict(v.schema) for k, v in self.fields.items()},
            },
            "required": ["type", *self.fields],
            "additionalProperties": False,
        }


def control_events(key_field: str, key_type: FieldType = STRING) -> list[EventType]:
    """The events live.stream itself sends on every channel; `key_field` names the channel's key
    in them (a plan's channel says `plan_id`)."""
    key = {key_field: key_type}
    return [
        EventType(
            "connected",
            key,
            "First event of every stream; its id is the position the stream starts from.",
            stored=False,
        ),
        EventType(
            "reset",
            key,
            "The events a reconnecting client missed are no longer stored: reload, then go on from here.",
            stored=False,
        ),
    ]


VIEWER = object_of({"username": STRING, "name": STRING, "since": TIMESTAMP})


def presence_event(key_field: str, key_type: FieldType = STRING) -> EventType:
    """The `presence` event live.presence sends on a channel whose type counts viewers."""
    return EventType(
        "presence",
        {key_field: key_type, "viewers": list_of(VIEWER), "count": INTEGER},
        "Who has the channel's stream open, one entry per user, first arrived first (at most"
        " PRESENCE_MAX_LISTED of them; `count` is all). Sent after `connected`, then when the set"
        " changes, at most once a second; it has no id and is never replayed.",
        stored=False,
    )


class ContractError(ValueError):
    pass


@dataclass
class Contract:
    """The event types of one channel, by name."""

    name: str
    types: dict[str, EventType] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, types: Iterable[EventType]) -> Contract:
        contract = cls(name)
        for event_type in types:
            if event_type.name in contract.types:
                raise ContractError(f"event type {event_type.name!r} declared twice in {name}")
            contract.types[event_type.name] = event_type
        return contract

    def validate(self, payload: Any) -> EventType:
        """The payload's declared type; ContractError when it is not a declared event or its
        fields are not the declared ones."""
        if not isinstance(payload, dict) or payload.get("type") not in self.types:
            raise ContractError(f"not a declared {self.name} event: {payload!r:.200}")
        event_type = self.types[payload["type"]]
        try:
            jsonschema.validate(payload, event_type.json_schema())
        except jsonschema.ValidationError as exc:
            raise ContractError(
                f"{event_type.name} event does not match its declaration: {exc.message}"
            ) from None
        return event_type

    def typescript(self) -> str:
        """TypeScript declarations of every event type: an interface each and their union."""
        out = []
        union = []
        for event_type in self.types.values():
            interface = _interface_name(self.name, event_type.name)
            union.append(interface)
            out.append(f"/** {event_type.doc} */")
            out.append(f"export interface {interface} {{")
            out.append(f'  type: "{event_type.name}";')
            out.extend(f"  {key}: {value.typescript};" for key, value in event_type.fields.items())
            out.append("}\n")
        out.append(f"export type {_camel(self.name)}Event =\n  | " + "\n  | ".join(union) + ";\n")
        stored = ", ".join(f'"{t.name}"' for t in self.types.values() if t.stored)
        out.append(f"export const {self.name.upper()}_STORED_EVENT_TYPES = [{stored}] as const;\n")
        return "\n".join(out)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))


def _interface_name(contract: str, event: str) -> str:
    return f"{_camel(contract)}{_camel(event)}Event"
