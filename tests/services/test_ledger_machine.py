"""The ledger's invariants under random sequences of every use case (Hypothesis stateful).

After every step, for every customer and currency: funded - consumed - expired - voided =
available, nothing negative, sequences gapless and chained, and `verify` finds nothing.
Balances about past instants, taken once every due event was booked, never change.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar, cast

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import event, select

from app.domain.balances import Balance
from app.domain.errors import InsufficientCredits, InvalidState, KeyConflict, ValidationFailed
from app.domain.grants import (
    SETTLEMENT_MOVES,
    AvailabilityPolicy,
    FundingMethod,
    GrantStatus,
    SettlementStatus,
)
from app.domain.ledger import OPEN
from app.domain.money import from_minor
from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.services.books import Books
from app.services.consumption import ConsumeRequest, InsufficientCreditsBehavior, consume_credits
from app.services.currencies import CurrencyCatalog, create_custom_currency
from app.services.customers import create_customer
from app.services.grants import (
    GrantRequest,
    PurchaseTerms,
    grant_promotional_credits,
    purchase_credits,
)
from app.services.reversal import reverse_credit_consumption
from app.services.runtime import Runtime
from app.services.scheduling import book_due_events
from app.services.settlement import settle_credit_purchase, void_credit_grant
from app.services.verify import verify
from app.storage.balances import read_balances
from app.storage.engine import create_engine, read_connection
from app.storage.mapping import grant_from_row
from app.storage.tables import accounts, consumptions, entries, grants
from tests.conftest import START, create_sqlite_engine, examples

T = TypeVar("T")

SCALES = {"USD": 2, "JPY": 0, "TOKENS": 3}
FEATURE_SETS: list[tuple[str, ...]] = [(), (), ("api",), ("storage",), ("api", "storage")]
FEATURE_KEYS = [None, None, "api", "storage"]
KEYS = [None, None, "k1", "k2"]
# Mostly one customer's USD ledger, so that operations meet; the others check isolation.
CUSTOMER = st.sampled_from([0, 0, 0, 1])
CURRENCY = st.sampled_from(["USD", "USD", "USD", "JPY", "TOKENS"])
GRANT: dict[str, st.SearchStrategy[Any]] = {
    "customer": CUSTOMER,
    "currency": CURRENCY,
    "minor": st.integers(1, 2000),
    "paid": st.booleans(),
    "policy": st.sampled_from(list(AvailabilityPolicy)),
    "status": st.sampled_from(
        [SettlementStatus.PENDING, SettlementStatus.AUTHORIZED, SettlementStatus.SETTLED]
    ),
    "funding": st.sampled_from([FundingMethod.INVOICE, FundingMethod.EXTERNAL]),
    "basis": st.sampled_from(["1", "0.5", "0.0125"]),
    "priority": st.integers(1, 3),
    "features": st.sampled_from(FEATURE_SETS),
    "starts_in": st.one_of(st.none(), st.integers(1, 600), st.integers(-120, 0)),
    "lasts": st.one_of(st.none(), st.none(), st.integers(1, 1440)),
    "key": st.sampled_from(KEYS),
}


GRANTS: Bundle[Any] = Bundle("grants")
Decorated = TypeVar("Decorated", bound=Callable[..., Any])


def makes_grants(
    decorator: Callable[..., Any], **changes: st.SearchStrategy[Any]
) -> Callable[[Decorated], Decorated]:
    """`rule` or `initialize` with the grant strategies, adding to the grants bundle."""
    return cast(Callable[[Decorated], Decorated], decorator(target=GRANTS, **(GRANT | changes)))


@dataclass(frozen=True)
class GrantRef:
    customer_id: str
    grant_id: str
    paid: bool


@dataclass(frozen=True)
class ConsumptionRef:
    customer_id: str
    consumption_id: str


class LedgerMachine(RuleBasedStateMachine):
    grants = GRANTS
    consumptions = Bundle("consumptions")

    template: Template  # set by the test: the starting database every run copies

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="credits-machine-"))
        shutil.copy(self.template.path, self.directory / "credits.db")
        self.loop = asyncio.new_event_loop()
        self.clock = FrozenClock(START)
        self.engine = create_engine(f"sqlite:///{self.directory / 'credits.db'}")
        self.runtime = Runtime(
            self.engine, self.clock, CurrencyCatalog(self.engine), RecordingPublisher()
        )
        self.customer_ids = list(self.template.customer_ids)
        self.writes = 0  # statements that changed the database, counted by the engine
        self.checked_at_writes = -1  # self.writes when the history was last compared
        self.checked_state: tuple[int, datetime] | None = None  # when the ledger was checked
        event.listen(self.engine.sync_engine, "after_cursor_execute", self.count_writes)
        self.grant_keys: dict[tuple[str, str], tuple[bool, GrantRequest, str]] = {}
        self.consumption_keys: dict[tuple[str, str], tuple[ConsumeRequest, str]] = {}
        self.reversal_keys: dict[tuple[str, str], tuple[str, Decimal | None, list[str]]] = {}
        self.reversals = 0
        self.consumed = 0
        self.snapshots: dict[datetime, dict[tuple[str, str, str | None], Balance]] = {}

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        try:
            self.check_history()
        finally:
            self.run(self.engine.dispose())
            self.loop.close()
            shutil.rmtree(self.directory, ignore_errors=True)

    # ---- grants

    @makes_grants(initialize)
    def seed_grant(self, **params: Any) -> Any:
        return self.create_grant(**params)

    @makes_grants(initialize, starts_in=st.integers(1, 600))
    def seed_future_grant(self, **params: Any) -> Any:
        return self.create_grant(**params)

    @makes_grants(rule)
    def grant(self, **params: Any) -> Any:
        return self.create_grant(**params)

    def create_grant(
        self,
        customer: int,
        currency: str,
        minor: int,
        paid: bool,
        policy: AvailabilityPolicy,
        status: SettlementStatus,
        funding: FundingMethod,
        basis: str,
        priority: int,
        features: tuple[str, ...],
        starts_in: int | None,
        lasts: int | None,
        key: str | None,
    ) -> Any:
        now = self.clock.now()
        customer_id = self.customer_ids[customer]
        effective_at = None if starts_in is None else now + timedelta(minutes=starts_in)
        request = GrantRequest(
            customer_id=customer_id,
            name="grant",
            currency=currency,
            amount=from_minor(minor, SCALES[currency]),
            funding_method=funding if paid else FundingMethod.NONE,
            purchase=PurchaseTerms(
                currency="EUR" if currency == "TOKENS" else None,
                cost_basis=Decimal(basis),
                availability_policy=policy,
                settlement_status=status,
            )
            if paid
            else None,
            key=key,
            priority=priority,
            features=features,
            effective_at=effective_at,
            expires_after=None if lasts is None else timedelta(minutes=lasts),
        )
        create = purchase_credits if paid else grant_promotional_credits
        expiry_passed = (
            lasts is not None and (effective_at or now) + timedelta(minutes=lasts) <= now
        )
        earlier = self.grant_keys.get((customer_id, key)) if key else None
        try:
            outcome = self.run(create(self.runtime, actor=OPEN, request=request))
        except ValidationFailed as error:
            assert expiry_passed, error.issues
            assert [issue.field for issue in error.issues] == [("input", "expiresAfter")]
            return multiple()
        except KeyConflict:
            assert earlier is not None and earlier[:2] != (paid, request)
            return multiple()
        assert not expiry_passed
        if earlier is not None:
            assert earlier[:2] == (paid, request)
            assert (outcome.grant_id, outcome.replayed) == (earlier[2], True)
            return multiple()
        assert outcome.replayed is False
        if key:
            self.grant_keys[(customer_id, key)] = (paid, request, outcome.grant_id)
        return GrantRef(customer_id, outcome.grant_id, paid)

    @rule(grant=grants, status=st.sampled_from(list(SettlementStatus)[1:]))
    def settle(self, grant: GrantRef, status: SettlementStatus) -> None:
        target = status
        row = self.run(self.grant_row(grant.grant_id))
        try:
            outcome = self.run(
                settle_credit_purchase(
                    self.runtime, actor=OPEN, grant_id=grant.grant_id, status=target
                )
            )
        except InvalidState as error:
            expected = "NO_PAYMENT" if not grant.paid else row.settlement_status
            assert error.current_state == expected
            if grant.paid:
                assert target not in SETTLEMENT_MOVES.get(SettlementStatus(expected), set())
                assert target.value != expected
            return
        assert grant.paid
        assert outcome.replayed is (row.settlement_status == target.value)
        after = self.run(self.grant_row(grant.grant_id))
        assert after.settlement_status == target.value
        if target is SettlementStatus.FAILED and not outcome.replayed:
            before = grant_from_row(row).status(self.clock.now())
            if before in (GrantStatus.PENDING, GrantStatus.ACTIVE):
                assert (after.void_reason, after.remaining) == ("payment failed", 0)
            else:
                assert (after.voided_at, after.void_reason) == (row.voided_at, row.void_reason)

    @rule(grant=grants)
    def void(self, grant: GrantRef) -> None:
        before = grant_from_row(self.run(self.grant_row(grant.grant_id))).status(self.clock.now())
        try:
            outcome = self.run(void_credit_grant(self.runtime, actor=OPEN, grant_id=grant.grant_id))
        except InvalidState as error:
            assert before in (GrantStatus.DEPLETED, GrantStatus.EXPIRED)
            assert error.current_state == before.value
            return
        assert outcome.replayed is (before is GrantStatus.VOIDED)
        after = self.run(self.grant_row(grant.grant_id))
        assert (after.voided_at is not None, after.remaining) == (True, 0)

    # ---- consumptions

    @rule(
        target=consumptions,
        customer=CUSTOMER,
        currency=CURRENCY,
        minor=st.integers(1, 1500),
        feature_key=st.sampled_from(FEATURE_KEYS),
        partial=st.booleans(),
        reuse=st.sampled_from([None, None, None, "c1", "c2"]),
    )
    def consume(
        self,
        customer: int,
        currency: str,
        minor: int,
        feature_key: str | None,
        partial: bool,
        reuse: str | None,
    ) -> Any:
        customer_id = self.customer_ids[customer]
        self.consumed += 1
        key = reuse or f"c-{self.consumed}"
        behavior = (
            InsufficientCreditsBehavior.PARTIAL if partial else InsufficientCreditsBehavior.REJECT
        )
        request = ConsumeRequest(
            customer_id=customer_id,
            key=key,
            currency=currency,
            amount=from_minor(minor, SCALES[currency]),
            feature_key=feature_key,
            on_insufficient=behavior,
        )
        earlier = self.consumption_keys.get((customer_id, key))
        eligible = self.run(self.eligible(customer_id, currency, feature_key))
        try:
            outcome = self.run(consume_credits(self.runtime, actor=OPEN, request=request))
        except KeyConflict:
            assert earlier is not None and earlier[0] != request
            return multiple()
        except InsufficientCredits as error:
            assert not partial and earlier is None
            assert eligible < minor
            assert error.available == from_minor(eligible, SCALES[currency])
            return multiple()
        if earlier is not None:
            assert earlier[0] == request
            assert (outcome.consumption_id, outcome.replayed) == (earlier[1], True)
            return multiple()
        assert outcome.replayed is False
        self.consumption_keys[(customer_id, key)] = (request, outcome.consumption_id)
        row = self.run(self.consumption_row(outcome.consumption_id))
        assert (row.requested, row.consumed) == (minor, min(minor, eligible))
        assert row.consumed + row.shortfall == minor
        assert partial or row.shortfall == 0
        return ConsumptionRef(customer_id, outcome.consumption_id)

    @rule(
        consumption=consumptions,
        share=st.one_of(st.none(), st.integers(1, 100)),
        replay=st.booleans(),
    )
    def reverse(self, consumption: ConsumptionRef, share: int | None, replay: bool) -> None:
        row = self.run(self.consumption_row(consumption.consumption_id))
        scale = SCALES[row.currency]
        reversible = row.consumed - row.reversed
        wanted = reversible if share is None else max(1, row.consumed * share // 100)
        amount = None if share is None else from_minor(wanted, scale)
        previous = (consumption.customer_id, f"r-{self.reversals}")
        earlier = self.reversal_keys.get(previous) if replay else None
        if earlier is not None and earlier[:2] == (consumption.consumption_id, amount):
            again = self.run(self.reverse_call(consumption.consumption_id, previous[1], amount))
            assert (again.entry_ids, again.replayed) == (earlier[2], True)
            return
        self.reversals += 1
        key = f"r-{self.reversals}"
        try:
            outcome = self.run(self.reverse_call(consumption.consumption_id, key, amount))
        except ValidationFailed as error:
            assert [issue.field for issue in error.issues] == [("input", "amount")]
            assert reversible == 0 or wanted > reversible
            return
        assert 0 < wanted <= reversible
        assert outcome.replayed is False
        self.reversal_keys[(consumption.customer_id, key)] = (
            consumption.consumption_id,
            amount,
            outcome.entry_ids,
        )
        after = self.run(self.consumption_row(consumption.consumption_id))
        assert after.reversed == row.reversed + wanted

    async def reverse_call(self, consumption_id: str, key: str, amount: Decimal | None) -> Any:
        return await reverse_credit_consumption(
            self.runtime, actor=OPEN, consumption_id=consumption_id, key=key, amount=amount
        )

    # ---- time

    @rule(minutes=st.sampled_from([0, 1, 7, 60, 180, 900, 1500]), sweep_first=st.booleans())
    def advance(self, minutes: int, sweep_first: bool) -> None:
        if sweep_first:
            self.run(book_due_events(self.runtime))
            assert self.run(book_due_events(self.runtime)) == 0
            if minutes:  # nothing more is written at this instant: its balances are final
                self.snapshots[self.clock.now()] = self.run(self.all_balances(self.clock.now()))
        self.clock.advance(timedelta(minutes=minutes))
        self.check_history()

    def check_history(self) -> None:
        """Every final balance is still what it was. Unchanged rows give unchanged answers:
        compared again only after a write."""
        if self.writes == self.checked_at_writes:
            return
        self.checked_at_writes = self.writes
        for instant, before in self.snapshots.items():
            if instant < self.clock.now():
                assert self.run(self.all_balances(instant)) == before, instant

    def count_writes(self, connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            self.writes += 1

    # ---- invariants

    @invariant()
    def ledger_is_consistent(self) -> None:
        """Checked after every step that wrote something or moved the clock: the same rows
        read at the same instant give the same answers."""
        state = (self.writes, self.clock.now())
        if state != self.checked_state:
            self.checked_state = state
            self.run(self.check_ledger())

    async def check_ledger(self) -> None:
        assert await verify(self.engine) == []
        now = self.clock.now()
        async with read_connection(self.engine) as connection:
            rows = (await connection.execute(select(entries).order_by(entries.c.position))).all()
            account_rows = (await connection.execute(select(accounts))).all()
            grant_rows = (await connection.execute(select(grants))).all()
            consumption_rows = (await connection.execute(select(consumptions))).all()
            found = await read_balances(connection, self.customer_ids, now, None)
        chains: dict[tuple[str, str], list[Any]] = {}
        for row in rows:
            chains.setdefault((row.customer_id, row.currency), []).append(row)
        for key, chain in chains.items():
            chain.sort(key=lambda entry: entry.sequence)
            assert [entry.sequence for entry in chain] == list(range(1, len(chain) + 1)), key
            available = 0
            for entry in chain:
                assert entry.balance_before == available
                available = entry.balance_after
                assert available == entry.balance_before + entry.amount >= 0
                assert entry.booked_at <= now
            assert [entry.booked_at for entry in chain] == sorted(
                entry.booked_at for entry in chain
            )
            by_position = sorted(chain, key=lambda entry: entry.position)
            assert [entry.sequence for entry in by_position] == [entry.sequence for entry in chain]
        assert {(row.customer_id, row.currency) for row in account_rows} == set(chains)
        for balance in found.values():
            figures = balance.funded - balance.consumed - balance.expired - balance.voided
            assert figures == balance.available >= 0, balance
            assert min(balance.funded, balance.consumed, balance.expired, balance.voided) >= 0, (
                balance
            )
            assert 0 <= balance.available_promotional <= balance.available, balance
            assert balance.pending >= 0
        for row in grant_rows:
            assert 0 <= row.remaining <= row.amount, row.id
            assert row.consumed + row.expired + row.voided + row.remaining == (
                row.amount if row.funded_at is not None else 0
            ), row.id
        for row in consumption_rows:
            assert 0 <= row.reversed <= row.consumed <= row.requested
            assert row.consumed + row.shortfall == row.requested

    # ---- reading

    async def grant_row(self, grant_id: str) -> Any:
        async with read_connection(self.engine) as connection:
            return (await connection.execute(select(grants).where(grants.c.id == grant_id))).one()

    async def consumption_row(self, consumption_id: str) -> Any:
        statement = select(consumptions).where(consumptions.c.id == consumption_id)
        async with read_connection(self.engine) as connection:
            return (await connection.execute(statement)).one()

    async def eligible(self, customer_id: str, currency: str, feature_key: str | None) -> int:
        """What a consumption could draw now: the grants once every due event is booked.

        Books the due events in memory only (the app's own catch-up) and rolls back.
        """
        now = self.clock.now()
        async with self.engine.connect() as connection:
            transaction = await connection.begin()
            books = Books(connection, customer_id, now)
            await books.catch_up()
            loaded = await books.load_grants(grants.c.currency == currency)
            await transaction.rollback()
        return sum(
            grant.remaining
            for grant in loaded
            if grant.status(now) is GrantStatus.ACTIVE and grant.can_pay_for(feature_key)
        )

    async def all_balances(self, at: datetime) -> dict[tuple[str, str, str | None], Balance]:
        found: dict[tuple[str, str, str | None], Balance] = {}
        async with read_connection(self.engine) as connection:
            for feature_key in (None, "api"):
                balances = await read_balances(connection, self.customer_ids, at, feature_key)
                for (customer_id, currency), balance in balances.items():
                    found[(customer_id, currency, feature_key)] = balance
        return found


@dataclass(frozen=True)
class Template:
    path: Path
    customer_ids: tuple[str, ...]


async def make_template(path: Path) -> Template:
    """The tables, the custom currency TOKENS and two customers, made once for every run."""
    engine = await create_sqlite_engine(path)
    runtime = Runtime(engine, FrozenClock(START), CurrencyCatalog(engine), RecordingPublisher())
    await create_custom_currency(runtime, code="TOKENS", name="Tokens", scale=3)
    made = [
        await create_customer(runtime, key=f"customer-{n}", name=f"Customer {n}") for n in (0, 1)
    ]
    await engine.dispose()  # the last connection closes: the WAL is checkpointed into the file
    assert not path.with_name(path.name + "-wal").exists()
    return Template(path, tuple(customer_id for customer_id, _ in made))


def test_the_ledger_invariants_hold_under_random_operations(tmp_path: Path) -> None:
    LedgerMachine.template = asyncio.run(make_template(tmp_path / "template.db"))
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=examples(25),
            stateful_step_count=30,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
