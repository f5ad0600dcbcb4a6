"""The books of one customer inside one write transaction.

Opens with the customer locked and the instant of the write (`Books.open`), loads grants
and accounts once (an identity map for the transaction), appends entries, books the
time-driven events that are due (funding, expiry, and schedules' occurrences), and writes
every change back in `flush`.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from app.domain.errors import NotFound
from app.domain.events import Change, Committed
from app.domain.grants import FundingMethod, Grant
from app.domain.ids import new_id
from app.domain.ledger import SYSTEM, Account, Booking, Entry, EntryType, Figures, scopes_of
from app.domain.schedules import Schedule
from app.domain.thresholds import Threshold
from app.domain.time import Clock
from app.domain.webhooks import EventType
from app.storage import writes
from app.storage.engine import lock_customer
from app.storage.mapping import (
    account_from_row,
    account_values,
    entry_values,
    figures_of,
    figures_values,
    grant_creation,
    grant_from_row,
    grant_state,
)
from app.storage.schedules import (
    occurrence_grant,
    schedule_from_row,
    schedule_state,
    update_schedule,
)
from app.storage.tables import grant_features, grants, schedules, scope_figures
from app.storage.thresholds import watched_from_column
from app.storage.writes import customer_state

Scope = tuple[str, str]  # (currency, scope)
GRANT_EVENT, OCCURRENCE = 0, 1  # at one instant, grants' events before schedules' occurrences


class Books:
    def __init__(self, connection: AsyncConnection, customer_id: str, now: datetime) -> None:
        self.connection = connection
        self.customer_id = customer_id
        self.now = now
        self.grants: dict[str, Grant] = {}
        self.accounts: dict[str, Account] = {}
        self.new_accounts: set[str] = set()
        self.new_grants: list[tuple[Grant, dict[str, object]]] = []
        self.changed: set[str] = set()
        self.changed_accounts: set[str] = set()  # accounts written even without entries
        self.entries: list[Entry] = []
        self.scopes: dict[Scope, Figures] = {}
        self.scope_rows: list[dict[str, object]] = []
        self.schedules: dict[str, tuple[Schedule, Row[Any]]] = {}
        self.watched: dict[str, list[Threshold]] = {}  # per currency, read with its account
        self.changes: list[Change] = []

    @classmethod
    async def open(
        cls, connection: AsyncConnection, customer_id: str, clock: Clock, currency: str | None
    ) -> Books:
        """The customer's books in a write transaction just begun: the customer locked
        (NotFound if there is none), the instant of the write taken after the lock, the
        ledger in `currency` read, and what is due booked.

        The instant is the clock's, or the customer's last bookedAt if the clock stepped
        back behind it: the ledger is never backdated, so a write never describes an
        instant before its entries. On SQLite BEGIN IMMEDIATE took the lock; on
        PostgreSQL the row lock comes first and the reads after it, in a statement of
        their own (under READ COMMITTED a statement sees what committed before it began,
        and the lock may have waited for another process's write).
        """
        if connection.dialect.name != "sqlite" and not await lock_customer(connection, customer_id):
            raise NotFound("Customer", customer_id)
        now = clock.now()
        row = await customer_state(connection, customer_id, currency)
        if row is None:
            raise NotFound("Customer", customer_id)
        last: datetime | None = row.last_booked
        books = cls(connection, customer_id, now if last is None or last <= now else last)
        if currency is not None:
            books._keep_account(currency, row if row.currency is not None else None)
        if row.next_event is not None and row.next_event <= books.now:
            await books.catch_up()
        return books

    # ---- loading

    async def load_grants(self, *conditions: ColumnElement[bool]) -> list[Grant]:
        statement = select(grants).where(grants.c.customer_id == self.customer_id, *conditions)
        return self.keep_grants(await self.connection.execute(statement))

    def keep_grants(self, rows: Iterable[Row[Any]]) -> list[Grant]:
        """The grants of these rows, those already loaded as they are in this transaction."""
        known = self.grants
        return [known.get(row.id) or known.setdefault(row.id, grant_from_row(row)) for row in rows]

    async def grant(self, grant_id: str) -> Grant | None:
        if grant_id not in self.grants:
            await self.load_grants(grants.c.id == grant_id)
        return self.grants.get(grant_id)

    async def load_schedules(self, *conditions: ColumnElement[bool]) -> list[Schedule]:
        """The customer's schedules of these conditions, those already loaded as they are."""
        statement = select(schedules).where(
            schedules.c.customer_id == self.customer_id, *conditions
        )
        kept = self.schedules
        rows = await self.connection.execute(statement)
        return [kept.setdefault(row.id, (schedule_from_row(row), row))[0] for row in rows]

    async def schedule(self, schedule_id: str) -> Schedule | None:
        if schedule_id not in self.schedules:
            await self.load_schedules(schedules.c.id == schedule_id)
        kept = self.schedules.get(schedule_id)
        return None if kept is None else kept[0]

    async def account(self, currency: str) -> Account:
        if currency not in self.accounts:
            row = await writes.account_state(self.connection, self.customer_id, currency)
            self._keep_account(currency, row)
        return self.accounts[currency]

    def _keep_account(self, currency: str, row: Row[Any] | None) -> None:
        """The ledger's account from its row; a new one (inserted once booked in) if none.
        Its thresholds and their scopes' figures came with it."""
        if row is None:
            self.new_accounts.add(currency)
            self.accounts[currency] = Account(self.customer_id, currency)
            return
        self.accounts[currency] = account_from_row(row)
        if row.thresholds:
            watched, scopes = watched_from_column(row.watched)
            self.watched[currency] = watched
            for scope, figures in scopes.items():
                self.scopes.setdefault((currency, scope), figures)

    async def scope(self, currency: str, scope: str) -> Figures:
        """The running figures of one scope of this customer's restricted grants."""
        if (currency, scope) not in self.scopes:
            statement = (
                select(scope_figures)
                .where(scope_figures.c.customer_id == self.customer_id)
                .where(scope_figures.c.currency == currency, scope_figures.c.scope == scope)
                .order_by(scope_figures.c.sequence.desc())
                .limit(1)
            )
            row = (await self.connection.execute(statement)).first()
            self.scopes[(currency, scope)] = Figures() if row is None else figures_of(row)
        return self.scopes[(currency, scope)]

    # ---- changing

    def add_grant(self, grant: Grant, details: dict[str, object]) -> None:
        """A new grant; `details` are its columns the domain object does not carry."""
        self.grants[grant.id] = grant
        self.new_grants.append((grant, details))
        self.note(Change(EventType.CREDIT_GRANT_CREATED, grant.id))

    def note(self, change: Change) -> None:
        """A change for webhooks, in the order of the transaction's changes."""
        self.changes.append(change)

    async def book(
        self,
        grant: Grant,
        type: EntryType,
        amount: int,
        booking: Booking,
        **details: object,
    ) -> Entry:
        account = await self.account(grant.currency)
        entry = account.append(
            entry_id=new_id("entry"),
            grant=grant,
            type=type,
            amount=amount,
            booking=booking,
            **details,  # type: ignore[arg-type]
        )
        self.entries.append(entry)
        self.changed.add(grant.id)
        if type is EntryType.FUNDED:
            self.note(Change(EventType.CREDIT_GRANT_FUNDED, grant.id))
        await self.move_scopes(grant, entry)
        return entry

    async def move_scopes(self, grant: Grant, entry: Entry) -> None:
        promotional = grant.funding_method is FundingMethod.NONE
        for scope in scopes_of(grant):
            figures = await self.scope(grant.currency, scope)
            after = figures.after(entry.type, entry.amount, promotional)
            self.scopes[(grant.currency, scope)] = after
            self.scope_rows.append(
                {"customer_id": self.customer_id, "currency": grant.currency, "scope": scope}
                | {"sequence": entry.sequence, **figures_values(after)}
            )

    def touch(self, grant: Grant) -> None:
        self.changed.add(grant.id)

    def touch_account(self, currency: str) -> None:
        self.changed_accounts.add(currency)

    async def catch_up(self) -> None:
        """Book every time-driven event of this customer that is due, in time order:
        grants' funding and expiry, and schedules' occurrences (whose grants' own events
        may be due too)."""
        queue: list[tuple[datetime, int, str]] = []
        for grant in await self.load_grants(grants.c.next_event_at <= self.now):
            self._queue(queue, grant.next_event_at(), GRANT_EVENT, grant.id)
        for schedule in await self.load_schedules(schedules.c.next_event_at <= self.now):
            self._queue(queue, schedule.next_at, OCCURRENCE, schedule.id)
        while queue:
            at, kind, id = heapq.heappop(queue)
            if kind == OCCURRENCE:
                await self._occur(queue, self.schedules[id][0], at)
            elif (grant := self.grants[id]).next_event_at() == at:
                await self.book_event(grant, at)
                self._queue(queue, grant.next_event_at(), GRANT_EVENT, id)

    async def _occur(
        self, queue: list[tuple[datetime, int, str]], schedule: Schedule, at: datetime
    ) -> None:
        if schedule.next_at != at:
            return
        booked = await self.book_occurrence(schedule)
        self._queue(queue, schedule.next_at, OCCURRENCE, schedule.id)
        if booked is not None:
            self._queue(queue, booked.next_event_at(), GRANT_EVENT, booked.id)

    def _queue(
        self, queue: list[tuple[datetime, int, str]], at: datetime | None, kind: int, id: str
    ) -> None:
        if at is not None and at <= self.now:
            heapq.heappush(queue, (at, kind, id))

    async def book_occurrence(self, schedule: Schedule) -> Grant | None:
        """Book a schedule's next occurrence: its grant, funded at once, in a transaction
        of its own (none when that grant would have expired already)."""
        occurrence = schedule.take()
        if occurrence is None:
            return None
        row = self.schedules[schedule.id][1]
        grant, details = occurrence_grant(schedule, occurrence, new_id("grant"), row)
        self.add_grant(grant, details)
        booking = Booking(new_id("transaction"), SYSTEM, occurrence.booked_at, self.now)
        await self.book(grant, EntryType.FUNDED, grant.fund(occurrence.booked_at), booking)
        return grant

    async def book_event(self, grant: Grant, at: datetime) -> None:
        booking = Booking(new_id("transaction"), SYSTEM, at, self.now)
        self.touch(grant)
        if grant.funded_at is None and grant.funding_instant() == at:
            await self.book(grant, EntryType.FUNDED, grant.fund(at), booking)
            return
        taken = grant.expire()  # a grant never funded just stops being pending
        self.note(Change(EventType.CREDIT_GRANT_EXPIRED, grant.id))
        if taken:
            await self.book(grant, EntryType.EXPIRED, taken, booking)

    async def fund_if_due(self, grant: Grant, booking: Booking) -> None:
        """Fund now, within the request's transaction, a grant whose funding instant has come."""
        instant = grant.funding_instant()
        if grant.funded_at is None and instant is not None and instant <= self.now:
            await self.book(grant, EntryType.FUNDED, grant.fund(self.now), booking)
        self.touch(grant)

    # ---- writing

    async def flush(self) -> Committed:
        connection = self.connection
        for grant, details in self.new_grants:
            await connection.execute(insert(grants).values(grant_creation(grant) | details))
            if grant.features:
                rows = [{"grant_id": grant.id, "feature": f} for f in grant.features]
                await connection.execute(insert(grant_features), rows)
        created = {grant.id for grant, _ in self.new_grants}
        for grant_id in sorted(self.changed - created):
            values = grant_state(self.grants[grant_id]) | {"updated_at": self.now}
            await writes.update_grant(connection, grant_id, values)
        for currency in sorted({entry.currency for entry in self.entries} | self.changed_accounts):
            new = currency in self.new_accounts
            await writes.write_account(connection, account_values(self.accounts[currency]), new=new)
            self.new_accounts.discard(currency)
        if self.entries:
            await writes.insert_entries(connection, [entry_values(e) for e in self.entries])
        if self.scope_rows:
            await writes.insert_scope_figures(connection, self.scope_rows)
        for schedule, _ in self.schedules.values():
            if schedule.changed:
                await update_schedule(connection, schedule.id, schedule_state(schedule))
                schedule.changed = False
        committed = Committed(
            self.customer_id,
            list(self.entries),
            self.changed | created,
            {self.grants[g].currency for g in self.changed | created},
            changes=list(self.changes),
        )
        self.changes.clear()
        self.new_grants.clear()
        self.changed.clear()
        self.changed_accounts.clear()
        self.entries.clear()
        self.scope_rows.clear()
        return committed
