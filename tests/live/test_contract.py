"""The event contract (live.contract): declarations, validation, and the TypeScript the VS Code
extension compiles against, which must be what the server declares today."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from live.contract import INTEGER, STRING, Contract, ContractError, EventType, list_of, nullable
from live.management.commands.event_contract import typescript

ROOT = Path(__file__).resolve().parent.parent.parent
GENERATED = ROOT / "vscode-extension" / "src" / "events.generated.ts"

CONTRACT = Contract.of(
    "demo",
    [
        EventType("moved", {"id": STRING, "after": nullable(STRING), "n": INTEGER}, "Moved."),
        EventType("tagged", {"tags": list_of(STRING)}, "Tagged.", stored=False),
    ],
)


def test_a_declared_event_validates_and_says_its_type() -> None:
    assert CONTRACT.validate({"type": "moved", "id": "a", "after": None, "n": 1}).name == "moved"
    assert CONTRACT.validate({"type": "tagged", "tags": ["x", "y"]}).stored is False


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "moved", "id": "a", "after": None},  # a field missing
        {"type": "moved", "id": "a", "after": None, "n": 1, "extra": True},  # a field not declared
        {"type": "moved", "id": 7, "after": None, "n": 1},  # a wrong type
        {"type": "tagged", "tags": ["x", 1]},
        {"type": "unknown"},
        ["not", "an", "object"],
    ],
)
def test_anything_else_is_refused(payload: object) -> None:
    with pytest.raises(ContractError):
        CONTRACT.validate(payload)


def test_an_event_type_is_declared_once() -> None:
    with pytest.raises(ContractError, match="declared twice"):
        Contract.of("demo", [EventType("a", {}, ""), EventType("a", {}, "")])


def test_typescript_has_an_interface_per_event_and_their_union() -> None:
    ts = CONTRACT.typescript()
    assert 'export interface DemoMovedEvent {\n  type: "moved";\n  id: string;\n  after: string | null;' in ts
    assert "  tags: Array<string>;" in ts
    assert "export type DemoEvent =\n  | DemoMovedEvent\n  | DemoTaggedEvent;" in ts
    assert 'export const DEMO_STORED_EVENT_TYPES = ["moved"] as const;' in ts


def test_the_extensions_event_types_are_generated_from_the_servers_contract() -> None:
    assert GENERATED.read_text() == typescript(), (
        "vscode-extension/src/events.generated.ts is out of date: "
        "python manage.py event_contract --typescript > vscode-extension/src/events.generated.ts"
    )
    call_command("event_contract", check=str(GENERATED))
