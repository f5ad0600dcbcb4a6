"""Who may read grant schedules (DESIGN §10, §14): every API key role reads them; a portal
token reads its own customer's and answers as if another's did not exist; without valid
credentials, 401. (The two mutations are in the access matrix, tests/access/test_matrix.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select

from app.domain.ledger import OPEN
from app.domain.time import FrozenClock, parse_duration
from app.services.schedules import ScheduleRequest, create_credit_grant_schedule
from app.storage.engine import read_connection
from app.storage.tables import grants
from tests.access.support import CALLERS, World, assert_unauthenticated, build_world, post
from tests.api.conftest import START, running_api

MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")

READ = """query($customer: ID!, $schedule: ID!, $grant: ID!) {
  customer(id: $customer) { creditGrantSchedules { totalCount edges { node {
    id status grants { totalCount edges { node { id schedule { id } } } }
  } } } }
  node(id: $schedule) { ... on CreditGrantSchedule { id customer { id } } }
  nodes(ids: [$schedule]) { id }
  creditGrant(id: $grant) { id schedule { id name } }
}"""


@dataclass
class Scheduled:
    schedule: str
    grant: str


@dataclass
class Env:
    client: httpx.AsyncClient
    world: World
    scheduled: dict[str, Scheduled]  # by customer id


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    path: Path = tmp_path_factory.mktemp("schedules")
    async with running_api(path, FrozenClock(START)) as api:
        world = await build_world(api.app)
        scheduled = {}
        for party in (world.a, world.b):
            request = ScheduleRequest(
                customer_id=party.customer,
                name="Monthly",
                currency="EUR",
                amount=Decimal(5),
                every=parse_duration("P1M"),
                starts_at=datetime(2026, 1, 1, tzinfo=UTC),
            )
            made = await create_credit_grant_schedule(
                api.app.state.runtime, actor=OPEN, request=request
            )
            async with read_connection(api.app.state.runtime.engine) as connection:
                statement = select(grants.c.id).where(grants.c.schedule_id == made.schedule_id)
                grant_id = (await connection.execute(statement)).scalar_one()
            scheduled[party.customer] = Scheduled(made.schedule_id, grant_id)
        yield Env(api.client, world, scheduled)


def expected(customer: str, scheduled: Scheduled) -> dict[str, Any]:
    grant = {"id": scheduled.grant, "schedule": {"id": scheduled.schedule}}
    schedule = {
        "id": scheduled.schedule,
        "status": "ACTIVE",
        "grants": {"totalCount": 1, "edges": [{"node": grant}]},
    }
    return {
        "customer": {"creditGrantSchedules": {"totalCount": 1, "edges": [{"node": schedule}]}},
        "node": {"id": scheduled.schedule, "customer": {"id": customer}},
        "nodes": [{"id": scheduled.schedule}],
        "creditGrant": {
            "id": scheduled.grant,
            "schedule": {"id": scheduled.schedule, "name": "Monthly"},
        },
    }


HIDDEN = {"customer": None, "node": None, "nodes": [None], "creditGrant": None}
OUTCOMES = {
    "none": "401",
    "admin": "ok",
    "writer": "ok",
    "reader": "ok",
    "revoked": "401",
    "portal_other": "hidden",
    "portal_own": "ok",
}


def test_every_caller_is_covered() -> None:
    assert set(OUTCOMES) == set(CALLERS)


@MODULE_LOOP
@pytest.mark.parametrize("caller", CALLERS)
async def test_schedules_answer_each_caller_as_the_access_rules_say(env: Env, caller: str) -> None:
    target = env.world.target(caller)
    scheduled = env.scheduled[target.customer]
    variables = {
        "customer": target.customer,
        "schedule": scheduled.schedule,
        "grant": scheduled.grant,
    }

    response = await post(env.client, env.world.authorization(caller), READ, **variables)

    if OUTCOMES[caller] == "401":
        assert_unauthenticated(response)
        return
    body = response.json()
    assert "errors" not in body, body
    want = expected(target.customer, scheduled) if OUTCOMES[caller] == "ok" else HIDDEN
    assert body["data"] == want
