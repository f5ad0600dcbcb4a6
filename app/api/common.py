"""Types shared by every aggregate: Node, Label, OrderDirection; domain enums in the schema."""

from __future__ import annotations

import json
from enum import Enum
from typing import Any, TypeVar

import strawberry

E = TypeVar("E", bound=type[Enum])
LABELS = "Keys and values the caller attached, for its own use."


@strawberry.interface(description="An object with a global id, found again with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(
        description="A global id, typed by its prefix (`cus_`, `grt_`…)."
    )


@strawberry.type(description="A key and value the caller attached, for its own use.")
class Label:
    key: str = strawberry.field(description="Unique among the object's labels.")
    value: str = strawberry.field(description="Its value.")


@strawberry.input(description="A key and value to attach, for the caller's own use.")
class LabelInput:
    key: str = strawberry.field(description="Unique among the object's labels.")
    value: str = strawberry.field(description="Its value.")


@strawberry.enum(description="Ascending or descending.")
class OrderDirection(Enum):
    ASC = strawberry.enum_value("ASC", description="Smallest or earliest first.")
    DESC = strawberry.enum_value("DESC", description="Largest or latest first.")


def schema_enum(domain: E, name: str, description: str | None = None, **values: str) -> E:
    """The domain's own enum in the schema under `name`, with descriptions of its values
    (Strawberry takes those only from `enum_value` members, which a domain enum lacks)."""
    strawberry.enum(domain, name=name, description=description)
    for value in domain.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = values.get(value.name)
    return domain


def labels_of(raw: str | list[Any]) -> list[Label]:
    """Labels as stored: JSON text from a read (decoded only now), or the list itself."""
    pairs = json.loads(raw) if isinstance(raw, str) else raw
    return [Label(key=key, value=value) for key, value in pairs]


def stored_labels(self: Any) -> list[Label]:
    """The `labels` field of a type that keeps them as stored, in `raw_labels`."""
    return labels_of(self.raw_labels)


def label_pairs(labels: list[LabelInput] | None) -> tuple[tuple[str, str], ...] | None:
    return None if labels is None else tuple((label.key, label.value) for label in labels)
