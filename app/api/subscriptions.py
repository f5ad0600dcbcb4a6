"""The Subscription root (DESIGN §9): balances, ledger entries and grants, live.

Every subscription subscribes to the broker before it reads, so no change falls between
its snapshot and its first event. Ledger entries are delivered in sequence order per
currency: an event's own entries when they follow on, else the gap is filled from the
database by sequence. Each event is read with fresh loaders (a WebSocket lives long;
nothing cached may outlive the instant an answer describes).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from types import SimpleNamespace
from typing import Any

import strawberry
from graphql import GraphQLError
from sqlalchemy import select
from strawberry.types import Info

from app.api.balances import CreditBalance
from app.api.context import Context
from app.api.errors import bad_input
from app.api.grants import CreditGrant
from app.api.ledger import CreditLedgerEntry, CreditLedgerEntryType
from app.api.loaders import Loaders
from app.domain.ids import kind_of
from app.domain.ledger import Entry
from app.live.broker import Broker, Overflowed
from app.live.broker import Subscription as Feed
from app.services.books import Committed
from app.storage.engine import read_connection
from app.storage.mapping import entry_values
from app.storage.tables import accounts, customers, entries

REFILL_PAGE = 500


def not_found(customer_id: str) -> GraphQLError:
    return GraphQLError(f"Customer {customer_id} not found", extensions={"code": "NOT_FOUND"})


def fell_behind(resume: dict[str, int]) -> GraphQLError:
    where = ", ".join(f"{currency} afterSequence {n}" for currency, n in sorted(resume.items()))
    message = "The subscriber fell too far behind and was ended"
    if where:
        message += f"; resume with creditLedgerEntryBooked and {where}"
    return GraphQLError(
        message, extensions={"code": "SUBSCRIBER_TOO_SLOW", "afterSequence": resume}
    )


def broker_of(info: Info[Context, None]) -> Broker:
    broker = info.context.runtime.publisher
    assert isinstance(broker, Broker), "subscriptions need a broker"
    return broker


async def open_subscription(info: Info[Context, None], customer_id: str) -> Feed:
    """Subscribe first, then check the customer: a change cannot fall in between."""
    if kind_of(customer_id) is None:
        raise bad_input(f"{customer_id!r} is not a valid ID")
    viewer = info.context.viewer
    if viewer is not None and viewer.customer_id not in (None, customer_id):
        raise not_found(customer_id)  # a portal token sees no other customer
    context = info.context
    if context.subscriptions >= context.settings.max_subscriptions_per_socket:
        limit = context.settings.max_subscriptions_per_socket
        raise GraphQLError(
            f"More than {limit} subscriptions on one WebSocket (the subscription limit)",
            extensions={"code": "LIMIT_EXCEEDED"},
        )
    subscription = broker_of(info).subscribe(customer_id)
    context.subscriptions += 1
    subscription.on_release.append(
        lambda: setattr(context, "subscriptions", context.subscriptions - 1)
    )
    async with read_connection(info.context.runtime.engine) as connection:
        found = await connection.execute(
            select(customers.c.id).where(customers.c.id == customer_id)
        )
        if found.first() is None:
            await subscription.__aexit__(None, None, None)
            raise not_found(customer_id)
    return subscription


def fresh_loaders(info: Info[Context, None]) -> Loaders:
    return info.context.fresh_loaders()


async def shared(committed: Committed, key: Hashable, make: Callable[[], Awaitable[Any]]) -> Any:
    """One computation per change and key, however many subscribers ask for it."""
    if key not in committed.shared:
        committed.shared[key] = make()
        committed.shared[key] = await committed.shared[key]
    value = committed.shared[key]
    return await value if isinstance(value, Awaitable) else value


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Emits the current balance at once, then the new balance after every "
        "committed transaction that changed any of its figures; sequence never decreases."
    )
    async def credit_balance_changed(
        self, info: Info[Context, None], customer_id: strawberry.ID, currency: str
    ) -> AsyncGenerator[CreditBalance, None]:
        if await info.context.runtime.catalog.get(currency) is None:
            raise bad_input(f"{currency!r} is not a known currency")
        async with await open_subscription(info, customer_id) as subscription:
            balance = await fresh_loaders(info).balance(customer_id, currency, None, None)
            yield balance
            last = figures(balance)
            while True:
                committed = await next_change(subscription, {})
                if currency not in committed.currencies:
                    continue
                balance = await shared(
                    committed,
                    ("balance", currency),
                    lambda: fresh_loaders(info).balance(customer_id, currency, None, None),
                )
                if figures(balance) != last:
                    last = figures(balance)
                    yield balance

    @strawberry.subscription(
        description="Every ledger entry of the customer as it is committed, in sequence order "
        "per currency, none skipped. With a currency and afterSequence, first replays the "
        "entries after that sequence, so a client can resume where it left off."
    )
    async def credit_ledger_entry_booked(
        self,
        info: Info[Context, None],
        customer_id: strawberry.ID,
        currency: str | None = None,
        types: list[CreditLedgerEntryType] | None = None,
        after_sequence: int | None = None,
    ) -> AsyncGenerator[CreditLedgerEntry, None]:
        await check_ledger_arguments(info, currency, after_sequence)
        wanted = None if types is None else {t.value for t in types}
        async with await open_subscription(info, customer_id) as subscription:
            seen = await sequences(info, customer_id)
            if currency is not None and after_sequence is not None:
                seen[currency] = after_sequence
                async for entry in refill(info, customer_id, currency, seen):
                    if wanted is None or entry.type.value in wanted:
                        yield entry
            while True:
                committed = await next_change(subscription, seen)
                for code in sorted({e.currency for e in committed.entries}):
                    if currency is not None and code != currency:
                        continue
                    async for entry in follow(info, committed, code, seen):
                        if wanted is None or entry.type.value in wanted:
                            yield entry

    @strawberry.subscription(
        description="A grant of the customer after any change to its status, settlement or amounts."
    )
    async def credit_grant_changed(
        self, info: Info[Context, None], customer_id: strawberry.ID
    ) -> AsyncGenerator[CreditGrant, None]:
        async with await open_subscription(info, customer_id) as subscription:
            while True:
                committed = await next_change(subscription, {})
                for grant_id in sorted(committed.grant_ids):
                    yield await shared(committed, ("grant", grant_id), load_grant(info, grant_id))


async def next_change(subscription: Feed, seen: dict[str, int]) -> Committed:
    try:
        return await subscription.next()
    except Overflowed as error:
        raise fell_behind(dict(seen)) from error


def figures(balance: CreditBalance) -> tuple[Any, ...]:
    return (
        balance.available,
        balance.pending,
        balance.funded,
        balance.consumed,
        balance.expired,
        balance.voided,
        balance.available_promotional,
        balance.sequence,
    )


async def check_ledger_arguments(
    info: Info[Context, None], currency: str | None, after_sequence: int | None
) -> None:
    if after_sequence is not None:
        if after_sequence < 0:
            raise bad_input("afterSequence must not be negative")
        if currency is None:
            raise bad_input("afterSequence needs a currency: sequences are per currency")
    if currency is not None and await info.context.runtime.catalog.get(currency) is None:
        raise bad_input(f"{currency!r} is not a known currency")


async def sequences(info: Info[Context, None], customer_id: str) -> dict[str, int]:
    """The last sequence of each of the customer's ledgers, read after subscribing."""
    statement = select(accounts.c.currency, accounts.c.sequence).where(
        accounts.c.customer_id == customer_id
    )
    async with read_connection(info.context.runtime.engine) as connection:
        return {row.currency: row.sequence for row in await connection.execute(statement)}


async def follow(
    info: Info[Context, None], committed: Committed, currency: str, seen: dict[str, int]
) -> AsyncGenerator[CreditLedgerEntry, None]:
    """The entries after the last one sent: from the change itself when they follow on."""
    last = seen.get(currency, 0)
    fresh = sorted(
        (e for e in committed.entries if e.currency == currency and e.sequence > last),
        key=lambda e: e.sequence,
    )
    if fresh and fresh[0].sequence == last + 1:
        scales = await info.context.loaders.scales([currency])
        for entry in fresh:
            seen[currency] = entry.sequence
            yield CreditLedgerEntry.from_row(row_of(entry), scales)
        return
    async for filled in refill(info, committed.customer_id, currency, seen):
        yield filled


async def refill(
    info: Info[Context, None], customer_id: str, currency: str, seen: dict[str, int]
) -> AsyncGenerator[CreditLedgerEntry, None]:
    """Every entry after the last one sent, from the database in sequence order."""
    loaders = fresh_loaders(info)
    while True:
        statement = (
            select(entries)
            .where(
                entries.c.customer_id == customer_id,
                entries.c.currency == currency,
                entries.c.sequence > seen.get(currency, 0),
            )
            .order_by(entries.c.sequence)
            .limit(REFILL_PAGE)
        )
        async with read_connection(info.context.runtime.engine) as connection:
            rows = list(await connection.execute(statement))
        for entry in await loaders.entry_objects(rows):
            seen[currency] = entry.sequence
            yield entry
        if len(rows) < REFILL_PAGE:
            return


def load_grant(info: Info[Context, None], grant_id: str) -> Callable[[], Awaitable[CreditGrant]]:
    return lambda: fresh_loaders(info).grant(grant_id)


def row_of(entry: Entry) -> SimpleNamespace:
    return SimpleNamespace(**entry_values(entry))
