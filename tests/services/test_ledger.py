"""The ledger's numbering and chain (DESIGN §5) and balances derived from it (§6)."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

from app.domain.grants import AvailabilityPolicy
from app.domain.ledger import OPEN
from app.domain.time import FrozenClock, parse_duration
from app.services.consumption import InsufficientCreditsBehavior
from app.services.grants import GrantOutcome, PurchaseTerms
from app.services.reversal import reverse_credit_consumption
from app.services.runtime import Runtime
from app.services.scheduling import book_due_events
from app.services.settlement import void_credit_grant
from app.services.verify import verify
from tests.services.support import D, balance, consume, ledger, promo, purchase

ON_SETTLEMENT = PurchaseTerms(availability_policy=AvailabilityPolicy.ON_SETTLEMENT)


async def busy_history(
    runtime: Runtime, clock: FrozenClock, customer_id: str
) -> tuple[GrantOutcome, GrantOutcome]:
    """Every kind of entry in one customer's USD ledger, with time moving between writes."""
    promotional = await promo(runtime, customer_id, "10", expires_after=parse_duration("P2D"))
    paid = await purchase(runtime, customer_id, "20")
    clock.advance(timedelta(hours=1))
    first = await consume(runtime, customer_id, "12", key="c1")
    clock.advance(timedelta(hours=1))
    await reverse_credit_consumption(
        runtime, actor=OPEN, consumption_id=first.consumption_id, key="r1", amount=D("3")
    )
    await promo(runtime, customer_id, "5", effective_at=clock.now() + timedelta(days=1))
    clock.advance(timedelta(days=3))
    await consume(runtime, customer_id, "1", key="c2")
    await void_credit_grant(runtime, actor=OPEN, grant_id=paid.grant_id)
    return promotional, paid


async def test_a_busy_ledger_is_numbered_without_gaps_and_chained(runtime, make_customer, clock):
    customer_id = await make_customer()
    await busy_history(runtime, clock, customer_id)

    entries = await ledger(runtime.engine, customer_id)

    assert [e.type for e in entries] == [
        "FUNDED",
        "FUNDED",
        "CONSUMED",
        "CONSUMED",
        "RESTORED",
        "RESTORED",
        "FUNDED",
        "EXPIRED",
        "CONSUMED",
        "VOIDED",
    ]
    assert [e.sequence for e in entries] == list(range(1, 11))
    assert entries[0].balance_before == 0
    for before, after in pairwise(entries):
        assert after.balance_before == before.balance_after
        assert after.booked_at >= before.booked_at
    for entry in entries:
        assert entry.balance_after == entry.balance_before + entry.amount
    assert entries[-1].balance_after == 400
    assert await verify(runtime.engine) == []


async def test_the_ledger_identity_holds_for_every_figure(runtime, make_customer, clock):
    customer_id = await make_customer()
    await busy_history(runtime, clock, customer_id)

    figures = await balance(runtime, customer_id)

    assert (figures.funded, figures.consumed, figures.expired, figures.voided) == (
        3500,
        1000,
        100,
        2000,
    )
    assert (
        figures.funded - figures.consumed - figures.expired - figures.voided
        == figures.available
        == 400
    )
    assert (figures.available_promotional, figures.available_paid) == (400, 0)
    assert figures.sequence == 10


async def test_each_currency_has_its_own_sequence(runtime, make_customer):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "1")
    await promo(runtime, customer_id, "1", "EUR")
    await promo(runtime, customer_id, "2")

    assert [e.sequence for e in await ledger(runtime.engine, customer_id)] == [1, 2]
    assert [e.sequence for e in await ledger(runtime.engine, customer_id, "EUR")] == [1]
    assert (await balance(runtime, customer_id, "EUR")).available == 100


async def test_a_balance_about_a_past_instant_never_changes(runtime, make_customer, clock):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "10", expires_after=parse_duration("P1D"))
    await purchase(runtime, customer_id, "7", terms=ON_SETTLEMENT)
    clock.advance(timedelta(hours=1))
    await consume(runtime, customer_id, "3", key="c1")
    clock.advance(timedelta(hours=1))
    instants = [clock.now() - timedelta(hours=2), clock.now() - timedelta(minutes=30), clock.now()]
    await book_due_events(runtime)
    before = [await balance(runtime, customer_id, at=instant) for instant in instants]
    clock.advance(timedelta(seconds=1))

    await consume(runtime, customer_id, "2", key="c2")
    await promo(runtime, customer_id, "100")
    clock.advance(timedelta(days=2))
    await book_due_events(runtime)

    assert [await balance(runtime, customer_id, at=instant) for instant in instants] == before
    assert [(b.available, b.pending, b.sequence) for b in before] == [
        (1000, 700, 1),
        (700, 700, 2),
        (700, 700, 2),
    ]


async def test_a_balance_before_any_grant_is_all_zeros(runtime, make_customer, clock):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "10")

    figures = await balance(runtime, customer_id, at=clock.now() - timedelta(seconds=1))

    assert (figures.available, figures.pending, figures.funded, figures.sequence) == (0, 0, 0, 0)


async def test_a_feature_balance_counts_only_grants_that_can_pay_for_it(runtime, make_customer):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "10")
    await promo(runtime, customer_id, "5", features=("api",))
    await promo(runtime, customer_id, "3", features=("storage",))
    await purchase(runtime, customer_id, "4", terms=ON_SETTLEMENT, features=("api",))
    await consume(runtime, customer_id, "6", key="c1", feature_key="api")

    whole = await balance(runtime, customer_id)
    api = await balance(runtime, customer_id, feature_key="api")
    storage = await balance(runtime, customer_id, feature_key="storage")

    assert (whole.available, whole.funded, whole.consumed, whole.pending) == (1200, 1800, 600, 400)
    assert (api.available, api.funded, api.consumed, api.pending) == (900, 1500, 600, 400)
    assert (storage.available, storage.funded, storage.consumed, storage.pending) == (
        1200,
        1300,
        100,
        0,
    )
    assert whole.sequence == api.sequence == storage.sequence == 5


async def test_available_splits_into_promotional_and_paid(runtime, make_customer):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "10")
    await purchase(runtime, customer_id, "20")

    outcome = await consume(runtime, customer_id, "15", key="c1")

    figures = outcome.balance
    assert (figures.available, figures.available_promotional, figures.available_paid) == (
        1500,
        0,
        1500,
    )


async def test_pending_counts_grants_not_yet_funded(runtime, make_customer, clock):
    customer_id = await make_customer()
    created = clock.now()
    await purchase(runtime, customer_id, "20", terms=ON_SETTLEMENT)
    await promo(runtime, customer_id, "5", effective_at=clock.now() + timedelta(hours=1))
    await purchase(
        runtime, customer_id, "3", terms=ON_SETTLEMENT, expires_after=parse_duration("PT2H")
    )
    clock.advance(timedelta(hours=3))
    await book_due_events(runtime)

    assert (await balance(runtime, customer_id, at=created - timedelta(seconds=1))).pending == 0
    assert (await balance(runtime, customer_id, at=created)).pending == 2800
    assert (await balance(runtime, customer_id, at=created + timedelta(minutes=90))).pending == 2300
    assert (await balance(runtime, customer_id)).pending == 2000


async def test_consumed_is_net_of_reversals(runtime, make_customer):
    customer_id = await make_customer()
    await promo(runtime, customer_id, "10")
    consumption = await consume(
        runtime, customer_id, "12", key="c", on_insufficient=InsufficientCreditsBehavior.PARTIAL
    )

    outcome = await reverse_credit_consumption(
        runtime, actor=OPEN, consumption_id=consumption.consumption_id, key="r", amount=D("4")
    )

    assert (outcome.balance.consumed, outcome.balance.available) == (600, 400)
