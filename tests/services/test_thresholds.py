"""Thresholds and top-ups (docs/thresholds.md), on SQLite and PostgreSQL: each way a
balance crosses or recovers, feature scopes, top-ups, deletion, and what a write costs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from app.domain.errors import KeyConflict, NotFound, ValidationFailed
from app.domain.grants import AvailabilityPolicy, FundingMethod, SettlementStatus
from app.domain.ledger import OPEN
from app.domain.time import FrozenClock
from app.services.consumption import InsufficientCreditsBehavior
from app.services.grants import PurchaseTerms
from app.services.reversal import reverse_credit_consumption
from app.services.runtime import Runtime
from app.services.scheduling import book_due_events
from app.services.settlement import settle_credit_purchase, void_credit_grant
from app.services.thresholds import (
    ThresholdRequest,
    TopUpRequest,
    create_credit_threshold,
    delete_credit_threshold,
)
from app.services.verify import verify
from app.storage.engine import read_connection, write_transaction
from app.storage.tables import accounts, grants, threshold_events, thresholds
from tests.services.support import D, consume, fields_of, ledger, promo, purchase, row_counts
from tests.services.test_write_path import customer, kind, recorded


async def threshold(runtime: Runtime, customer_id: str, below: str, **fields: Any) -> str:
    request = ThresholdRequest(
        customer_id=customer_id,
        name=fields.pop("name", "Low balance"),
        currency=fields.pop("currency", "USD"),
        below=D(below),
        **fields,
    )
    outcome = await create_credit_threshold(runtime, actor=OPEN, request=request)
    return outcome.threshold_id


async def state(runtime: Runtime, threshold_id: str) -> str:
    async with read_connection(runtime.engine) as connection:
        found = select(thresholds.c.state).where(thresholds.c.id == threshold_id)
        return str((await connection.execute(found)).scalar_one())


async def events(runtime: Runtime, customer_id: str) -> list[tuple[Any, ...]]:
    """(sequence, threshold, type, before, after, entry type, top-up grant) oldest first."""
    from app.storage.tables import entries

    statement = (
        select(
            threshold_events.c.sequence,
            threshold_events.c.threshold_id,
            threshold_events.c.type,
            threshold_events.c.available_before,
            threshold_events.c.available_after,
            entries.c.type.label("entry_type"),
            threshold_events.c.top_up_grant_id,
        )
        .join(entries, entries.c.id == threshold_events.c.entry_id)
        .where(threshold_events.c.customer_id == customer_id)
        .order_by(threshold_events.c.position)
    )
    async with read_connection(runtime.engine) as connection:
        return [tuple(row) for row in await connection.execute(statement)]


def top_up(amount: str = "100", **terms: Any) -> TopUpRequest:
    purchase_terms = PurchaseTerms(**terms) if terms else None
    return TopUpRequest(D(amount), FundingMethod.INVOICE, purchase=purchase_terms)


async def test_a_threshold_starts_in_the_state_the_balance_puts_it_in(both: Runtime) -> None:
    customer_id = await customer(both)
    await promo(both, customer_id, "40")
    low = await threshold(both, customer_id, "50")
    high = await threshold(both, customer_id, "40")
    assert (await state(both, low), await state(both, high)) == ("CROSSED", "ARMED")
    assert await events(both, customer_id) == []


async def test_consumption_crosses_and_a_purchase_recovers(both: Runtime) -> None:
    customer_id = await customer(both)
    await promo(both, customer_id, "100")
    watched = await threshold(both, customer_id, "50")
    await consume(both, customer_id, "30", key="a")  # 70: still armed
    await consume(both, customer_id, "30", key="b")  # 40: crossed
    await consume(both, customer_id, "5", key="c")  # 35: still crossed, no event
    await purchase(both, customer_id, "20")  # 55: recovered
    assert await events(both, customer_id) == [
        (1, watched, "CROSSED", 7000, 4000, "CONSUMED", None),
        (2, watched, "RECOVERED", 3500, 5500, "FUNDED", None),
    ]
    assert await state(both, watched) == "ARMED"


async def test_a_dip_and_recovery_within_one_transaction_records_nothing(
    both: Runtime,
) -> None:
    """The state at the end of a committed transaction is what counts (a reversal here
    restores what its grant's void forfeits at once)."""
    customer_id = await customer(both)
    await promo(both, customer_id, "100")
    watched = await threshold(both, customer_id, "50")
    await consume(both, customer_id, "10", key="a")
    assert await events(both, customer_id) == [] and await state(both, watched) == "ARMED"


async def test_expiry_crosses_when_its_time_comes(both: Runtime, clock: FrozenClock) -> None:
    customer_id = await customer(both)
    await promo(both, customer_id, "80", expires_at=clock.now() + timedelta(hours=1))
    await promo(both, customer_id, "20")
    watched = await threshold(both, customer_id, "50")
    clock.advance(timedelta(hours=2))
    await book_due_events(both)
    assert await events(both, customer_id) == [
        (1, watched, "CROSSED", 10000, 2000, "EXPIRED", None)
    ]
    async with read_connection(both.engine) as connection:
        occurred = (await connection.execute(select(threshold_events.c.occurred_at))).scalar()
    assert occurred == clock.now() - timedelta(hours=1)  # the expiry's own instant


async def test_expiry_booked_by_a_requests_catch_up_crosses_before_the_request(
    both: Runtime, clock: FrozenClock
) -> None:
    customer_id = await customer(both)
    await promo(both, customer_id, "80", expires_at=clock.now() + timedelta(hours=1))
    await promo(both, customer_id, "30")
    watched = await threshold(both, customer_id, "50")
    clock.advance(timedelta(hours=2))
    await purchase(both, customer_id, "40")  # catch-up: 30, then the purchase: 70
    assert await events(both, customer_id) == [
        (1, watched, "CROSSED", 11000, 3000, "EXPIRED", None),
        (2, watched, "RECOVERED", 3000, 7000, "FUNDED", None),
    ]


async def test_a_void_crosses_and_a_reversal_recovers(both: Runtime) -> None:
    customer_id = await customer(both)
    kept = await promo(both, customer_id, "60")
    voided = await purchase(both, customer_id, "50")
    watched = await threshold(both, customer_id, "50")
    used = await consume(both, customer_id, "20", key="use")  # 90, from the promotional grant
    await void_credit_grant(both, actor=OPEN, grant_id=voided.grant_id)  # 40
    await reverse_credit_consumption(
        both, actor=OPEN, consumption_id=used.consumption_id, key="back", amount=D("20")
    )  # 60, back to the promotional grant
    assert (await ledger(both.engine, customer_id))[-1].grant_id == kept.grant_id
    found = await events(both, customer_id)
    assert [(e[0], e[2], e[3], e[4], e[5]) for e in found] == [
        (1, "CROSSED", 9000, 4000, "VOIDED"),
        (2, "RECOVERED", 4000, 6000, "RESTORED"),
    ]
    assert all(e[1] == watched for e in found)


async def test_a_feature_scoped_threshold_watches_the_balance_of_that_feature(
    both: Runtime,
) -> None:
    customer_id = await customer(both)
    await promo(both, customer_id, "100", features=("chat",))
    await promo(both, customer_id, "50")
    api = await threshold(both, customer_id, "60", feature_key="api")  # 50: crossed
    chat = await threshold(both, customer_id, "120", feature_key="chat")  # 150: armed
    everything = await threshold(both, customer_id, "90")  # 150: armed
    await consume(both, customer_id, "40", key="chat", feature_key="chat")  # the chat grant
    await consume(both, customer_id, "10", key="plain")  # the unrestricted grant: api 40
    assert await state(both, api) == "CROSSED"
    found = await events(both, customer_id)
    assert [(e[1], e[2], e[3], e[4]) for e in found] == [(chat, "CROSSED", 15000, 11000)]
    assert await state(both, everything) == "ARMED"  # 100 left in all
    await consume(both, customer_id, "11", key="last", feature_key="chat")  # 89
    assert [e[1:3] for e in await events(both, customer_id)][-1] == (everything, "CROSSED")


async def test_a_top_up_on_creation_crosses_then_recovers_in_the_same_transaction(
    both: Runtime,
) -> None:
    customer_id = await customer(both)
    await promo(both, customer_id, "100")
    watched = await threshold(both, customer_id, "50", top_up=top_up("100"))
    made = await consume(both, customer_id, "60", key="big")
    found = await events(both, customer_id)
    grant_id = found[0][6]
    assert found == [
        (1, watched, "CROSSED", 10000, 14000, "CONSUMED", grant_id),
        (2, watched, "RECOVERED", 10000, 14000, "FUNDED", None),
    ]
    assert made.balance.available == 14000  # the result balance includes the top-up
    entries = await ledger(both.engine, customer_id)
    consumed, funded = entries[-2], entries[-1]
    assert (consumed.type, funded.type, funded.grant_id) == ("CONSUMED", "FUNDED", grant_id)
    assert funded.transaction_id == consumed.transaction_id
    assert (funded.actor_type, funded.actor_name) == ("SYSTEM", "system")
    async with read_connection(both.engine) as connection:
        row = (await connection.execute(select(grants).where(grants.c.id == grant_id))).one()
        event_id = (await connection.execute(select(threshold_events.c.id))).scalars().first()
    assert (row.key, row.funding_method, row.amount, row.purchase_amount) == (
        f"topup:{event_id}",
        "INVOICE",
        10000,
        10000,
    )
    assert await state(both, watched) == "ARMED"


async def test_a_top_up_on_settlement_recovers_once_it_is_settled(both: Runtime) -> None:
    customer_id = await customer(both)
    await promo(both, customer_id, "100")
    terms = {"availability_policy": AvailabilityPolicy.ON_SETTLEMENT}
    watched = await threshold(both, customer_id, "50", top_up=top_up("30", **terms))
    await consume(both, customer_id, "60", key="big")  # 40, the top-up pending
    await consume(both, customer_id, "10", key="more")  # 30: no new crossing, no purchase
    found = await events(both, customer_id)
    assert [(e[0], e[2], e[3], e[4]) for e in found] == [(1, "CROSSED", 10000, 4000)]
    grant_id = found[0][6]
    assert await state(both, watched) == "CROSSED"
    await settle_credit_purchase(
        both, actor=OPEN, grant_id=grant_id, status=SettlementStatus.SETTLED
    )  # 60: recovered
    found = await events(both, customer_id)
    assert [(e[0], e[2], e[3], e[4], e[5]) for e in found][1:] == [
        (2, "RECOVERED", 3000, 6000, "FUNDED")
    ]
    async with read_connection(both.engine) as connection:
        bought = await connection.execute(select(grants.c.id).where(grants.c.key.like("topup:%")))
        assert list(bought.scalars()) == [grant_id]


async def test_a_threshold_fires_again_only_after_it_recovered(both: Runtime) -> None:
    customer_id = await customer(both)
    await promo(both, customer_id, "60")
    await threshold(both, customer_id, "50", top_up=top_up("20"))
    await consume(both, customer_id, "20", key="a")  # 40 crossed, +20: 60 recovered
    await consume(both, customer_id, "20", key="b")  # 40 crossed, +20: 60 recovered
    found = await events(both, customer_id)
    assert [(e[0], e[2]) for e in found] == [
        (1, "CROSSED"),
        (2, "RECOVERED"),
        (3, "CROSSED"),
        (4, "RECOVERED"),
    ]


async def test_a_top_up_too_small_to_recover_leaves_it_crossed(both: Runtime) -> None:
    customer_id = await customer(both)
    await promo(both, customer_id, "60")
    await threshold(both, customer_id, "50", top_up=top_up("5"))
    await consume(both, customer_id, "20", key="a")  # 40, +5: 45 still crossed
    await consume(both, customer_id, "20", key="b")  # 25: no new crossing, nothing bought
    found = await events(both, customer_id)
    assert [(e[0], e[2], e[3], e[4]) for e in found] == [(1, "CROSSED", 6000, 4500)]
    entries = await ledger(both.engine, customer_id)
    assert [e.type for e in entries] == ["FUNDED", "CONSUMED", "FUNDED", "CONSUMED"]


async def test_deleting_is_forward_looking_and_replays(both: Runtime) -> None:
    customer_id = await customer(both)
    await promo(both, customer_id, "100")
    watched = await threshold(both, customer_id, "50")
    await consume(both, customer_id, "60", key="a")
    first = await delete_credit_threshold(both, actor=OPEN, threshold_id=watched)
    again = await delete_credit_threshold(both, actor=OPEN, threshold_id=watched)
    await purchase(both, customer_id, "100")
    assert (first.replayed, again.replayed) == (False, True)
    assert await state(both, watched) == "DELETED"
    assert [e[2] for e in await events(both, customer_id)] == ["CROSSED"]


async def test_creation_errors_name_their_fields_and_change_nothing(both: Runtime) -> None:
    customer_id = await customer(both)
    before = await row_counts(both.engine)
    bad = ThresholdRequest(
        customer_id=customer_id,
        name="",
        currency="USD",
        below=D("0.001"),
        feature_key="Not A Feature",
        top_up=TopUpRequest(D("-1"), FundingMethod.NONE),
    )
    with pytest.raises(ValidationFailed) as refused:
        await create_credit_threshold(both, actor=OPEN, request=bad)
    assert fields_of(refused.value) == [
        ("input", "name"),
        ("input", "below"),
        ("input", "featureKey"),
        ("input", "topUp", "amount"),
        ("input", "topUp", "fundingMethod"),
    ]
    with pytest.raises(NotFound):
        await threshold(both, "cus_01J9Z8Y7X6W5V4T3S2R1Q0P9N8", "10")
    assert await row_counts(both.engine) == before


async def test_an_eleventh_threshold_is_refused_and_a_key_replays(both: Runtime) -> None:
    customer_id = await customer(both)
    made = [await threshold(both, customer_id, f"{n}", key=f"t{n}") for n in range(1, 11)]
    with pytest.raises(ValidationFailed) as refused:
        await threshold(both, customer_id, "11")
    assert fields_of(refused.value) == [("input", "currency")]
    assert await threshold(both, customer_id, "1", key="t1") == made[0]  # a replay
    with pytest.raises(KeyConflict):
        await threshold(both, customer_id, "2", key="t1")
    await delete_credit_threshold(both, actor=OPEN, threshold_id=made[0])
    assert await threshold(both, customer_id, "11") not in made  # room again
    await threshold(both, customer_id, "5", currency="EUR")  # another currency: its own ten


async def test_a_consumption_without_thresholds_writes_in_the_same_seven_statements(
    both: Runtime,
) -> None:
    """The same statements as for a customer who never had a threshold (the seven of
    tests/services/test_write_path.py), for one with thresholds on another currency only,
    and after its only threshold here was deleted."""
    runtime = both
    found = []
    for name, watched in (("never", None), ("elsewhere", "EUR"), ("deleted", "USD")):
        customer_id = await customer(runtime, name)
        await promo(runtime, customer_id, "10")
        if watched is not None:
            made = await threshold(runtime, customer_id, "5", currency=watched)
        if watched == "USD":
            await delete_credit_threshold(runtime, actor=OPEN, threshold_id=made)
        await consume(runtime, customer_id, "1", key="warm-up")
        with recorded(runtime.engine) as statements:
            await consume(runtime, customer_id, "2", key="use")
        found.append([kind(s) for s in statements])
    assert found[0] == found[1] == found[2] and len(found[0]) == 7


async def test_with_thresholds_a_consumption_that_fires_none_adds_no_statement(
    both: Runtime,
) -> None:
    """The thresholds and their scopes' figures come with the account's read under the
    lock: with a whole-balance and two feature thresholds, whether the draws touch a
    watched feature's grants or not, the seven statements of a customer without any,
    whatever the ledger's length."""
    runtime = both
    customer_id = await customer(runtime)
    await promo(runtime, customer_id, "1000")
    await promo(runtime, customer_id, "1000", name="API credits", features=("api",), priority=1)
    await threshold(runtime, customer_id, "5")
    await threshold(runtime, customer_id, "5", feature_key="api")
    await threshold(runtime, customer_id, "5", feature_key="search")
    counts = []
    for round in range(3):
        for n in range(20 * round):
            await consume(runtime, customer_id, "1", key=f"fill-{round}-{n}")
        for feature in (None, "api"):
            with recorded(runtime.engine) as statements:
                await consume(
                    runtime, customer_id, "1", key=f"use-{round}-{feature}", feature_key=feature
                )
            counts.append([kind(s) for s in statements])
    seven = ["BEGIN", "read", "read", "INSERT credit_consumption", "UPDATE credit_grant"]
    seven += ["UPDATE account", "INSERT ledger_entry"]
    seven[0] = counts[0][0]  # BEGIN IMMEDIATE on SQLite, the lock's statements on PostgreSQL
    assert counts[0::2] == [seven] * 3  # drawn from the unrestricted grant
    assert counts[1::2] == [[*seven, "INSERT scope_figure"]] * 3  # from the API grant
    assert await events(runtime, customer_id) == []


async def test_the_account_read_with_its_thresholds_seeks_indexes_only(runtime: Runtime) -> None:
    """SQLite's plan of the statement that reads the account, its thresholds and their
    scopes' figures: index seeks, no table scanned."""
    customer_id = await customer(runtime)
    await promo(runtime, customer_id, "10")
    await threshold(runtime, customer_id, "5", feature_key="api")
    with recorded(runtime.engine) as statements:
        await consume(runtime, customer_id, "1", key="use")
    [read] = [s for s in statements if "json_group_array" in s]
    async with read_connection(runtime.engine) as connection:
        plan = await connection.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {read}", tuple([None] * read.count("?"))
        )
        details = [str(detail) for *_, detail in plan]
    tables = ("customer", "account", "ledger", "credit", "watched", "scope_figure")
    assert [d for d in details if d.startswith(tuple(f"SCAN {t}" for t in tables))] == []
    assert "TEMP B-TREE" not in " ".join(details)
    seeks = [d.split(" (")[0] for d in details if d.startswith("SEARCH ")]
    assert "SEARCH watched USING INDEX ix_credit_threshold_customer_currency" in seeks
    scope = "SEARCH scope_figure USING INDEX sqlite_autoindex_scope_figure_1"
    assert seeks.count(scope) == 2  # the feature's scope and the restricted grants'


async def test_partial_consumption_to_zero_crosses_once(both: Runtime) -> None:
    customer_id = await customer(both)
    await promo(both, customer_id, "10")
    await threshold(both, customer_id, "10")
    await consume(
        both,
        customer_id,
        "20",
        key="all",
        on_insufficient=InsufficientCreditsBehavior.PARTIAL,
    )
    assert [(e[2], e[3], e[4]) for e in await events(both, customer_id)] == [("CROSSED", 1000, 0)]


async def test_verify_recomputes_the_threshold_figures_kept_on_the_account(both: Runtime) -> None:
    customer_id = await customer(both)
    await promo(both, customer_id, "100")
    await threshold(both, customer_id, "50")
    await consume(both, customer_id, "60", key="a")
    assert await verify(both.engine) == []
    async with write_transaction(both.engine) as connection:
        await connection.execute(update(accounts).values(thresholds=3, threshold_sequence=0))
    assert await verify(both.engine) == [
        f"account {customer_id}/USD: thresholds is 3 in the cache, 1 by the ledger",
        f"account {customer_id}/USD: threshold_sequence is 0 in the cache, 1 by the ledger",
    ]
