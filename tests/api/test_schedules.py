"""Grant schedules over HTTP on SQLite and PostgreSQL: both mutations with every member of
their unions, the schedule's reads, occurrences booked exactly once while requests and
schedulers race, and reads with nothing due that write nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.domain.ids import new_id
from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.main import create_app
from app.services.currencies import CurrencyCatalog
from app.services.runtime import Runtime
from app.services.scheduling import book_due_events
from app.services.verify import verify
from app.settings import Settings
from app.storage.engine import create_engine, read_connection
from app.storage.tables import entries, grants
from tests.api.conftest import START, Api, create_schema
from tests.api.test_catch_up_engines import writes
from tests.databases import empty_postgres_async

SCHEDULE_FIELDS = """
  id key name description labels { key value } currency amount every startsAt endsAt
  expiresAfter priority features status nextGrantAt createdAt canceledAt customer { id }
"""
CREATE = f"""mutation($input: CreateCreditGrantScheduleInput!) {{
  createCreditGrantSchedule(input: $input) {{
    __typename
    ... on CreditGrantScheduleSuccess {{ replayed schedule {{ {SCHEDULE_FIELDS} }} }}
    ... on ValidationError {{ code issues {{ field message }} }}
    ... on NotFoundError {{ code id }}
    ... on KeyConflictError {{ code key }}
    ... on Error {{ code message }}
  }}
}}"""
CANCEL = f"""mutation($input: CancelCreditGrantScheduleInput!) {{
  cancelCreditGrantSchedule(input: $input) {{
    __typename
    ... on CreditGrantScheduleSuccess {{ replayed schedule {{ {SCHEDULE_FIELDS} }} }}
    ... on ValidationError {{ code issues {{ field message }} }}
    ... on NotFoundError {{ code id }}
    ... on Error {{ code message }}
  }}
}}"""
GRANTS = """query($id: ID!) {
  node(id: $id) { ... on CreditGrantSchedule {
    status nextGrantAt
    grants(first: 50) { totalCount edges { node {
      key effectiveAt expiresAt createdAt amount status name labels { key value }
      schedule { id }
    } } }
  } }
}"""
CUSTOMER = """query($id: ID!) {
  customer(id: $id) {
    creditBalance(currency: "USD") { available funded }
    creditGrantSchedules(first: 10) { totalCount edges { node { id status nextGrantAt } } }
  }
}"""


@asynccontextmanager
async def served(url: str, clock: FrozenClock, **settings: Any) -> AsyncIterator[Api]:
    await create_schema(url)
    configured = Settings(database_url=url, **{"scheduler_enabled": False, **settings})
    app = create_app(configured, clock=clock, publisher=RecordingPublisher())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(client, app)


# The app's scheduler ticks every 5 ms. Thirty requests wait in turn for one customer's
# lock: on a loaded machine that took over the default 10 s execution limit once.
RACING = {"scheduler_interval": 0.005, "scheduler_enabled": True, "execution_timeout": 60.0}


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/credits.db"
        return
    postgres_url = request.getfixturevalue("postgres_url")  # skips without PostgreSQL
    async with empty_postgres_async(postgres_url, "credits_test") as url:
        yield url


@pytest.fixture
async def api(database_url: str, clock: FrozenClock) -> AsyncIterator[Api]:
    async with served(database_url, clock) as api:
        yield api


async def new_customer(api: Api, key: str = "acme") -> str:
    data = await api(
        'mutation($key: String!) { createCustomer(input: {key: $key, name: "Acme"}) '
        "{ ... on CreateCustomerSuccess { customer { id } } } }",
        key=key,
    )
    customer_id: str = data["createCustomer"]["customer"]["id"]
    return customer_id


async def create(api: Api, customer: str, **fields: Any) -> dict[str, Any]:
    data = await api(CREATE, input={"customerId": customer, "name": "Monthly", **fields})
    result: dict[str, Any] = data["createCreditGrantSchedule"]
    return result


async def cancel(api: Api, schedule_id: str) -> dict[str, Any]:
    data = await api(CANCEL, input={"scheduleId": schedule_id})
    result: dict[str, Any] = data["cancelCreditGrantSchedule"]
    return result


YEAR_AGO = {
    "key": "plan-2025",
    "currency": "USD",
    "amount": "10",
    "every": "P1M",
    "startsAt": "2025-01-15T13:00:00Z",
    "expiresAfter": "P1Y",
    "labels": [{"key": "plan", "value": "pro"}],
    "features": ["api_calls"],
    "priority": 5,
}


async def test_a_start_a_year_ago_answers_the_schedule_and_its_twelve_grants(api: Api) -> None:
    customer = await new_customer(api)

    created = await create(api, customer, **YEAR_AGO)

    assert created["__typename"] == "CreditGrantScheduleSuccess"
    schedule = created["schedule"]
    assert {k: v for k, v in schedule.items() if k != "id"} == {
        "key": "plan-2025",
        "name": "Monthly",
        "description": None,
        "labels": [{"key": "plan", "value": "pro"}],
        "currency": "USD",
        "amount": "10.00",
        "every": "P1M",
        "startsAt": "2025-01-15T13:00:00Z",
        "endsAt": None,
        "expiresAfter": "P1Y",
        "priority": 5,
        "features": ["api_calls"],
        "status": "ACTIVE",
        "nextGrantAt": "2026-01-15T13:00:00Z",
        "createdAt": "2026-01-15T12:00:00Z",
        "canceledAt": None,
        "customer": {"id": customer},
    }
    assert created["replayed"] is False
    found = (await api(GRANTS, id=schedule["id"]))["node"]
    assert found["grants"]["totalCount"] == 12
    assert [edge["node"] for edge in found["grants"]["edges"]] == [  # latest occurrence first
        {
            "key": f"schedule:{schedule['id']}:{n}",
            "effectiveAt": f"2025-{n + 1:02d}-15T13:00:00Z",
            "expiresAt": f"2026-{n + 1:02d}-15T13:00:00Z",
            "createdAt": "2026-01-15T12:00:00Z",
            "amount": "10.00",
            "status": "ACTIVE",
            "name": "Monthly",
            "labels": [{"key": "plan", "value": "pro"}],
            "schedule": {"id": schedule["id"]},
        }
        for n in reversed(range(12))
    ]
    replay = await create(api, customer, **YEAR_AGO)
    assert (replay["replayed"], replay["schedule"]["id"]) == (True, schedule["id"])
    listed = (await api(CUSTOMER, id=customer))["customer"]
    assert listed["creditGrantSchedules"] == {
        "totalCount": 1,
        "edges": [
            {
                "node": {
                    "id": schedule["id"],
                    "status": "ACTIVE",
                    "nextGrantAt": "2026-01-15T13:00:00Z",
                }
            }
        ],
    }
    assert listed["creditBalance"] == {"available": "120.00", "funded": "120.00"}


async def test_a_grant_made_by_hand_has_no_schedule(api: Api) -> None:
    customer = await new_customer(api)
    data = await api(
        """mutation($id: ID!) { grantPromotionalCredits(input: {
          customerId: $id, name: "hand", currency: "USD", amount: "1"
        }) { ... on CreditGrantSuccess { grant { schedule { id } } } } }""",
        id=customer,
    )
    assert data["grantPromotionalCredits"] == {"grant": {"schedule": None}}


async def test_every_error_of_create(api: Api) -> None:
    customer = await new_customer(api)
    invalid = await create(
        api, customer, currency="USD", amount="-1", every="P2Y", endsAt="2020-01-01T00:00:00Z"
    )
    assert invalid["__typename"] == "ValidationError"
    assert [i["field"] for i in invalid["issues"]] == [
        ["input", "amount"],
        ["input", "endsAt"],
        ["input", "every"],
    ]
    unknown = new_id("customer")
    missing = await create(api, unknown, currency="USD", amount="1", every="P1D")
    assert (missing["__typename"], missing["code"], missing["id"]) == (
        "NotFoundError",
        "NOT_FOUND",
        unknown,
    )
    await create(api, customer, key="k", currency="USD", amount="1", every="P1D")
    conflict = await create(api, customer, key="k", currency="USD", amount="2", every="P1D")
    assert (conflict["__typename"], conflict["code"], conflict["key"]) == (
        "KeyConflictError",
        "KEY_CONFLICT",
        "k",
    )
    bad_every = await api.raw(
        CREATE,
        input={
            "customerId": customer,
            "name": "x",
            "currency": "USD",
            "amount": "1",
            "every": "monthly",
        },
    )
    assert bad_every["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_cancel_and_every_error_of_cancel(api: Api, clock: FrozenClock) -> None:
    customer = await new_customer(api)
    made = await create(api, customer, currency="USD", amount="1", every="P1D")
    schedule_id = made["schedule"]["id"]
    clock.advance(timedelta(days=2, hours=1))  # two more occurrences due, not booked yet

    canceled = await cancel(api, schedule_id)

    assert canceled["__typename"] == "CreditGrantScheduleSuccess"
    assert canceled["replayed"] is False
    assert {k: canceled["schedule"][k] for k in ("status", "nextGrantAt", "canceledAt")} == {
        "status": "CANCELED",
        "nextGrantAt": None,
        "canceledAt": "2026-01-17T13:00:00Z",
    }
    clock.advance(timedelta(days=5))
    found = (await api(GRANTS, id=schedule_id))["node"]
    assert found["grants"]["totalCount"] == 3
    again = await cancel(api, schedule_id)
    assert (again["replayed"], again["schedule"]["canceledAt"]) == (True, "2026-01-17T13:00:00Z")
    malformed = await cancel(api, "sch_nope")
    assert [i["field"] for i in malformed["issues"]] == [["input", "scheduleId"]]
    for other in (new_id("schedule"), customer):
        missing = await cancel(api, other)
        assert (missing["__typename"], missing["id"]) == ("NotFoundError", other)


async def test_a_schedule_past_ends_at_is_ended(api: Api, clock: FrozenClock) -> None:
    customer = await new_customer(api)
    made = await create(
        api, customer, currency="USD", amount="1", every="P1D", endsAt="2026-01-17T00:00:00Z"
    )
    clock.advance(timedelta(days=3))

    found = (await api(GRANTS, id=made["schedule"]["id"]))["node"]

    assert (found["status"], found["nextGrantAt"], found["grants"]["totalCount"]) == (
        "ENDED",
        None,
        2,
    )


async def test_a_read_with_nothing_due_writes_nothing_and_one_with_an_occurrence_books_it(
    api: Api, clock: FrozenClock
) -> None:
    customer = await new_customer(api)
    made = await create(api, customer, currency="USD", amount="1", every="P1D")
    schedule_id = made["schedule"]["id"]
    api.count_statements()

    await api(GRANTS, id=schedule_id)
    await api(CUSTOMER, id=customer)
    assert (writes(api.statements), len(api.statements) > 0) == ([], True)

    clock.advance(timedelta(days=1))
    api.statements.clear()
    found = (await api(GRANTS, id=schedule_id))["node"]
    assert found["grants"]["totalCount"] == 2
    assert writes(api.statements) != []

    api.statements.clear()
    listed = (await api(CUSTOMER, id=customer))["customer"]
    assert listed["creditBalance"] == {"available": "1.00", "funded": "2.00"}  # one expired
    assert writes(api.statements) == []


async def test_occurrences_are_booked_once_while_requests_and_two_schedulers_race(
    database_url: str, clock: FrozenClock
) -> None:
    async with served(database_url, clock, **RACING) as api:
        customer = await new_customer(api)
        made = await create(
            api,
            customer,
            currency="USD",
            amount="10",
            every="P1M",
            startsAt="2026-01-16T00:00:00Z",
            expiresAfter="P2Y",
        )
        schedule_id = made["schedule"]["id"]
        other = another_runtime(database_url, clock)  # a second process's scheduler
        clock.set(START + timedelta(days=365))  # twelve occurrences due at once

        reads = [api.raw(GRANTS, id=schedule_id) for _ in range(10)]
        reads += [api.raw(CUSTOMER, id=customer) for _ in range(10)]
        uses = [
            api.raw(
                """mutation($id: ID!, $key: String!) { consumeCredits(input: {
                  customerId: $id, key: $key, currency: "USD", amount: "1"
                }) { __typename } }""",
                id=customer,
                key=f"use-{n}",
            )
            for n in range(10)
        ]
        sweeps = [book_due_events(other) for _ in range(5)]
        answers = await asyncio.gather(*reads, *uses, *sweeps)
        await other.engine.dispose()

        for body in answers[:30]:
            assert "errors" not in body, body
        assert {a["data"]["consumeCredits"]["__typename"] for a in answers[20:30]} == {
            "ConsumeCreditsSuccess"
        }
        async with read_connection(api.app.state.runtime.engine) as connection:
            keys = (await connection.execute(select(grants.c.key, grants.c.effective_at))).all()
            funded = (
                (
                    await connection.execute(
                        select(entries.c.grant_id).where(entries.c.type == "FUNDED")
                    )
                )
                .scalars()
                .all()
            )
        assert sorted(key for key, _ in keys) == sorted(
            f"schedule:{schedule_id}:{n}" for n in range(12)
        )
        assert len(set(funded)) == len(funded) == 12
        assert sorted(at for _, at in keys) == [
            datetime(2026, month, 16, tzinfo=UTC) for month in range(1, 13)
        ]
        listed = (await api(CUSTOMER, id=customer))["customer"]
        assert listed["creditBalance"] == {"available": "110.00", "funded": "120.00"}
        assert await verify(api.app.state.runtime.engine) == []


def another_runtime(url: str, clock: FrozenClock) -> Runtime:
    engine = create_engine(url)
    return Runtime(engine, clock, CurrencyCatalog(engine), RecordingPublisher())


PAGE = Path(__file__).resolve().parents[2] / "docs" / "schedules.md"


async def test_the_example_of_docs_schedules_md_answers_as_shown(api: Api) -> None:
    text = PAGE.read_text()
    query = text.split("```graphql\n")[1].split("```")[0]
    shown = text.split("```json\n")[1].split("```")[0]
    customer = await new_customer(api)

    answer = await api(query, customerId=customer)

    schedule_id = answer["createCreditGrantSchedule"]["schedule"]["grants"]["edges"][0]["node"]
    schedule_id = schedule_id["key"].split(":")[1]
    assert answer == json.loads(shown.replace("sch_…", schedule_id))
    listed = (await api(CUSTOMER, id=customer))["customer"]
    assert listed["creditBalance"] == {"available": "100.00", "funded": "100.00"}


async def test_identical_creations_of_a_year_old_schedule_racing_the_scheduler_book_twelve(
    database_url: str, clock: FrozenClock
) -> None:
    async with served(database_url, clock, **RACING) as api:
        customer = await new_customer(api)
        given = {"customerId": customer, "name": "Monthly", **YEAR_AGO}
        creations = [api.raw(CREATE, input=given) for _ in range(10)]
        reads = [api.raw(CUSTOMER, id=customer) for _ in range(10)]

        answers = await asyncio.gather(*creations, *reads)

        for body in answers:
            assert "errors" not in body, body
        created = [body["data"]["createCreditGrantSchedule"] for body in answers[:10]]
        assert sorted(c["replayed"] for c in created) == [False] + [True] * 9
        assert len({c["schedule"]["id"] for c in created}) == 1
        found = (await api(GRANTS, id=created[0]["schedule"]["id"]))["node"]
        assert [edge["node"]["effectiveAt"] for edge in found["grants"]["edges"]] == [
            f"2025-{month:02d}-15T13:00:00Z" for month in range(12, 0, -1)
        ]
        async with read_connection(api.app.state.runtime.engine) as connection:
            funded = (await connection.execute(select(entries.c.grant_id))).scalars().all()
        assert len(funded) == len(set(funded)) == 12
        assert await verify(api.app.state.runtime.engine) == []
