"""The channels apps plug into live/: who may read one, and how its events look on a page.

Like django-eventstream's channel manager, this is where an app says who may read its channels;
live/ itself never imports an app. An app registers a `ChannelType` (from its AppConfig.ready):

- `name`: channels are named `<name>-<key>` (a plan's: `plan-<uuid>`), as stored with their events;
- `stream_path`: the URL of one channel's stream, with `{key}` for the key (`/api/plan/{key}/stream`),
  or without it when the channel follows from the caller's org (`/api/org/stream`);
- `parse_key(key)`: the key of a URL in its canonical form, or None when it cannot be one (checked
  before the database is asked, so that the stream can subscribe first);
- `authorize(org, key)`: the canonical key when the org may read that channel, else raise
  `aep.errors.NotFound` (the stream answers 404, exactly as for a channel that does not exist);
  a channel with no key in its URL is the org's own: its key is the org's id;
- `contract`: the channel's declared event types (live.contract), control events included;
- `render_html(data)`: optional (event name, HTML) of an event for pages (`?html=1`), from
  the same partial templates the pages render;
- `presence`: whether an open stream counts its user as a viewer of the channel (live.presence),
  and gets `presence` events (declare them with `live.contract.presence_event`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from live.contract import Contract

GRIP_SUFFIX = r"(?:/grip/(?P<grip_next>[^/]+))?/?$"  # a GRIP next link (live.grip), for Pushpin only


@dataclass(frozen=True)
class ChannelType:
    name: str
    stream_path: str
    key_field: str
    authorize: Callable[[Any, str], str]
    contract: Contract
    parse_key: Callable[[str], str | None] = str
    render_html: Callable[[dict[str, Any]], tuple[str, str] | None] | None = None
    presence: bool = False  # whether its streams count as viewers (live.presence)
    path_pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        before, has_key, after = self.stream_path.partition("{key}")
        key = r"(?P<key>[^/]+)" if has_key else r"(?P<key>)"
        pattern = re.escape(before) + key + re.escape(after) + GRIP_SUFFIX
        object.__setattr__(self, "path_pattern", re.compile("^" + pattern))

    @property
    def keyed(self) -> bool:
        """Whether the URL names the channel (`/api/plan/{key}/stream`); else `authorize` gives it
        from the caller's org (`/api/org/stream`)."""
        return "{key}" in self.stream_path

    def channel(self, key: str) -> str:
        return f"{self.name}-{key}"

    def path(self, key: str) -> str:
        return self.stream_path.replace("{key}", key)

    def control(self, kind: str, key: str) -> dict[str, Any]:
        """A control event (`connected`, `reset`) of this channel, as declared in its contract."""
        return {"type": kind, self.key_field: key}


@dataclass(frozen=True)
class Route:
    channel_type: ChannelType
    key: str
    grip_next: str


_types: dict[str, ChannelType] = {}


def register(channel_type: ChannelType) -> None:
    existing = _types.get(channel_type.name)
    if existing is not None and existing is not channel_type:
        raise ValueError(f"channel type {channel_type.name!r} is already registered")
    _types[channel_type.name] = channel_type


def registered() -> list[ChannelType]:
    return list(_types.values())


def route(path: str) -> Route | None:
    """The channel type and key a stream URL names, or None when it is not a stream URL."""
    for channel_type in _types.values():
        match = channel_type.path_pattern.match(path)
        if match is not None:
            return Route(channel_type, match["key"], match["grip_next"] or "")
    return None


def type_of(channel: str) -> ChannelType | None:
    """The registered type of a channel name (`plan-<uuid>` -> the plan channel type)."""
    return _types.get(channel.partition("-")[0])
