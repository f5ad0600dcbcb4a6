"""Who reads thresholds and their events (docs/thresholds.md): every role, and a portal
token its own customer's only, as if the other did not exist."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import select

from app.domain.ledger import OPEN
from app.domain.time import FrozenClock
from app.services.thresholds import ThresholdRequest, create_credit_threshold
from app.storage.engine import read_connection
from app.storage.tables import threshold_events
from tests.access.support import CALLERS, World, assert_unauthenticated, build_world, post, promote
from tests.access.test_matrix import Env, table
from tests.api.conftest import START, running_api

MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")


@dataclass(frozen=True)
class Watched:
    threshold: str
    event: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[Env, dict[str, Watched]]]:
    path: Path = tmp_path_factory.mktemp("thresholds")
    async with running_api(path, FrozenClock(START)) as api:
        world = await build_world(api.app)
        made = {}
        for party in (world.a, world.b):
            runtime = api.app.state.runtime
            request = ThresholdRequest(party.customer, "Low", "USD", Decimal(99))  # 95: crossed
            threshold = await create_credit_threshold(runtime, actor=OPEN, request=request)
            await promote(runtime, party.customer, "10", "USD")  # 105: recovered
            async with read_connection(runtime.engine) as connection:
                found = select(threshold_events.c.id).where(
                    threshold_events.c.threshold_id == threshold.threshold_id
                )
                event = str((await connection.execute(found)).scalar_one())
            made[party.customer] = Watched(threshold.threshold_id, event)
        yield Env(api.client, api.app, world), made


READS = table(
    """
#                  none  admin  writer  reader  revoked  A→B     A→A
node:threshold     401   ok     ok      ok      401      hidden  ok
node:event         401   ok     ok      ok      401      hidden  ok
customer:lists     401   ok     ok      ok      401      hidden  ok
"""
)
NODE = "query($id: ID!) { node(id: $id) { __typename id } }"
LISTS = """query($id: ID!) { customer(id: $id) {
  creditThresholds { id state crossings { totalCount } }
  creditThresholdEvents { totalCount edges { node { id type threshold { id } } } }
} }"""


def expected(name: str, watched: Watched, visible: bool) -> dict[str, object]:
    if name == "node:threshold":
        return {
            "node": {"__typename": "CreditThreshold", "id": watched.threshold} if visible else None
        }
    if name == "node:event":
        return {
            "node": {"__typename": "CreditThresholdEvent", "id": watched.event} if visible else None
        }
    threshold = {"id": watched.threshold, "state": "ARMED", "crossings": {"totalCount": 1}}
    event = {"id": watched.event, "type": "RECOVERED", "threshold": {"id": watched.threshold}}
    lists = {
        "creditThresholds": [threshold],
        "creditThresholdEvents": {"totalCount": 1, "edges": [{"node": event}]},
    }
    return {"customer": lists if visible else None}


@MODULE_LOOP
@pytest.mark.parametrize(
    ("name", "caller", "outcome"),
    [(name, caller, outcome) for (name, caller), outcome in READS.items()],
    ids=[f"{name}-{caller}-{outcome}" for (name, caller), outcome in READS.items()],
)
async def test_thresholds_answer_each_caller_as_the_access_rules_say(
    env: tuple[Env, dict[str, Watched]], name: str, caller: str, outcome: str
) -> None:
    found, made = env
    world: World = found.world
    watched = made[world.target(caller).customer]
    if name == "customer:lists":
        query, variables = LISTS, {"id": world.target(caller).customer}
    else:
        id = watched.threshold if name == "node:threshold" else watched.event
        query, variables = NODE, {"id": id}
    response = await post(found.client, world.authorization(caller), query, **variables)
    if outcome == "401":
        assert_unauthenticated(response)
        return
    body = response.json()
    assert "errors" not in body, body["errors"]
    assert body["data"] == expected(name, watched, outcome == "ok")


def test_every_caller_is_in_the_table() -> None:
    assert {caller for _, caller in READS} == set(CALLERS)
