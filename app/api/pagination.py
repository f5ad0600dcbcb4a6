"""Connections: one generic `Connection[T]` of `Edge[T]` for every list, and its cursors.

A cursor is the sort key of its row (base64 of JSON), so a page never shifts when rows
are inserted before it; it is encoded only when a client selects it. `page_of` checks a
client's paging arguments; the SQL that pages lives in `app.storage.queries.pages`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Hashable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from strawberry.types import Info

from app.api.context import Context
from app.api.errors import bad_input
from app.domain.time import format_instant, utc_instant
from app.storage.queries.pages import Ordering, Page, Slice, keys_of

T = TypeVar("T")
Keys = tuple[Any, ...]

# The paging arguments of every connection field.
First = Annotated[
    int | None,
    strawberry.argument(
        description="Page forward: at most this many items after `after` (50 when neither "
        "first nor last is given; at most 500)."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(description="Start after the item with this cursor (an endCursor)."),
]
Last = Annotated[
    int | None,
    strawberry.argument(description="Page backward: at most this many items before `before`."),
]
Before = Annotated[
    str | None,
    strawberry.argument(description="End before the item with this cursor (a startCursor)."),
]


@strawberry.type(description="Where a page lies in its list, and the cursors of its ends.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    has_previous_page: bool = strawberry.field(description="More items come before this page.")
    start_keys: strawberry.Private[Keys | None]
    end_keys: strawberry.Private[Keys | None]

    @strawberry.field(description="The first item's cursor; null for an empty page.")
    def start_cursor(self) -> str | None:
        return None if self.start_keys is None else encode_cursor(self.start_keys)

    @strawberry.field(description="The last item's cursor; null for an empty page.")
    def end_cursor(self) -> str | None:
        return None if self.end_keys is None else encode_cursor(self.end_keys)


def _cursor(self: Any) -> str:
    return encode_cursor(self.keys)


@strawberry.type(description="One item of a page, and its cursor.")
class Edge(Generic[T]):
    keys: strawberry.Private[Keys]
    cursor: str = strawberry.field(
        resolver=_cursor,
        description="Where this item stands in its list: pass it as `after` (or `before`) "
        "for the items that follow (or come before) it.",
    )
    node: T = strawberry.field(description="The item itself.")


@strawberry.type(description="One page of a list, in the list's order.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The page's items, in the list's order.")
    page_info: PageInfo = strawberry.field(description="Where the page lies in its list.")
    count_key: strawberry.Private[Any]  # what the request's loaders count the list by

    @strawberry.field(description="How many items the whole list holds, over every page.")
    async def total_count(self, info: Info[Context, None]) -> int:
        count: int = await info.context.loaders.count(self.count_key)
        return count


def connection_of(
    cut: Slice, ordering: Ordering, nodes: Sequence[T], count_key: Hashable
) -> Connection[T]:
    """A page of rows as a connection of their nodes (one per row, in order); each edge
    keeps its row's sort keys for its cursor."""
    edges = [
        Edge(keys=keys_of(row, ordering), node=node)
        for row, node in zip(cut.rows, nodes, strict=True)
    ]
    info = PageInfo(
        has_next_page=cut.has_next,
        has_previous_page=cut.has_previous,
        start_keys=edges[0].keys if edges else None,
        end_keys=edges[-1].keys if edges else None,
    )
    return Connection(edges=edges, page_info=info, count_key=count_key)


def page_of(
    ordering: Ordering,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    *,
    default: int,
    maximum: int,
) -> Page:
    if first is not None and last is not None:
        raise bad_input("Give at most one of first and last")
    for name, value in (("first", first), ("last", last)):
        if value is not None and value < 0:
            raise bad_input(f"{name} must not be negative")
        if value is not None and value > maximum:
            raise bad_input(f"{name} must be at most {maximum} (the page size limit)")
    size = first if first is not None else last if last is not None else default
    return Page(
        size=size,
        backward=last is not None,
        after=decode_cursor(after, ordering.kinds, "after"),
        before=decode_cursor(before, ordering.kinds, "before"),
    )


def encode_cursor(values: Sequence[Any]) -> str:
    plain = [format_instant(v) if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode()


def cursor_of(row: Any, ordering: Ordering) -> str:
    return encode_cursor(keys_of(row, ordering))


def decode_cursor(cursor: str | None, kinds: tuple[type, ...], name: str) -> Keys | None:
    if cursor is None:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(values, list) or len(values) != len(kinds):
            raise ValueError("wrong shape")
        return tuple(_decode_value(value, kind) for value, kind in zip(values, kinds, strict=True))
    except (ValueError, TypeError, binascii.Error, UnicodeError) as error:
        raise bad_input(f"{name} is not a valid cursor for this list") from error


def _decode_value(value: Any, kind: type) -> Any:
    if kind is datetime:
        return utc_instant(datetime.fromisoformat(value))
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError("not an integer")
    if kind is int and not -(2**63) <= value < 2**63:
        raise ValueError("out of range")
    if kind is str and not isinstance(value, str):
        raise ValueError("not a string")
    return value
