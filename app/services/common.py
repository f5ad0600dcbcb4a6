"""Pieces every use case shares: id checks, fingerprints for keys, the transaction frame."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.balances import Balance
from app.domain.errors import Issues, KeyConflict, NotFound, Path
from app.domain.events import Committed
from app.domain.ids import kind_of
from app.domain.ledger import Actor, Booking
from app.domain.money import Currency, normalized
from app.domain.time import format_duration, format_instant
from app.domain.validation import check_text
from app.services.books import Books
from app.services.runtime import Runtime
from app.storage.balances import read_balance
from app.storage.engine import begin_mode, connection_of
from app.storage.tables import accounts, customers


def check_id(issues: Issues, path: Path, value: str) -> None:
    if kind_of(value) is None:
        issues.add(path, f"{value!r} is not a valid ID")


def check_key(issues: Issues, path: Path, key: str | None) -> None:
    check_text(issues, path, key, low=1, high=256)


def fingerprint(kind: str, values: dict[str, Any]) -> str:
    """Inputs compared as values: callers normalize decimals, instants, labels and sets."""
    text = json.dumps([kind, values], sort_keys=True, default=_canonical)
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        return normalized(value)
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return format_duration(value)


async def keyed_row(frame: Frame, table: Table, key: str, print_: str) -> Row[Any] | None:
    """The customer's earlier creation with this key, or None; KeyConflict on other input."""
    statement = select(table).where(
        table.c.customer_id == frame.books.customer_id, table.c.key == key
    )
    row = (await frame.connection.execute(statement)).first()
    if row is not None and row.fingerprint != print_:
        raise KeyConflict(key)
    return row


@dataclass(frozen=True)
class Owned:
    """An object named by id whose customer a write locks: read on the write's connection."""

    table: Table
    kind: str
    id: str
    what: str

    async def owner(self, connection: AsyncConnection) -> str:
        """The customer it belongs to; NotFound for an unknown id or another kind's id."""
        if kind_of(self.id) == self.kind:
            statement = select(self.table.c.customer_id).where(self.table.c.id == self.id)
            owner = (await connection.execute(statement)).scalar()
            if owner is not None:
                return str(owner)
        raise NotFound(self.what, self.id)


def label_set(labels: Sequence[tuple[str, str]] | None) -> list[list[str]]:
    return sorted([list(label) for label in labels or ()])


def labels_column(labels: Sequence[tuple[str, str]] | None) -> list[list[str]]:
    return [list(label) for label in labels or ()]


@dataclass
class Frame:
    """One use case's transaction on one customer's books."""

    connection: AsyncConnection
    books: Books
    booking: Booking
    now: datetime
    committed: Committed

    async def flush(self) -> None:
        """Write what changed so far; later reads in the transaction see it."""
        done = await self.books.flush()
        self.committed.entries += done.entries
        self.committed.grant_ids |= done.grant_ids
        self.committed.currencies |= done.currencies

    async def mark_sequences(self) -> None:
        """The last sequence of each changed ledger, so subscribers read as of this change."""
        committed = self.committed
        committed.at = self.now
        for currency in committed.currencies:
            account = self.books.accounts.get(currency)
            if account is None:
                statement = select(accounts.c.sequence).where(
                    accounts.c.customer_id == self.books.customer_id,
                    accounts.c.currency == currency,
                )
                found = (await self.connection.execute(statement)).scalar()
                committed.sequences[currency] = int(found or 0)
            else:
                committed.sequences[currency] = account.sequence

    async def balance(self, currency: str) -> Balance:
        await self.flush()
        customer_id = self.books.customer_id
        return await read_balance(self.connection, customer_id, currency, self.now)


@asynccontextmanager
async def customer_transaction(
    runtime: Runtime, customer: str | Owned, actor: Actor, transaction_id: str
) -> AsyncIterator[Frame]:
    """Lock the customer, book what is due, run the use case, flush; publish after commit.

    One pooled connection: for an `Owned` object, its customer is read on the connection
    of the write (in a short read first: the process's lock on the customer must be taken
    before the write transaction begins, or two writers could wait on each other). The
    instant of the write is taken once, after the lock, and used for the entries, the
    result balance and the published change.
    """
    if isinstance(customer, str):
        async with (
            runtime.customer_locks.hold(customer),
            connection_of(runtime.engine) as connection,
            _write(runtime, connection, customer, actor, transaction_id) as frame,
        ):
            yield frame
        return
    async with connection_of(runtime.engine) as connection:
        await begin_mode(connection, "DEFERRED")
        async with connection.begin():
            customer_id = await customer.owner(connection)
        async with (
            runtime.customer_locks.hold(customer_id),
            _write(runtime, connection, customer_id, actor, transaction_id) as frame,
        ):
            yield frame


@asynccontextmanager
async def _write(
    runtime: Runtime,
    connection: AsyncConnection,
    customer_id: str,
    actor: Actor,
    transaction_id: str,
) -> AsyncIterator[Frame]:
    """The write transaction on `connection`, the process's lock on the customer held."""
    await begin_mode(connection, "IMMEDIATE")
    async with connection.begin():
        now = await locked_instant(connection, customer_id, runtime.clock.now())
        books = Books(connection, customer_id, now)
        await books.catch_up()
        booking = Booking(transaction_id, actor, now, now)
        frame = Frame(connection, books, booking, now, Committed(customer_id))
        await frame.flush()  # queries of the use case must see what catch-up booked
        yield frame
        await frame.flush()
        await frame.mark_sequences()
        if frame.committed.entries or frame.committed.grant_ids:
            await runtime.publisher.stage(connection, frame.committed)
    if frame.committed.entries or frame.committed.grant_ids:
        await runtime.publisher.publish(frame.committed)


async def locked_instant(connection: AsyncConnection, customer_id: str, now: datetime) -> datetime:
    """Lock the customer's row (serializing its writers on PostgreSQL; NotFound if there is
    no such customer) and, in the same statement, return `now`, or the customer's last
    bookedAt if the clock stepped back behind it: the ledger is never backdated, so a write
    never describes an instant before its entries."""
    last_booked = (
        select(func.max(accounts.c.last_booked_at))
        .where(accounts.c.customer_id == customer_id)
        .scalar_subquery()
    )
    statement = (
        select(customers.c.id, last_booked).where(customers.c.id == customer_id).with_for_update()
    )
    row = (await connection.execute(statement)).first()
    if row is None:
        raise NotFound("Customer", customer_id)
    last: datetime | None = row[1]
    return now if last is None or last <= now else last


async def known_currency(
    runtime: Runtime, issues: Issues, path: Path, code: str
) -> Currency | None:
    currency = await runtime.catalog.get(code)
    if currency is None:
        issues.add(path, f"{code!r} is not a known currency")
    return currency
