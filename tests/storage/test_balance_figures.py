"""Balances read from maintained figures equal the sums of the ledger, at any instant and as
of any change, with and without a feature, on SQLite and PostgreSQL (random ledgers made
through the services); the sums are the statement balances were read with before."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from ulid import ULID

from app.domain.balances import Balance
from app.domain.errors import DomainError
from app.domain.grants import FundingMethod
from app.domain.ledger import OPEN
from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.services.consumption import ConsumeRequest, InsufficientCreditsBehavior, consume_credits
from app.services.currencies import CurrencyCatalog
from app.services.customers import create_customer
from app.services.grants import GrantRequest, grant_promotional_credits, purchase_credits
from app.services.reversal import reverse_credit_consumption
from app.services.runtime import Runtime
from app.services.settlement import void_credit_grant
from app.services.verify import verify
from app.storage.balances import can_pay_for, pending_at, read_balances
from app.storage.engine import create_engine, read_connection
from app.storage.tables import entries, grants
from tests.conftest import START, empty_database, examples

FEATURES = (None, "api", "gpu")
GRANT = st.tuples(
    st.just("grant"),
    st.integers(1, 90),
    st.sampled_from([(), ("api",), ("gpu",), ("api", "gpu")]),
    st.booleans(),  # promotional
    st.sampled_from(["USD", "EUR"]),
    st.one_of(st.none(), st.integers(1, 40)),  # starts in (minutes)
    st.one_of(st.none(), st.integers(1, 60)),  # lasts (minutes)
)
CONSUME = st.tuples(
    st.just("consume"), st.integers(1, 120), st.sampled_from(FEATURES), st.booleans()
)
OTHER = st.tuples(st.sampled_from(["reverse", "void", "wait"]), st.integers(0, 30))
STEPS = st.lists(st.one_of(GRANT, GRANT, CONSUME, CONSUME, OTHER), min_size=1, max_size=14)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database with the tables; every example makes customers of its own."""
    yield from empty_database(request, tmp_path, "credits_figures")


@settings(
    max_examples=examples(12),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
def test_a_balance_at_any_instant_and_as_of_any_change_is_the_sum_of_the_ledger(
    database_url: str, steps: list[tuple[Any, ...]]
) -> None:
    asyncio.run(_check(database_url, steps))


async def _check(url: str, steps: list[tuple[Any, ...]]) -> None:
    engine = create_engine(url)
    clock = FrozenClock(START)
    runtime = Runtime(engine, clock, CurrencyCatalog(engine), RecordingPublisher())
    try:
        customer_id, _ = await create_customer(runtime, key=str(ULID()), name="Acme")
        instants = await _play(runtime, clock, customer_id, steps)
        assert await verify(engine) == []
        async with read_connection(engine) as connection:
            await _compare(connection, customer_id, instants, clock.now())
    finally:
        await engine.dispose()


async def _play(
    runtime: Runtime, clock: FrozenClock, customer_id: str, steps: list[tuple[Any, ...]]
) -> list[datetime]:
    """Each step through the services (refusals are part of the game); the instants seen."""
    made: list[str] = []
    consumed: list[str] = []
    instants = [clock.now()]
    for number, (kind, *args) in enumerate(steps):
        try:
            if kind == "grant":
                made.append(await _grant(runtime, customer_id, clock.now(), *args))
            elif kind == "consume":
                consumed.append(await _consume(runtime, customer_id, number, *args))
            elif kind == "reverse" and consumed:
                consumption_id = consumed[args[0] % len(consumed)]
                await reverse_credit_consumption(
                    runtime, actor=OPEN, consumption_id=consumption_id, key=f"r{number}"
                )
            elif kind == "void" and made:
                await void_credit_grant(runtime, actor=OPEN, grant_id=made[args[0] % len(made)])
            elif kind == "wait":
                clock.advance(timedelta(minutes=args[0] + 1))
        except DomainError:
            pass
        clock.advance(timedelta(seconds=1))
        instants.append(clock.now())
    return instants


async def _grant(
    runtime: Runtime,
    customer_id: str,
    now: datetime,
    amount: int,
    features: tuple[str, ...],
    promotional: bool,
    currency: str,
    starts_in: int | None,
    lasts: int | None,
) -> str:
    request = GrantRequest(
        customer_id=customer_id,
        name="grant",
        currency=currency,
        amount=Decimal(amount),
        funding_method=FundingMethod.NONE if promotional else FundingMethod.EXTERNAL,
        features=features,
        effective_at=None if starts_in is None else now + timedelta(minutes=starts_in),
        expires_after=None if lasts is None else timedelta(minutes=lasts),
    )
    create = grant_promotional_credits if promotional else purchase_credits
    return (await create(runtime, actor=OPEN, request=request)).grant_id


async def _consume(
    runtime: Runtime, customer_id: str, number: int, amount: int, feature: str | None, partial: bool
) -> str:
    request = ConsumeRequest(
        customer_id=customer_id,
        key=f"c{number}",
        currency="USD",
        amount=Decimal(amount),
        feature_key=feature,
        on_insufficient=InsufficientCreditsBehavior.PARTIAL
        if partial
        else InsufficientCreditsBehavior.REJECT,
    )
    return (await consume_credits(runtime, actor=OPEN, request=request)).consumption_id


async def _compare(
    connection: AsyncConnection, customer_id: str, instants: list[datetime], now: datetime
) -> None:
    booked = (await connection.execute(select(entries.c.booked_at))).scalars().all()
    moments = sorted({*instants, *booked, *(b - timedelta(microseconds=1) for b in booked)})
    for at in moments:
        for feature_key in FEATURES:
            found = await read_balances(connection, [customer_id], at, feature_key)
            assert found == await summed(connection, customer_id, at, feature_key), at
    for currency in ("USD", "EUR"):
        ledger = select(entries.c.sequence, entries.c.booked_at).where(
            entries.c.customer_id == customer_id, entries.c.currency == currency
        )
        for sequence, booked_at in [(0, now), *(await connection.execute(ledger)).all()]:
            for at in (now, booked_at - timedelta(microseconds=1)):
                found = await read_balances(connection, [customer_id], at, None, currency, sequence)
                summed_ = await summed(connection, customer_id, at, None, currency, sequence)
                assert found == summed_, (currency, sequence, at)


def _sum(condition: Any, value: Any) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


async def summed(
    connection: AsyncConnection,
    customer_id: str,
    at: datetime,
    feature_key: str | None,
    currency: str | None = None,
    through_sequence: int | None = None,
) -> dict[tuple[str, str], Balance]:
    """The balances as sums over the whole ledger and every grant."""
    ok, kind = can_pay_for(feature_key), entries.c.type
    ledger = (
        select(
            entries.c.currency,
            func.max(entries.c.sequence).label("sequence"),
            _sum(ok, entries.c.amount).label("available"),
            _sum(and_(ok, kind == "FUNDED"), entries.c.amount).label("funded"),
            _sum(and_(ok, kind.in_(["CONSUMED", "RESTORED"])), -entries.c.amount).label("consumed"),
            _sum(and_(ok, kind == "EXPIRED"), -entries.c.amount).label("expired"),
            _sum(and_(ok, kind == "VOIDED"), -entries.c.amount).label("voided"),
            _sum(and_(ok, entries.c.funding_method == "NONE"), entries.c.amount).label(
                "available_promotional"
            ),
        )
        .join(grants, grants.c.id == entries.c.grant_id)
        .where(entries.c.customer_id == customer_id, entries.c.booked_at <= at)
        .group_by(entries.c.currency)
    )
    pending = (
        select(grants.c.currency, _sum(and_(ok, pending_at(at)), grants.c.amount).label("pending"))
        .where(grants.c.customer_id == customer_id, grants.c.created_at <= at)
        .group_by(grants.c.currency)
    )
    if currency is not None:
        ledger = ledger.where(entries.c.currency == currency)
        pending = pending.where(grants.c.currency == currency)
        if through_sequence is not None:
            ledger = ledger.where(entries.c.sequence <= through_sequence)
    figures: dict[str, dict[str, int]] = {}
    for row in await connection.execute(pending):
        figures[row.currency] = {"pending": int(row.pending)}
    for row in await connection.execute(ledger):
        values = {name: int(value) for name, value in row._mapping.items() if name != "currency"}
        figures.setdefault(row.currency, {}).update(values)
    return {
        (customer_id, code): Balance(customer_id, code, at, feature_key, **values)
        for code, values in sorted(figures.items())
    }
