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

from sqlalchemy import Row, Table, select
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
from app.services.watching import watch
from app.storage.balances import read_pending
from app.storage.engine import begin_mode, connection_of, writing
from app.storage.tables import accounts


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
        """Check thresholds, then write what changed so far; later reads in the
        transaction see it."""
        watched = await watch(self.books)
        done = await self.books.flush()
        await watched.write(self.books)
        self.committed.threshold_sequences |= watched.sequences
        self.committed.entries += done.entries
        self.committed.grant_ids |= done.grant_ids
        self.committed.currencies |= done.currencies
        self.committed.changes += done.changes

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

    async def balance(self, currency: str, pending: int | None = None) -> Balance:
        """The balance now, after this transaction's changes: the ledger's figures are its
        account's (every entry is booked by now), `pending` is read unless given."""
        await self.flush()
        customer_id = self.books.customer_id
        account = await self.books.account(currency)
        if pending is None:
            pending = await read_pending(self.connection, customer_id, currency, self.now)
        return account.balance(self.now, pending)


@asynccontextmanager
async def customer_transaction(
    runtime: Runtime,
    customer: str | Owned,
    actor: Actor,
    transaction_id: str,
    currency: str | None = None,
) -> AsyncIterator[Frame]:
    """Lock the customer, book what is due, run the use case, flush; publish after commit.

    One pooled connection: for an `Owned` object, its customer is read on the connection
    of the write (in a short read first: the process's lock on the customer must be taken
    before the write transaction begins, or two writers could wait on each other). The
    instant of the write is taken once, after the lock, and used for the entries, the
    result balance and the published change. `currency`: the ledger the use case will
    book in, read with the lock (one statement fewer).
    """
    if isinstance(customer, str):
        async with (
            runtime.customer_locks.hold(customer),
            connection_of(runtime.engine) as connection,
            _write(runtime, connection, customer, actor, transaction_id, currency) as frame,
        ):
            yield frame
        return
    async with connection_of(runtime.engine) as connection:
        await begin_mode(connection, "DEFERRED")
        async with connection.begin():
            customer_id = await customer.owner(connection)
        async with (
            runtime.customer_locks.hold(customer_id),
            _write(runtime, connection, customer_id, actor, transaction_id, currency) as frame,
        ):
            yield frame


@asynccontextmanager
async def _write(
    runtime: Runtime,
    connection: AsyncConnection,
    customer_id: str,
    actor: Actor,
    transaction_id: str,
    currency: str | None,
) -> AsyncIterator[Frame]:
    """The write transaction on `connection`, the process's lock on the customer held."""
    async with writing(connection):
        books = await Books.open(connection, customer_id, runtime.clock, currency)
        now = books.now
        booking = Booking(transaction_id, actor, now, now)
        frame = Frame(connection, books, booking, now, Committed(customer_id))
        await frame.flush()  # queries of the use case must see what catch-up booked
        yield frame
        await frame.flush()
        await frame.mark_sequences()
        await runtime.outbox.stage(connection, frame.committed)
        if frame.committed.entries or frame.committed.grant_ids:
            await runtime.publisher.stage(connection, frame.committed)
    runtime.outbox.committed()
    if frame.committed.entries or frame.committed.grant_ids:
        await runtime.publisher.publish(frame.committed)


async def known_currency(
    runtime: Runtime, issues: Issues, path: Path, code: str
) -> Currency | None:
    currency = await runtime.catalog.get(code)
    if currency is None:
        issues.add(path, f"{code!r} is not a known currency")
    return currency
