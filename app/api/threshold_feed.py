"""The `creditThresholdEvent` stream: a customer's threshold events in sequence order per
currency, none skipped, resumable with `afterSequence` (docs/thresholds.md).

Like the ledger feed it subscribes before it reads where each currency stands, so no
event falls in between. A change names the last event sequence of each ledger where it
recorded some (`Committed.threshold_sequences`, also across processes); the events after
the last one sent are read from the database by sequence, shared by every subscriber at
the same point. After a Resync that names nothing, every ledger is compared again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

from graphql import GraphQLError
from strawberry.types import Info

from app.api.context import Context
from app.api.subscriptions import open_feed, scales_of, shared
from app.api.thresholds import CreditThresholdEvent
from app.domain.events import Committed
from app.live.broker import Overflowed, Resync
from app.storage.engine import read_connection
from app.storage.queries import thresholds

PAGE = 500


async def threshold_events(
    info: Info[Context, None], customer_id: str, currency: str | None, after_sequence: int | None
) -> AsyncIterator[CreditThresholdEvent]:
    async with await open_feed(info, customer_id) as feed:
        seen = await _last_sequences(info, customer_id)
        if currency is not None and after_sequence is not None:
            seen[currency] = after_sequence
            async for event in _after(info, customer_id, currency, seen):
                yield event
        while True:
            try:
                committed = await feed.next()
            except Overflowed as error:
                raise _fell_behind(seen) from error
            for code, last in sorted((await _moved(info, committed)).items()):
                if (currency is None or code == currency) and last > seen.get(code, 0):
                    async for event in _after(info, customer_id, code, seen, committed):
                        yield event


async def _moved(info: Info[Context, None], committed: Committed) -> dict[str, int]:
    """The last event sequence of each ledger the change may have extended."""
    if isinstance(committed, Resync) and not committed.sequences:
        return await _last_sequences(info, committed.customer_id)
    return committed.threshold_sequences


async def _after(
    info: Info[Context, None],
    customer_id: str,
    currency: str,
    seen: dict[str, int],
    committed: Committed | None = None,
) -> AsyncIterator[CreditThresholdEvent]:
    """Every event after the last one sent, a page at a time, in sequence order."""
    while True:
        last = seen.get(currency, 0)
        read = partial(_page, info, customer_id, currency, last)
        found = await (
            read() if committed is None else shared(committed, ("thr", currency, last), read)
        )
        for event in found:
            seen[currency] = event.sequence
            yield event
        if len(found) < PAGE:
            return


async def _page(
    info: Info[Context, None], customer_id: str, currency: str, after: int
) -> list[CreditThresholdEvent]:
    async with read_connection(info.context.runtime.engine) as connection:
        rows = await thresholds.events_after(connection, customer_id, currency, after, PAGE)
    scales = await scales_of(info, currency)
    return [CreditThresholdEvent.from_row(row, scales) for row in rows]


async def _last_sequences(info: Info[Context, None], customer_id: str) -> dict[str, int]:
    async with read_connection(info.context.runtime.engine) as connection:
        return await thresholds.last_sequences(connection, customer_id)


def _fell_behind(seen: dict[str, int]) -> GraphQLError:
    where = ", ".join(f"{code} afterSequence {n}" for code, n in sorted(seen.items()))
    message = "The subscriber fell too far behind and was ended; resume with "
    message += f"creditThresholdEvent and {where or 'afterSequence 0'}"
    return GraphQLError(
        message, extensions={"code": "SUBSCRIBER_TOO_SLOW", "afterSequence": dict(seen)}
    )
