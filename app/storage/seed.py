"""A realistic data set, written fast: bulk inserts through the project's own tables.

Every row comes from the domain's own objects (`Grant`, `Account.append`) and the write
paths' mappings, so the cached figures agree with the ledger and `credits verify` is clean.
Each customer's grants are funded, then drawn from in rounds (one consumption, one entry
each); one more customer, the last, has a long ledger of its own. Two grants in three are
bought, in USD whatever the credits' currency (`TERMS`), so that creditRevenue has the
ledger to value; the third is promotional. Ids and instants are deterministic: the same
shape gives the same rows on every engine. Nothing is due between the last entry and
`Shape.after`. Used by the plan tests and `scripts/bench`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import iso4217
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncEngine
from ulid import ULID

from app.domain.grants import (
    AvailabilityPolicy,
    FundingMethod,
    Grant,
    Purchase,
    SettlementStatus,
)
from app.domain.ids import PREFIXES
from app.domain.ledger import OPEN, Account, Booking, EntryType
from app.domain.money import Currency, from_minor, price, to_minor
from app.storage.bulk import bulk_writer
from app.storage.mapping import PURCHASE, account_values, entry_values, grant_creation
from app.storage.tables import accounts, consumptions, customers, entries, grants

FLUSH_ENTRIES = 10_000  # ledger rows buffered before a flush
DRAW = 100  # smallest units each consumption takes
TABLES = (customers, grants, consumptions, entries, accounts)  # foreign keys first
START = datetime(2026, 1, 1, tzinfo=UTC)
FINGERPRINT = "seed"  # not a replayable request: a replay with a seeded key is a conflict
PURCHASE_CURRENCY = "USD"


@dataclass(frozen=True)
class Terms:
    funding_method: FundingMethod
    cost_basis: Decimal
    availability_policy: AvailabilityPolicy
    settlement_status: SettlementStatus


# By grant index, in turn: an invoice not yet paid, a payment settled before the credits
# were made available, a promotion (None). Every purchase is funded at creation.
TERMS = (
    Terms(
        FundingMethod.INVOICE,
        Decimal("0.9"),
        AvailabilityPolicy.ON_CREATION,
        SettlementStatus.PENDING,
    ),
    Terms(
        FundingMethod.EXTERNAL,
        Decimal("0.3333"),
        AvailabilityPolicy.ON_SETTLEMENT,
        SettlementStatus.SETTLED,
    ),
    None,
)

# A promotional grant's purchase columns: every row of a bulk batch names the same columns.
UNPAID = dict.fromkeys(PURCHASE)


@dataclass(frozen=True)
class Shape:
    """How many of each: `grants` per customer, `entries` per grant (one FUNDED, the rest
    CONSUMED), and one more customer with `big_entries` entries over `grants` grants; with
    `medium_entries`, one more after it with that many. Every grant keeps `spare` smallest
    units beyond what it leaves after its draws, for benchmarks that keep consuming."""

    customers: int = 200
    grants: int = 10
    entries: int = 20
    big_entries: int = 20_000
    medium_entries: int = 0
    spare: int = 0
    currencies: tuple[str, ...] = ("USD",)
    start: datetime = START

    @property
    def after(self) -> datetime:
        """An instant after every entry and before every expiry."""
        return self.start + timedelta(days=30)

    def customer_ids(self) -> list[str]:
        """Every customer's id in id order, the long ledger's last (the medium one apart)."""
        return [seed_id("customer", n) for n in range(self.customers + 1)]

    def medium_id(self) -> str:
        return seed_id("customer", self.customers + 1)

    def entries_of(self, number: int) -> int:
        """Entries per grant of customer `number`."""
        total = {self.customers: self.big_entries, self.customers + 1: self.medium_entries}
        return -(-total[number] // self.grants) if number in total else self.entries


@dataclass
class Batch:
    rows: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: Table, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)


async def seed(engine: AsyncEngine, shape: Shape) -> None:
    """Write the data set into empty tables, then ANALYZE on PostgreSQL."""
    batch = Batch()
    async with engine.connect() as connection:
        write = await bulk_writer(connection, TABLES)
        for number in range(shape.customers + 1 + (shape.medium_entries > 0)):
            _customer(batch, shape, number, shape.entries_of(number))
            if len(batch.rows[entries]) >= FLUSH_ENTRIES:
                await write(batch.rows)
                batch = Batch()
        await write(batch.rows)
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            await connection.execute(text("ANALYZE"))
            await connection.commit()


def seed_id(kind: str, customer: int, index: int = 0) -> str:
    """A valid id, the same on every run: ids sort by customer, then by index."""
    return f"{PREFIXES[kind]}_{ULID.from_int((customer + 1) << 40 | index)}"


def _customer(batch: Batch, shape: Shape, number: int, per_grant: int) -> None:
    customer_id = seed_id("customer", number)
    ticks = _ticks(shape.start + timedelta(minutes=number))
    batch.add(customers, _customer_row(customer_id, number, next(ticks)))
    books = {code: Account(customer_id, code) for code in shape.currencies}
    made = [_grant(shape, number, g, per_grant, next(ticks)) for g in range(shape.grants)]
    counter = iter(range(1, 1 << 40))
    for grant in made:
        booking = _booking(number, next(counter), grant.created_at)
        entry = books[grant.currency].append(
            entry_id=seed_id("entry", number, booking.sequence),
            grant=grant,
            type=EntryType.FUNDED,
            amount=grant.fund(grant.created_at),
            booking=booking.booking,
        )
        batch.add(entries, entry_values(entry))
    for _ in range(per_grant - 1):
        for grant in made:
            _consume(batch, books[grant.currency], grant, next(ticks), number, next(counter))
    for grant in made:
        batch.add(grants, _grant_row(grant))
    for account in books.values():
        if account.sequence:
            batch.add(accounts, account_values(account))


@dataclass(frozen=True)
class _Booked:
    sequence: int
    booking: Booking


def _booking(customer: int, sequence: int, at: datetime) -> _Booked:
    transaction = seed_id("transaction", customer, sequence)
    return _Booked(sequence, Booking(transaction, OPEN, at, at))


def _consume(
    batch: Batch, account: Account, grant: Grant, at: datetime, customer: int, sequence: int
) -> None:
    booked = _booking(customer, sequence, at)
    consumption_id = seed_id("consumption", customer, sequence)
    batch.add(consumptions, _consumption_row(consumption_id, grant, booked))
    entry = account.append(
        entry_id=seed_id("entry", customer, sequence),
        grant=grant,
        type=EntryType.CONSUMED,
        amount=grant.consume(DRAW),
        booking=booked.booking,
        consumption_id=consumption_id,
    )
    batch.add(entries, entry_values(entry))


def _ticks(start: datetime) -> Iterator[datetime]:
    """One instant per second from `start`: each customer's bookings never go back."""
    second = timedelta(seconds=1)
    at = start
    while True:
        yield at
        at += second


def _grant(shape: Shape, customer: int, index: int, per_grant: int, at: datetime) -> Grant:
    """Funded now; half expire in a year, half never; priorities, currencies and terms vary."""
    expires = shape.start + timedelta(days=365, hours=index) if index % 2 else None
    currency = shape.currencies[index % len(shape.currencies)]
    amount = DRAW * per_grant + shape.spare
    terms = TERMS[index % len(TERMS)]
    return Grant(
        id=seed_id("grant", customer, index),
        customer_id=seed_id("customer", customer),
        currency=currency,
        amount=amount,
        funding_method=terms.funding_method if terms else FundingMethod.NONE,
        priority=index % 3 + 1,
        features=(),
        effective_at=at,
        expires_at=expires,
        created_at=at,
        purchase=_purchase(terms, currency, amount, at) if terms else None,
        fundable_at=at,
    )


def _purchase(terms: Terms, currency: str, amount: int, at: datetime) -> Purchase:
    """Priced as purchaseCredits prices it: amount times cost basis, rounded once."""
    paid_in = _iso(PURCHASE_CURRENCY)
    total = price(from_minor(amount, _iso(currency).scale), terms.cost_basis, paid_in)
    purchase = Purchase(
        currency=paid_in.code,
        cost_basis=terms.cost_basis,
        amount=to_minor(total, paid_in.scale),
        availability_policy=terms.availability_policy,
        settlement_status=terms.settlement_status,
    )
    purchase.record_initial_status(at)
    return purchase


def _iso(code: str) -> Currency:
    exponent = iso4217.Currency(code).exponent
    assert exponent is not None, code
    return Currency(code, code, exponent, custom=False)


def _grant_row(grant: Grant) -> dict[str, Any]:
    name = f"grant {grant.id[-4:]}"
    extra: dict[str, Any] = {"key": None, "fingerprint": FINGERPRINT, "name": name, "labels": []}
    return UNPAID | grant_creation(grant) | extra


def _customer_row(customer_id: str, number: int, at: datetime) -> dict[str, Any]:
    name = f"Customer {number}"
    return {
        "id": customer_id,
        "key": f"customer-{number}",
        "name": name,
        "folded_name": name.casefold(),
        "description": None,
        "labels": [],
        "fingerprint": FINGERPRINT,
        "created_at": at,
        "updated_at": at,
    }


def _consumption_row(consumption_id: str, grant: Grant, booked: _Booked) -> dict[str, Any]:
    return {
        "id": consumption_id,
        "customer_id": grant.customer_id,
        "key": f"draw-{booked.sequence}",
        "fingerprint": FINGERPRINT,
        "currency": grant.currency,
        "feature_key": None,
        "description": None,
        "labels": [],
        "requested": DRAW,
        "consumed": DRAW,
        "shortfall": 0,
        "reversed": 0,
        "transaction_id": booked.booking.transaction_id,
        "created_at": booked.booking.booked_at,
    }
