"""previewCreditConsumption over HTTP (DESIGN §15): the answer, every error as BAD_USER_INPUT
or NOT_FOUND, portal tokens, the example of docs/preview.md; and (Hypothesis, SQLite and
PostgreSQL) for random ledgers, the preview is what the next consumption books."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from ulid import ULID

from app.domain.errors import InsufficientCredits, InvalidState
from app.domain.grants import AvailabilityPolicy, FundingMethod
from app.domain.ids import new_id
from app.domain.ledger import OPEN
from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.services.consumption import (
    InsufficientCreditsBehavior,
    PreviewRequest,
    preview_consumption,
)
from app.services.currencies import CurrencyCatalog
from app.services.customers import create_customer
from app.services.grants import PurchaseTerms
from app.services.portal import sign_token
from app.services.runtime import Runtime
from app.services.settlement import void_credit_grant
from app.storage.engine import create_engine, read_connection
from app.storage.tables import consumptions, entries
from tests.api.conftest import START, Api
from tests.api.test_mutations_support import PROMOTE, PURCHASE, consumed, granted, new_customer
from tests.api.test_revenue import database_url
from tests.conftest import examples
from tests.services.support import balance, consume, promo, purchase

__all__ = ["database_url"]

PAGE = Path(__file__).resolve().parents[2] / "docs" / "preview.md"

PREVIEW = """
query($customerId: ID!, $currency: String!, $amount: Decimal!, $featureKey: String,
      $onInsufficient: InsufficientCreditsBehavior) {
  previewCreditConsumption(customerId: $customerId, currency: $currency, amount: $amount,
      featureKey: $featureKey, onInsufficient: $onInsufficient) {
    consumed shortfall availableBefore availableAfter
    entries { amount grant { id name remaining status } }
  }
}"""


async def ask(api: Api, customer_id: str, amount: str, **variables: Any) -> dict[str, Any]:
    asked = {"customerId": customer_id, "currency": "USD", "amount": amount} | variables
    return await api.raw(PREVIEW, **asked)


async def two_grants(api: Api) -> tuple[str, dict[str, Any], dict[str, Any]]:
    customer_id = await new_customer(api)
    bonus = await granted(
        api, PROMOTE, customer_id, name="Welcome bonus", amount="25", expiresAfter="P30D"
    )
    pack = await granted(api, PURCHASE, customer_id, name="Credit pack", amount="100")
    return customer_id, bonus, pack


def entry(grant: dict[str, Any], amount: str, remaining: str) -> dict[str, Any]:
    status = "ACTIVE"
    return {"amount": amount, "grant": {"id": grant["id"], "name": grant["name"],
                                        "remaining": remaining, "status": status}}  # fmt: skip


async def test_a_preview_answers_the_draws_and_changes_nothing(api: Api) -> None:
    customer_id, bonus, pack = await two_grants(api)

    body = await ask(api, customer_id, "40")
    again = await ask(api, customer_id, "40")
    made = await consumed(api, customer_id, "use", "40")

    assert (
        body
        == again
        == {
            "data": {
                "previewCreditConsumption": {
                    "consumed": "40.00",
                    "shortfall": "0.00",
                    "availableBefore": "125.00",
                    "availableAfter": "85.00",
                    "entries": [entry(bonus, "25.00", "25.00"), entry(pack, "15.00", "100.00")],
                }
            }
        }
    )
    data = await api(
        "query($id: ID!) { creditConsumption(id: $id) { entries { amount grant { id } } } }",
        id=made,
    )
    drawn = [(e["grant"]["id"], e["amount"]) for e in data["creditConsumption"]["entries"]]
    assert drawn == [(bonus["id"], "-25.00"), (pack["id"], "-15.00")]


async def test_reject_and_partial_with_a_shortfall(api: Api) -> None:
    customer_id, bonus, pack = await two_grants(api)

    rejected = await ask(api, customer_id, "130.5")
    partial = await ask(api, customer_id, "130.5", onInsufficient="PARTIAL")

    assert rejected["data"]["previewCreditConsumption"] == {
        "consumed": "0.00",
        "shortfall": "5.50",
        "availableBefore": "125.00",
        "availableAfter": "125.00",
        "entries": [],
    }
    assert partial["data"]["previewCreditConsumption"] == {
        "consumed": "125.00",
        "shortfall": "5.50",
        "availableBefore": "125.00",
        "availableAfter": "0.00",
        "entries": [entry(bonus, "25.00", "25.00"), entry(pack, "100.00", "100.00")],
    }


async def test_with_a_feature_key_the_balances_are_that_features(api: Api) -> None:
    customer_id, bonus, _ = await two_grants(api)
    chat = await granted(api, PROMOTE, customer_id, name="Chat", amount="5", features=["chat"])

    for_chat = await ask(api, customer_id, "10", featureKey="chat")
    plain = await ask(api, customer_id, "10")

    assert for_chat["data"]["previewCreditConsumption"] == {
        "consumed": "10.00",
        "shortfall": "0.00",
        "availableBefore": "130.00",
        "availableAfter": "120.00",
        "entries": [entry(chat, "5.00", "5.00"), entry(bonus, "5.00", "25.00")],
    }
    assert plain["data"]["previewCreditConsumption"]["entries"] == [entry(bonus, "10.00", "25.00")]
    assert plain["data"]["previewCreditConsumption"]["availableBefore"] == "130.00"


BAD_ARGUMENTS: list[tuple[dict[str, Any], list[list[str]]]] = [
    ({"amount": "0"}, [["amount"]]),
    ({"amount": "-1"}, [["amount"]]),
    ({"amount": "1.005"}, [["amount"]]),
    ({"currency": "XYZ"}, [["currency"]]),
    ({"featureKey": "Bad-Key"}, [["featureKey"]]),
    ({"featureKey": ""}, [["featureKey"]]),
    ({"customerId": "acme"}, [["customerId"]]),
    ({"customerId": "acme", "amount": "0", "featureKey": "X"},
     [["customerId"], ["amount"], ["featureKey"]]),
]  # fmt: skip


async def test_every_bad_argument_is_bad_user_input_naming_it(api: Api) -> None:
    customer_id, _, _ = await two_grants(api)

    for variables, fields in BAD_ARGUMENTS:
        body = await ask(api, customer_id, **{"amount": "1", **variables})
        assert body["data"] is None, body
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert [issue["field"] for issue in error["extensions"]["issues"]] == fields, variables
        assert error["path"] == ["previewCreditConsumption"]
    body = await ask(api, customer_id, "1", onInsufficient="SOMETIMES")  # no such behavior
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = await ask(api, customer_id, "ten")  # no Decimal at all
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_an_unknown_customer_is_not_found(api: Api) -> None:
    unknown = new_id("customer")

    body = await ask(api, unknown, "1")

    assert body["data"] is None
    assert body["errors"][0]["message"] == f"Customer {unknown} not found"
    assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"]


async def test_a_portal_token_previews_its_customer_only(api: Api, clock: FrozenClock) -> None:
    customer_id, bonus, pack = await two_grants(api)
    other = await new_customer(api, key="other")
    await granted(api, PROMOTE, other, amount="10")
    now = clock.now()
    signing_key = await api.app.state.authenticator.signing_keys.current(now)
    token = sign_token(customer_id, now + timedelta(hours=1), signing_key)
    headers = {"Authorization": f"Bearer {token}"}

    async def as_portal(target: str) -> dict[str, Any]:
        asked = {"customerId": target, "currency": "USD", "amount": "30"}
        response = await api.client.post(
            "/graphql", json={"query": PREVIEW, "variables": asked}, headers=headers
        )
        body: dict[str, Any] = response.json()
        return body

    own = await as_portal(customer_id)
    theirs = await as_portal(other)

    assert own["data"]["previewCreditConsumption"]["entries"] == [
        entry(bonus, "25.00", "25.00"),
        entry(pack, "5.00", "100.00"),
    ]
    assert theirs["data"] is None
    assert theirs["errors"][0]["message"] == f"Customer {other} not found"
    assert [e["extensions"]["code"] for e in theirs["errors"]] == ["NOT_FOUND"]


async def test_the_example_of_docs_preview_md_answers_as_shown(api: Api) -> None:
    customer_id, _, _ = await two_grants(api)
    [query] = re.findall(r"```graphql\n(.*?)```", PAGE.read_text(), re.DOTALL)
    [shown] = re.findall(r"```json\n(.*?)```", PAGE.read_text(), re.DOTALL)

    assert await api(query, customerId=customer_id) == json.loads(shown)


# ---------------------------------------------------------------- random ledgers

GRANT = st.fixed_dictionaries(
    {
        "step": st.just("grant"),
        "minor": st.integers(1, 3000),
        "paid": st.sampled_from([None, "1", "0.5", "0.5", "2"]),  # None: promotional
        "priority": st.sampled_from([1, 10, 10, 10, 20]),
        "features": st.sampled_from([(), (), (), ("api",), ("storage",), ("api", "storage")]),
        "hours": st.one_of(st.none(), st.integers(1, 48)),  # lasts
        "later": st.sampled_from([0, 0, 0, 2]),  # effective in hours
        "pending": st.sampled_from([False, False, False, True]),  # awaits settlement
    }
)
FEATURE = st.sampled_from([None, None, "api", "storage"])
CONSUME = st.fixed_dictionaries(
    {"step": st.just("consume"), "minor": st.integers(1, 4000), "feature": FEATURE}
)
OTHER = st.fixed_dictionaries(
    {"step": st.sampled_from(["void", "wait", "wait"]), "n": st.integers(0, 30)}
)
STEPS = st.lists(st.one_of(GRANT, GRANT, GRANT, CONSUME, OTHER), min_size=3, max_size=16)
FINAL = st.fixed_dictionaries(
    {
        "share": st.integers(1, 110),  # percent of the balance with the featureKey
        "feature": FEATURE,
        "behavior": st.sampled_from(list(InsufficientCreditsBehavior)),
        "wait": st.sampled_from([0, 0, 0, 3, 30]),  # hours: due fundings and expiries
    }
)


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS, final=FINAL)
def test_the_preview_is_what_the_next_consumption_books_grant_by_grant(
    database_url: str, steps: list[dict[str, Any]], final: dict[str, Any]
) -> None:
    asyncio.run(_check(database_url, steps, final))


async def _check(url: str, steps: list[dict[str, Any]], final: dict[str, Any]) -> None:
    engine = create_engine(url)
    clock = FrozenClock(START)
    runtime = Runtime(engine, clock, CurrencyCatalog(engine), RecordingPublisher())
    try:
        customer, _ = await create_customer(runtime, key=str(ULID()), name="Acme")
        await _play(runtime, clock, customer, steps)
        clock.advance(timedelta(hours=final["wait"]))
        await _compare(runtime, customer, final)
    finally:
        await engine.dispose()


async def _play(
    runtime: Runtime, clock: FrozenClock, customer: str, steps: list[dict[str, Any]]
) -> None:
    made: list[str] = []
    for number, step in enumerate(steps):
        kind = step["step"]
        if kind == "grant":
            made.append(await _grant(runtime, clock, customer, step))
        elif kind == "consume":
            amount = str(Decimal(step["minor"]).scaleb(-2))
            partial = InsufficientCreditsBehavior.PARTIAL
            await consume(
                runtime, customer, amount, f"c{number}", feature_key=step["feature"],
                on_insufficient=partial,
            )  # fmt: skip
        elif kind == "void" and made:
            with contextlib.suppress(InvalidState):  # a depleted or expired grant
                await void_credit_grant(runtime, actor=OPEN, grant_id=made[step["n"] % len(made)])
        elif kind == "wait":
            clock.advance(timedelta(hours=step["n"] % 7 + 1))


async def _grant(runtime: Runtime, clock: FrozenClock, customer: str, step: dict[str, Any]) -> str:
    fields: dict[str, Any] = {"priority": step["priority"], "features": step["features"]}
    if step["hours"] is not None:
        fields["expires_after"] = timedelta(hours=step["hours"])
    if step["later"]:
        fields["effective_at"] = clock.now() + timedelta(hours=step["later"])
    amount = str(Decimal(step["minor"]).scaleb(-2))
    if step["paid"] is None:
        return (await promo(runtime, customer, amount, **fields)).grant_id
    policy = AvailabilityPolicy.ON_SETTLEMENT if step["pending"] else AvailabilityPolicy.ON_CREATION
    terms = PurchaseTerms(cost_basis=Decimal(step["paid"]), availability_policy=policy)
    made = await purchase(
        runtime, customer, amount, terms=terms, funding_method=FundingMethod.INVOICE, **fields
    )
    return made.grant_id


async def _compare(runtime: Runtime, customer: str, final: dict[str, Any]) -> None:
    """Preview then consume `share` percent of the balance (as of the last step, before
    any event due now is booked): across several grants, or more than is eligible."""
    feature, behavior = final["feature"], final["behavior"]
    base = (await balance(runtime, customer, feature_key=feature)).available
    minor = max(1, base * final["share"] // 100)
    amount = Decimal(minor).scaleb(-2)
    request = PreviewRequest(
        customer_id=customer, currency="USD", amount=amount, feature_key=feature,
        on_insufficient=behavior,
    )  # fmt: skip
    found = await preview_consumption(runtime, request)
    before = await balance(runtime, customer, feature_key=feature)
    written = await _consumptions(runtime, customer)
    plan = found.plan
    assert found.available_before == before.available
    try:
        made = await consume(
            runtime, customer, str(amount), "final", feature_key=feature, on_insufficient=behavior
        )
    except InsufficientCredits as refused:
        _note("refused")
        assert plan.rejected and plan.draws == [] and plan.consumed == 0
        assert plan.shortfall == minor - int(refused.available.scaleb(2))
        assert await _consumptions(runtime, customer) == written
        return
    assert not plan.rejected
    drawn = await _drawn(runtime, made.consumption_id)
    _note(f"{len(drawn)} grants drawn" + (", short" if plan.shortfall else ""))
    assert drawn == [(grant.id, take) for grant, take in plan.draws]
    assert plan.consumed + plan.shortfall == minor
    after = await balance(runtime, customer, feature_key=feature)
    assert found.available_after == after.available


def _note(text: str) -> None:
    """For --hypothesis-show-statistics: how many grants the examples drew."""
    if currently_in_test_context():
        event(text)


async def _consumptions(runtime: Runtime, customer: str) -> int:
    async with read_connection(runtime.engine) as connection:
        rows = await connection.execute(
            select(consumptions.c.id).where(consumptions.c.customer_id == customer)
        )
        return len(rows.all())


async def _drawn(runtime: Runtime, consumption_id: str) -> list[tuple[str, int]]:
    statement = (
        select(entries.c.grant_id, entries.c.amount)
        .where(entries.c.consumption_id == consumption_id)
        .order_by(entries.c.sequence)
    )
    async with read_connection(runtime.engine) as connection:
        return [(str(g), -int(a)) for g, a in await connection.execute(statement)]


@pytest.mark.parametrize("behavior", list(InsufficientCreditsBehavior))
async def test_a_shortfall_preview_matches_the_refusal_or_the_partial_draw(
    runtime: Runtime, behavior: InsufficientCreditsBehavior
) -> None:
    """A fixed case of the property above, easy to read when it fails."""
    customer, _ = await create_customer(runtime, key="acme", name="Acme")
    await promo(runtime, customer, "10")
    await _compare(runtime, customer, {"share": 150, "feature": None, "behavior": behavior})
