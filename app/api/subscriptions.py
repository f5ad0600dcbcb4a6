"""The Subscription root: balances, ledger entries and grants, live (docs/concepts.md,
live updates).

Every subscription subscribes to the broker before it reads, so no change falls between
its snapshot and its first event. Ledger entries are delivered in sequence order per
currency: an event's own entries when they follow on, else the gap is filled from the
database by sequence. A balance is read as of each change (its instant and last
sequence), so two changes queued together still give two events. Each event is read
with fresh loaders: a WebSocket lives long, and nothing cached may outlive the instant
an answer describes.

Subscribers share the work: subscriptions starting together share one read of which
customers exist, of the ledgers' sequences and of the current balances
(`app.api.live_reads`); every subscriber of one change gets the same objects (one read,
one mapping per change and key, `shared`), which `app.api.fanout` then executes and
encodes once per operation, variables and scope.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Hashable
from functools import partial
from types import SimpleNamespace
from typing import Annotated, Any, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from app.api.balances import CreditBalance
from app.api.context import Context
from app.api.errors import bad_input
from app.api.fanout import direct
from app.api.fast_lane import carried, coming, ledger_lane
from app.api.grants import CreditGrant
from app.api.ledger import CreditLedgerEntry, CreditLedgerEntryType
from app.api.live_reads import LiveReads
from app.api.sessions import check_viewer, sessions_of
from app.api.thresholds import CreditThresholdEvent
from app.domain.events import Committed
from app.domain.ids import kind_of
from app.domain.ledger import Entry
from app.live.broker import Broker, Overflowed, Resync
from app.live.broker import Subscription as Feed
from app.services.currencies import CurrencyCatalog
from app.storage.engine import read_connection
from app.storage.mapping import entry_values
from app.storage.queries import live

REFILL_PAGE = 500
T = TypeVar("T")
log = logging.getLogger("credits.live")


CustomerId = Annotated[strawberry.ID, strawberry.argument(description="The customer to watch.")]


@strawberry.type(description="Live updates of one customer's credits, over a WebSocket.")
class Subscription:
    @strawberry.subscription(
        description="Emits the current balance at once, then the new balance after every "
        "committed transaction that changed any of its figures; sequence never decreases."
    )
    async def credit_balance_changed(
        self,
        info: Info[Context, None],
        customer_id: CustomerId,
        currency: Annotated[
            str, strawberry.argument(description="The currency or custom unit code.")
        ],
    ) -> AsyncGenerator[CreditBalance, None]:
        async for balance in direct(masked(info, balances(info, customer_id, currency))):
            yield balance

    @strawberry.subscription(
        description="Every ledger entry of the customer as it is committed, in sequence order "
        "per currency, none skipped. With a currency and afterSequence, first replays the "
        "entries after that sequence, so a client can resume where it left off."
    )
    async def credit_ledger_entry_booked(
        self,
        info: Info[Context, None],
        customer_id: CustomerId,
        currency: Annotated[
            str | None,
            strawberry.argument(description="Only this currency (default: every one)."),
        ] = None,
        types: Annotated[
            list[CreditLedgerEntryType] | None,
            strawberry.argument(description="Only entries of these types."),
        ] = None,
        after_sequence: Annotated[
            int | None,
            strawberry.argument(
                description="With currency: first replay the entries after this sequence."
            ),
        ] = None,
    ) -> AsyncGenerator[CreditLedgerEntry, None]:
        await check_ledger_arguments(info, currency, after_sequence)
        wanted = None if types is None else {t.value for t in types}
        booked = ledger(info, customer_id, currency, after_sequence, wanted)
        keep = None if wanted is None else (lambda entry: entry.type.value in wanted)
        async for entry in direct(masked(info, booked), keep):
            yield entry

    @strawberry.subscription(
        description="A grant of the customer after any change to its status, settlement or amounts."
    )
    async def credit_grant_changed(
        self, info: Info[Context, None], customer_id: CustomerId
    ) -> AsyncGenerator[CreditGrant, None]:
        async for grant in direct(masked(info, changed_grants(info, customer_id))):
            yield grant

    @strawberry.subscription(
        description="Threshold events of the customer as they are committed, in sequence "
        "order per currency, none skipped. With a currency and afterSequence, first replays "
        "the events after that sequence."
    )
    async def credit_threshold_event(
        self,
        info: Info[Context, None],
        customer_id: CustomerId,
        currency: Annotated[
            str | None,
            strawberry.argument(description="Only this currency (default: every one)."),
        ] = None,
        after_sequence: Annotated[
            int | None,
            strawberry.argument(
                description="With currency: first replay the events after this sequence."
            ),
        ] = None,
    ) -> AsyncGenerator[CreditThresholdEvent, None]:
        from app.api.threshold_feed import threshold_events  # it builds on this module

        await check_ledger_arguments(info, currency, after_sequence)
        events = threshold_events(info, customer_id, currency, after_sequence)
        async for event in direct(masked(info, events)):
            yield event


# ---- the three streams


async def balances(
    info: Info[Context, None], customer_id: str, currency: str
) -> AsyncIterator[CreditBalance]:
    if await info.context.runtime.catalog.get(currency) is None:
        raise bad_input(f"{currency!r} is not a known currency")
    async with await open_feed(info, customer_id) as feed:
        balance = await live_reads(info.context).balances.get((customer_id, currency))
        yield balance
        last = figures(balance)  # its last element is the sequence
        while True:
            committed = await next_change(feed, None)
            if isinstance(committed, Resync) and not committed.sequences:
                read = current_balance(info, customer_id, currency)  # anything may have moved
            elif currency not in committed.currencies:
                continue
            elif committed.sequences.get(currency, last[-1]) < last[-1]:
                continue  # published out of order: a later change already showed it
            else:
                read = balance_after(info, committed, currency)
            balance = await shared(committed, ("balance", currency), read)
            if figures(balance) != last:
                last = figures(balance)
                yield balance


async def ledger(
    info: Info[Context, None],
    customer_id: str,
    currency: str | None,
    after_sequence: int | None,
    wanted: set[str] | None = None,
) -> AsyncIterator[CreditLedgerEntry]:
    """`wanted` (the types asked for) is applied by the caller; the fast lane needs it."""
    async with await open_feed(info, customer_id) as feed:
        seen = dict(await live_reads(info.context).sequences.get(customer_id))
        if currency is not None and after_sequence is not None:
            seen[currency] = after_sequence
            async for entry in refill(info, customer_id, currency, seen):
                yield entry
        catalog = info.context.runtime.catalog
        feed.fast = ledger_lane(info, currency, wanted, seen, partial(mapped_own, catalog))
        while True:
            committed = await next_change(feed, seen)
            for code in sorted(await ledgers_moved(info, committed)):
                if currency is None or code == currency:
                    async for entry in follow(info, committed, code, seen):
                        yield entry


async def changed_grants(info: Info[Context, None], customer_id: str) -> AsyncIterator[CreditGrant]:
    async with await open_feed(info, customer_id) as feed:
        while True:
            committed = await next_change(feed, None)
            changed = await shared(committed, "grant ids", partial(grants_changed, info, committed))
            for grant_id in changed:
                yield await shared(committed, ("grant", grant_id), load_grant(info, grant_id))


# ---- plumbing


async def masked(info: Info[Context, None], stream: AsyncIterator[T]) -> AsyncIterator[T]:
    """Expected errors pass; anything else ends the subscription as `Internal server error`
    with a request id, and the trace goes to the log. Each event goes out only while the
    socket's credentials hold (and gets fresh loaders for the fields nested in it where
    it is executed, `app.api.fanout`)."""
    try:
        async for item in stream:
            await check_viewer(info.context)
            yield item
    except GraphQLError:
        raise
    except Exception as error:
        request_id = info.context.request_id or "websocket"
        log.exception("subscription of request %s failed", request_id)
        raise GraphQLError(
            "Internal server error",
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        ) from error


def not_found(customer_id: str) -> GraphQLError:
    return GraphQLError(f"Customer {customer_id} not found", extensions={"code": "NOT_FOUND"})


def fell_behind(resume: dict[str, int] | None) -> GraphQLError:
    message = "The subscriber fell too far behind and was ended"
    if resume is None:
        message += "; subscribe again: the first event is the current state"
        resume = {}
    else:
        where = ", ".join(f"{code} afterSequence {n}" for code, n in sorted(resume.items()))
        message += f"; resume with creditLedgerEntryBooked and {where or 'afterSequence 0'}"
    return GraphQLError(
        message, extensions={"code": "SUBSCRIBER_TOO_SLOW", "afterSequence": resume}
    )


def broker_of(info: Info[Context, None]) -> Broker:
    broker = info.context.runtime.publisher
    assert isinstance(broker, Broker), "subscriptions need a broker"
    return broker


async def open_feed(info: Info[Context, None], customer_id: str) -> Feed:
    """Subscribe first, then check the customer: a change cannot fall in between."""
    if kind_of(customer_id) is None:
        raise bad_input(f"{customer_id!r} is not a valid ID")
    context = info.context
    await check_viewer(context)
    viewer = context.viewer
    if viewer is None or viewer.customer_id not in (None, customer_id):
        raise not_found(customer_id)  # a portal token sees no other customer
    check_limits(context)
    feed = broker_of(info).subscribe(customer_id)
    context.subscriptions += 1
    feed.on_release.append(lambda: setattr(context, "subscriptions", context.subscriptions - 1))
    sessions = sessions_of(context)
    sessions.subscriptions += 1
    feed.on_release.append(lambda: setattr(sessions, "subscriptions", sessions.subscriptions - 1))
    try:
        if not await live_reads(context).customers.get(customer_id):
            raise not_found(customer_id)
    except BaseException:
        await feed.__aexit__(None, None, None)  # cancelled or refused: release it now
        raise
    return feed


def check_limits(context: Context) -> None:
    """At most so many subscriptions on one WebSocket, and on this server process."""
    per_socket = context.settings.max_subscriptions_per_socket
    if context.subscriptions >= per_socket:
        raise limit_exceeded(f"More than {per_socket} subscriptions on one WebSocket")
    per_server = context.settings.max_subscriptions
    if sessions_of(context).subscriptions >= per_server:
        raise limit_exceeded(f"More than {per_server} subscriptions on this server")


def limit_exceeded(message: str) -> GraphQLError:
    return GraphQLError(
        f"{message} (the subscription limit)", extensions={"code": "LIMIT_EXCEEDED"}
    )


async def shared(committed: Committed, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
    """One computation per change and key, however many subscribers ask for it.

    Shielded: a subscriber leaving mid-read cancels only its own wait, never the read the
    others share."""
    if key not in committed.shared:
        committed.shared[key] = asyncio.ensure_future(make())
    value: T = await asyncio.shield(committed.shared[key])
    return value


def balance_after(
    info: Info[Context, None], committed: Committed, currency: str
) -> Callable[[], Awaitable[CreditBalance]]:
    def read() -> Awaitable[CreditBalance]:
        at = committed.at or info.context.runtime.clock.now()
        sequence = committed.sequences.get(currency)
        return info.context.fresh_loaders().balance_after(
            committed.customer_id, currency, at, sequence
        )

    return read


def current_balance(
    info: Info[Context, None], customer_id: str, currency: str
) -> Callable[[], Awaitable[CreditBalance]]:
    return lambda: info.context.fresh_loaders().balance(customer_id, currency, None, None)


def load_grant(info: Info[Context, None], grant_id: str) -> Callable[[], Awaitable[CreditGrant]]:
    return lambda: info.context.fresh_loaders().grant(grant_id)


async def next_change(feed: Feed, seen: dict[str, int] | None) -> Committed:
    """The next change; `seen` is what a ledger subscriber can resume after (None: others)."""
    try:
        return await feed.next()
    except Overflowed as error:
        raise fell_behind(None if seen is None else dict(seen)) from error


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


def live_reads(context: Context) -> LiveReads:
    sessions = sessions_of(context)
    if sessions.reads is None:
        turns = context.request.app.state.message_turns  # shared with starting messages
        sessions.reads = LiveReads(context.runtime, context.settings, turns)
    return sessions.reads


async def ledgers_moved(info: Info[Context, None], committed: Committed) -> set[str]:
    """The currencies whose ledgers the change may have extended. A change from another
    process carries no entries, only each ledger's last sequence; after a Resync without
    sequences, any of the customer's ledgers may have moved."""
    moved = carried(committed)
    if isinstance(committed, Resync) and not committed.sequences:
        moved |= set(await live_reads(info.context).sequences.get(committed.customer_id))
    return moved


async def grants_changed(info: Info[Context, None], committed: Committed) -> list[str]:
    """The grants a change names; after a Resync, those changed at or after its instant
    (sent again even if a change of theirs was already sent: at least once, never missed)."""
    if not isinstance(committed, Resync):
        return sorted(committed.grant_ids)
    async with read_connection(info.context.runtime.engine) as connection:
        return await live.grants_changed_since(connection, committed.customer_id, committed.at)


async def follow(
    info: Info[Context, None], committed: Committed, currency: str, seen: dict[str, int]
) -> AsyncIterator[CreditLedgerEntry]:
    """The entries after the last one sent: from the change itself when they follow on."""
    last = seen.get(currency, 0)
    own = await own_entries(info, committed, currency) if committed.entries else []
    found = coming(own, last, committed.sequences.get(currency))
    if found is not None:
        for entry in found:
            seen[currency] = entry.sequence
            yield entry
        return
    # Subscribers at the same point share one read and one mapping (a change from another
    # process, and every change on PostgreSQL, names sequences only): the same objects,
    # so `app.api.fanout` executes and encodes them once for all of them.
    read = partial(mapped_page, info, committed.customer_id, currency, last)
    entries = await shared(committed, ("entries", currency, last), read)
    for filled in entries:
        seen[currency] = filled.sequence
        yield filled
    if len(entries) == REFILL_PAGE:
        async for filled in refill(info, committed.customer_id, currency, seen):
            yield filled


async def refill(
    info: Info[Context, None], customer_id: str, currency: str, seen: dict[str, int]
) -> AsyncIterator[CreditLedgerEntry]:
    """Every entry after the last one sent, from the database in sequence order."""
    loaders = info.context.fresh_loaders()
    while True:
        rows = await entry_page(info, customer_id, currency, seen.get(currency, 0))
        for entry in await loaders.entry_objects(rows):
            seen[currency] = entry.sequence
            yield entry
        if len(rows) < REFILL_PAGE:
            return


async def own_entries(
    info: Info[Context, None], committed: Committed, currency: str
) -> list[CreditLedgerEntry]:
    """The entries a change carries in one currency, in sequence order, mapped once for
    all its subscribers: by the first to ask, at once (no read, so no task to share),
    so each subscriber goes from its change to its send in one turn of the event loop."""
    found = mapped_own(info.context.runtime.catalog, committed, currency)
    if found is None:  # a custom unit not read yet
        await scales_of(info, currency)
        found = mapped_own(info.context.runtime.catalog, committed, currency)
    assert found is not None
    return found


def mapped_own(
    catalog: CurrencyCatalog, committed: Committed, currency: str
) -> list[CreditLedgerEntry] | None:
    """The change's entries in one currency, mapped once for all its subscribers (None
    if the currency's scale is not known without a read)."""
    key = ("own entries", currency)
    found: list[CreditLedgerEntry] | None = committed.shared.get(key)
    if found is None:
        known = catalog.cached(currency)
        if known is None:
            return None
        scales = {currency: known.scale}
        mine = sorted(
            (e for e in committed.entries if e.currency == currency), key=lambda e: e.sequence
        )
        found = committed.shared.setdefault(
            key, [CreditLedgerEntry.from_row(row_of(e), scales) for e in mine]
        )
    return found


async def entry_page(
    info: Info[Context, None], customer_id: str, currency: str, after: int
) -> list[Any]:
    """A page of one ledger's entries after a sequence, in sequence order."""
    async with read_connection(info.context.runtime.engine) as connection:
        return await live.entries_after(connection, customer_id, currency, after, REFILL_PAGE)


async def mapped_page(
    info: Info[Context, None], customer_id: str, currency: str, after: int
) -> list[CreditLedgerEntry]:
    """A page of one ledger's entries after a sequence, as objects (no viewer's scope
    involved: the entries are of a customer every subscriber here may see)."""
    rows = await entry_page(info, customer_id, currency, after)
    scales = await scales_of(info, currency)
    return [CreditLedgerEntry.from_row(row, scales) for row in rows]


async def scales_of(info: Info[Context, None], currency: str) -> dict[str, int]:
    known = await info.context.runtime.catalog.get(currency)
    return {} if known is None else {currency: known.scale}


def row_of(entry: Entry) -> SimpleNamespace:
    return SimpleNamespace(**entry_values(entry))
