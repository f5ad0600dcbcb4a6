"""Keyset connections: forwards, backwards, pageInfo, stability, limits, cursors, totalCount."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.domain.time import FrozenClock
from tests.api.conftest import Api
from tests.api.test_queries_helpers import (
    consume,
    create_customer,
    error_codes,
    promo,
    seed,
)

ARGS = "first: $first, after: $after, last: $last, before: $before"
VARS = "$first: Int, $after: String, $last: Int, $before: String"
BODY = """
  totalCount
  pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  edges { cursor node { id } }
"""
BODY_WITHOUT_COUNT = "edges { cursor node { id } } pageInfo { hasNextPage endCursor }"


@dataclass
class World:
    """A data set with at least 7 rows in each connection under test."""

    api: Api
    clock: FrozenClock
    customer: str
    other: str
    grant: str
    made: int = 0

    async def add_customers(self, count: int) -> None:
        for _ in range(count):
            self.made += 1
            await create_customer(self.api, f"late-{self.made}")

    async def add_grants(self, count: int) -> None:
        for _ in range(count):
            await promo(self.api, self.customer, "1")

    async def add_entries(self, count: int) -> None:
        """Consumptions from `grant` (priority 1, so burned first): one entry each."""
        for _ in range(count):
            self.made += 1
            await consume(self.api, self.customer, f"late-{self.made}", "1")


@dataclass(frozen=True)
class Connection:
    name: str
    query: str
    path: tuple[str, ...]
    parent: str | None  # which World id the query's $id is
    grow: Callable[[World, int], Awaitable[None]]
    grows_at_end: bool  # new rows sort after the existing ones (else before them)

    def text(self, body: str = BODY) -> str:
        return self.query.replace("BODY", body)

    def variables(self, world: World) -> dict[str, Any]:
        return {} if self.parent is None else {"id": getattr(world, self.parent)}


CONNECTIONS = [
    Connection(
        "customers",
        f"query({VARS}) {{ customers({ARGS}) {{ BODY }} }}",
        ("customers",),
        None,
        World.add_customers,
        grows_at_end=True,
    ),
    Connection(
        "customer.creditGrants",
        f"query($id: ID!, {VARS}) {{ customer(id: $id) {{ creditGrants({ARGS}) {{ BODY }} }} }}",
        ("customer", "creditGrants"),
        "customer",
        World.add_grants,
        grows_at_end=True,
    ),
    Connection(
        "customer.creditLedger",
        f"query($id: ID!, {VARS}) {{ customer(id: $id) {{ creditLedger({ARGS}) {{ BODY }} }} }}",
        ("customer", "creditLedger"),
        "customer",
        World.add_entries,
        grows_at_end=False,
    ),
    Connection(
        "creditGrant.ledgerEntries",
        f"query($id: ID!, {VARS}) "
        f"{{ creditGrant(id: $id) {{ ledgerEntries({ARGS}) {{ BODY }} }} }}",
        ("creditGrant", "ledgerEntries"),
        "grant",
        World.add_entries,
        grows_at_end=False,
    ),
    Connection(
        "creditLedger",
        f"query({VARS}) {{ creditLedger({ARGS}) {{ BODY }} }}",
        ("creditLedger",),
        None,
        World.add_entries,
        grows_at_end=False,
    ),
]
BY_NAME = {c.name: c for c in CONNECTIONS}
each_connection = pytest.mark.parametrize("connection", CONNECTIONS, ids=lambda c: c.name)


async def populate(api: Api, clock: FrozenClock) -> dict[str, Any]:
    customer = await create_customer(api, "main")
    other = await create_customer(api, "other")
    for i in range(5):
        await create_customer(api, f"extra-{i}")
    grant = await promo(api, customer, "100", priority=1)
    for amount in ("1", "2", "3", "4", "5", "6"):
        clock.advance(timedelta(minutes=1))
        await promo(api, customer, amount)
    await promo(api, other, "50")
    for i in range(7):
        clock.advance(timedelta(minutes=1))
        await consume(api, customer, f"charge-{i}", "1")
        await consume(api, other, f"charge-{i}", "1")
    clock.advance(timedelta(minutes=1))
    return {"customer": customer, "other": other, "grant": grant["id"]}


@pytest.fixture
async def seeded(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, clock: FrozenClock
) -> dict[str, Any]:
    return await seed("pagination", populate, tmp_path_factory, tmp_path, clock)


@pytest.fixture
async def world(seeded: dict[str, Any], api: Api, clock: FrozenClock) -> World:
    return World(api, clock, **seeded)


async def page(
    world: World, connection: Connection, body: str = BODY, **arguments: Any
) -> dict[str, Any]:
    data: Any = await world.api(connection.text(body), **connection.variables(world), **arguments)
    for name in connection.path:
        data = data[name]
    result: dict[str, Any] = data
    return result


async def raw_page(world: World, connection: Connection, **arguments: Any) -> dict[str, Any]:
    return await world.api.raw(connection.text(), **connection.variables(world), **arguments)


def ids(connection_page: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in connection_page["edges"]]


async def everything(world: World, connection: Connection) -> list[str]:
    return ids(await page(world, connection, first=500))


def cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


# ---------------------------------------------------------------- walking


@each_connection
async def test_walking_forwards_through_every_page_gives_the_full_list(
    world: World, connection: Connection
) -> None:
    full = await everything(world, connection)
    assert len(full) >= 7

    walked: list[str] = []
    after = None
    pages = 0
    while True:
        current = await page(world, connection, first=3, after=after)
        pages += 1
        walked += ids(current)
        info = current["pageInfo"]
        assert current["totalCount"] == len(full)
        assert info["hasPreviousPage"] is (after is not None)
        assert info["startCursor"] == current["edges"][0]["cursor"]
        assert info["endCursor"] == current["edges"][-1]["cursor"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]

    assert walked == full
    assert pages == (len(full) + 2) // 3


@each_connection
async def test_walking_backwards_through_every_page_gives_the_full_list(
    world: World, connection: Connection
) -> None:
    full = await everything(world, connection)

    walked: list[str] = []
    before = None
    while True:
        current = await page(world, connection, last=3, before=before)
        walked = ids(current) + walked
        info = current["pageInfo"]
        assert current["totalCount"] == len(full)
        assert info["hasNextPage"] is (before is not None)
        assert info["startCursor"] == current["edges"][0]["cursor"]
        assert info["endCursor"] == current["edges"][-1]["cursor"]
        if not info["hasPreviousPage"]:
            break
        before = info["startCursor"]

    assert walked == full


@each_connection
async def test_last_page_is_the_tail_of_the_list_in_list_order(
    world: World, connection: Connection
) -> None:
    full = await everything(world, connection)

    tail = await page(world, connection, last=2)

    assert ids(tail) == full[-2:]
    assert tail["pageInfo"]["hasPreviousPage"] is True
    assert tail["pageInfo"]["hasNextPage"] is False


@each_connection
async def test_after_and_before_together_give_the_rows_between(
    world: World, connection: Connection
) -> None:
    full = await page(world, connection, first=500)
    cursors = [edge["cursor"] for edge in full["edges"]]

    between = await page(world, connection, after=cursors[1], before=cursors[6])
    between_backwards = await page(world, connection, last=2, after=cursors[1], before=cursors[6])

    assert ids(between) == ids(full)[2:6]
    assert ids(between_backwards) == ids(full)[4:6]


async def test_the_default_page_size_is_fifty(world: World) -> None:
    connection = BY_NAME["creditLedger"]
    await connection.grow(world, 51 - len(await everything(world, connection)))
    full = await everything(world, connection)
    assert len(full) == 51

    first = await page(world, connection)

    assert ids(first) == full[:50]
    assert first["pageInfo"]["hasNextPage"] is True


async def test_an_empty_connection_has_no_cursors_and_no_more_pages(world: World) -> None:
    empty = await page(world, BY_NAME["customers"], BODY, first=5)
    data = await world.api(f'{{ customers(first: 5, filter: {{key: "nobody"}}) {{ {BODY} }} }}')

    assert len(ids(empty)) == 5
    assert data["customers"] == {
        "totalCount": 0,
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
        "edges": [],
    }


@each_connection
async def test_first_zero_gives_no_edges_and_says_there_is_more(
    world: World, connection: Connection
) -> None:
    empty = await page(world, connection, first=0)

    assert empty["edges"] == []
    assert empty["pageInfo"]["hasNextPage"] is True
    assert empty["pageInfo"]["startCursor"] is None


# ---------------------------------------------------------------- stability


@each_connection
async def test_page_two_continues_after_page_one_when_rows_are_inserted_between(
    world: World, connection: Connection
) -> None:
    before = await everything(world, connection)
    first = await page(world, connection, first=3)
    assert ids(first) == before[:3]

    await asyncio.sleep(0.002)  # ids of new rows are from a later millisecond
    world.clock.advance(timedelta(minutes=1))
    await connection.grow(world, 4)
    second = await page(world, connection, first=3, after=first["pageInfo"]["endCursor"])

    assert ids(second) == before[3:6]
    rest: list[str] = []
    after = second["pageInfo"]["endCursor"]
    while True:
        current = await page(world, connection, first=3, after=after)
        rest += ids(current)
        if not current["pageInfo"]["hasNextPage"]:
            break
        after = current["pageInfo"]["endCursor"]
    walked = ids(first) + ids(second) + rest
    assert len(walked) == len(set(walked))
    now = await everything(world, connection)
    if connection.grows_at_end:
        assert walked == now
        assert now[: len(before)] == before
    else:
        assert walked == before
        assert now[4:] == before


@each_connection
async def test_walking_backwards_stays_put_when_rows_are_inserted_between(
    world: World, connection: Connection
) -> None:
    before = await everything(world, connection)
    tail = await page(world, connection, last=3)

    await asyncio.sleep(0.002)
    world.clock.advance(timedelta(minutes=1))
    await connection.grow(world, 2)
    previous = await page(world, connection, last=3, before=tail["pageInfo"]["startCursor"])

    assert ids(tail) == before[-3:]
    assert ids(previous) == before[-6:-3]


# ---------------------------------------------------------------- limits and bad arguments


@each_connection
async def test_first_of_500_is_allowed(world: World, connection: Connection) -> None:
    body = await raw_page(world, connection, first=500)

    assert "errors" not in body


@each_connection
async def test_a_page_size_over_500_is_a_bad_user_input_error(
    world: World, connection: Connection
) -> None:
    for argument in ("first", "last"):
        body = await raw_page(world, connection, **{argument: 501})

        assert error_codes(body) == ["BAD_USER_INPUT"], argument
        assert "500" in body["errors"][0]["message"]


@each_connection
async def test_a_negative_page_size_is_a_bad_user_input_error(
    world: World, connection: Connection
) -> None:
    for argument in ("first", "last"):
        body = await raw_page(world, connection, **{argument: -1})

        assert error_codes(body) == ["BAD_USER_INPUT"], argument


@each_connection
async def test_first_and_last_together_are_a_bad_user_input_error(
    world: World, connection: Connection
) -> None:
    body = await raw_page(world, connection, first=2, last=2)

    assert error_codes(body) == ["BAD_USER_INPUT"]


MALFORMED_CURSORS = {
    "not-base64": "!!!",
    "not-json": base64.urlsafe_b64encode(b"{nope").decode(),
    "not-a-list": cursor({"id": 1}),
    "empty-list": cursor([]),
    "too-long": cursor(["2026-01-15T12:00:00Z", 1, "x", 2]),
    "wrong-kinds": cursor([True, None]),
    "naive-instant": cursor(["2026-01-15T12:00:00", 1]),
    "not-utf8": base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
    "float": cursor([1.5, 2.5]),
    "padding-missing": "WzFd"[:-1],
}


@each_connection
@pytest.mark.parametrize("argument", ["after", "before"])
async def test_a_malformed_cursor_is_a_bad_user_input_error(
    world: World, connection: Connection, argument: str
) -> None:
    for name, bad in MALFORMED_CURSORS.items():
        body = await raw_page(world, connection, first=2, **{argument: bad})

        assert error_codes(body) == ["BAD_USER_INPUT"], (name, body)
        assert "cursor" in body["errors"][0]["message"], (name, body)


async def test_a_cursor_of_another_list_is_a_bad_user_input_error(world: World) -> None:
    customers_cursor = (await page(world, BY_NAME["customers"], first=1))["pageInfo"]["endCursor"]

    body = await raw_page(world, BY_NAME["creditLedger"], first=2, after=customers_cursor)

    assert error_codes(body) == ["BAD_USER_INPUT"]


OUT_OF_RANGE_CURSORS = {
    "ledger-position-over-64-bits": ("creditLedger", cursor(["2026-01-15T12:00:00Z", 10**30])),
    "ledger-instant-before-year-1-utc": (
        "creditLedger",
        cursor(["0001-01-01T00:00:00+05:00", 1]),
    ),
    "ledger-instant-after-year-9999-utc": (
        "customer.creditLedger",
        cursor(["9999-12-31T23:59:59-05:00", 1]),
    ),
}


@pytest.mark.parametrize(
    ("name", "bad"), OUT_OF_RANGE_CURSORS.values(), ids=OUT_OF_RANGE_CURSORS.keys()
)
async def test_a_cursor_with_out_of_range_values_is_a_bad_user_input_error(
    world: World, name: str, bad: str
) -> None:
    body = await raw_page(world, BY_NAME[name], first=2, after=bad)

    assert error_codes(body) == ["BAD_USER_INPUT"]


# ---------------------------------------------------------------- totalCount


@each_connection
async def test_total_count_counts_every_row_whatever_the_page(
    world: World, connection: Connection
) -> None:
    full = await everything(world, connection)

    small = await page(world, connection, first=1)
    backwards = await page(world, connection, last=2)

    assert small["totalCount"] == len(full)
    assert backwards["totalCount"] == len(full)


async def test_total_count_follows_the_filter(world: World) -> None:
    data = await world.api(
        """query($id: ID!) {
          customer(id: $id) {
            consumed: creditLedger(first: 1, filter: {types: [CONSUMED]}) { totalCount }
            funded: creditLedger(first: 1, filter: {types: [FUNDED]}) { totalCount }
            grants: creditGrants(first: 1, filter: {status: [ACTIVE]}) { totalCount }
          }
          gold: customers(first: 1, filter: {key: "main"}) { totalCount }
          all: creditLedger(first: 1, filter: {types: [CONSUMED]}) { totalCount }
        }""",
        id=world.customer,
    )

    assert data == {
        "customer": {
            "consumed": {"totalCount": 7},
            "funded": {"totalCount": 7},
            "grants": {"totalCount": 7},
        },
        "gold": {"totalCount": 1},
        "all": {"totalCount": 14},
    }


@each_connection
async def test_a_query_without_total_count_runs_fewer_statements(
    world: World, connection: Connection
) -> None:
    await world.api("{ __typename }")  # OPEN mode is known from here on: no statement
    world.api.count_statements()

    world.api.statements.clear()
    await page(world, connection, BODY_WITHOUT_COUNT, first=3)
    without = len(world.api.statements)
    world.api.statements.clear()
    await page(world, connection, BODY, first=3)
    with_count = len(world.api.statements)

    assert without < with_count
    assert any("count(" in s.lower() for s in world.api.statements)
