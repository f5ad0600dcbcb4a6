"""Types shared by every aggregate: Node, PageInfo, Label, OrderDirection."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry

from app.api.pagination import Slice


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def from_cursors(cls, cursors: list[str], page: Slice) -> PageInfo:
        return cls(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        )


@strawberry.type
class Label:
    key: str
    value: str


@strawberry.input
class LabelInput:
    key: str
    value: str


@strawberry.enum
class OrderDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


def labels_of(raw: list[Any]) -> list[Label]:
    return [Label(key=key, value=value) for key, value in raw]


def label_pairs(labels: list[LabelInput] | None) -> tuple[tuple[str, str], ...] | None:
    return None if labels is None else tuple((label.key, label.value) for label in labels)
