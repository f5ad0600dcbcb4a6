"""The fast lane of creditLedgerEntryBooked: a change's entries written to a waiting
subscriber's socket as the change is delivered, without waking its task.

Waking a thousand subscription tasks, each going through its stream, its checks and the
ASGI send, costs more than the frames themselves. So a ledger subscription whose reader
waits, having done with every earlier change, hands the broker a lane: called with the
change, it does at once what the task would do, or nothing and says so. It takes the
change only in the plain case, where the task would neither wait nor read:

- the change carries its entries (it was committed by this process), and in each ledger
  the subscriber follows they come right after the last entry sent (or there are none
  after it);
- the socket's credentials hold, and the selection set's result is at hand (shared with
  the other subscribers of the operation, or executed here without a read);
- the socket takes frames at once (`app.api.socket_writes`).

Anything else (a change from another process, a gap to fill from the database, nested
fields that read, a slow socket, a Resync) goes to the task as before, and the lane
writes nothing. Order holds: the lane runs only while the reader waits with nothing
queued, and it sends in the order the task would have.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from strawberry.types import Info

from app.api.context import Context
from app.api.fanout import OUTLET, SHARING, SUBSCRIPTION, executed_now
from app.api.ledger import CreditLedgerEntry
from app.api.sessions import session_of, sessions_of
from app.domain.events import Committed
from app.live.broker import Resync

log = logging.getLogger("credits.live")
Lane = Callable[[Committed], bool]
Mapped = Callable[[Committed, str], list[CreditLedgerEntry] | None]


def ledger_lane(
    info: Info[Context, None],
    currency: str | None,
    wanted: set[str] | None,
    seen: dict[str, int],
    own_entries: Mapped,
) -> Lane | None:
    """The lane of one ledger subscription, in its operation's task (None if its results
    do not go straight to a socket)."""
    executor, outlet = SUBSCRIPTION.get(None), OUTLET.get(None)
    if executor is None or outlet is None:
        return None
    session = session_of(info.context)
    sessions = sessions_of(info.context)

    def take(committed: Committed) -> bool:
        if isinstance(committed, Resync) or (session is not None and not sessions.holds(session)):
            return False
        found = following(committed, currency, seen, own_entries)
        if found is None:
            return False
        entries, advanced = found
        sent = [entry for entry in entries if wanted is None or entry.type.value in wanted]
        results = [executed_now(executor, entry) for entry in sent]
        datas = [r.data for r in results if r is not None and not r.errors]
        if len(datas) < len(sent) or not outlet.ready():
            return False
        seen.update(advanced)  # taken: whatever happens to the socket now, it is sent
        try:
            for data in datas:
                outlet.send_now(data)
        except Exception:
            log.exception("writing a live event to its socket failed")
        SHARING.direct += len(datas)
        SHARING.fast += len(datas)
        return True

    return take


def following(
    committed: Committed, currency: str | None, seen: dict[str, int], own_entries: Mapped
) -> tuple[list[CreditLedgerEntry], dict[str, int]] | None:
    """The change's entries that come next, in the order the task sends them, and the
    last sequence of each ledger after them; None if the task would have to read."""
    entries: list[CreditLedgerEntry] = []
    advanced: dict[str, int] = {}
    for code in sorted(carried(committed)):
        if currency is not None and code != currency:
            continue
        own = own_entries(committed, code) if committed.entries else []
        found = (
            None if own is None else coming(own, seen.get(code, 0), committed.sequences.get(code))
        )
        if found is None:
            return None
        if found:
            entries += found
            advanced[code] = found[-1].sequence
    return entries, advanced


def carried(committed: Committed) -> set[str]:
    """The currencies whose ledgers a change names (by its entries or sequences)."""
    return {e.currency for e in committed.entries} | set(committed.sequences)


def coming(
    own: list[CreditLedgerEntry], last: int, sequence: int | None
) -> list[CreditLedgerEntry] | None:
    """What a ledger subscriber that sent up to `last` gets of a change carrying `own`
    (its entries in one ledger, by sequence) and naming `sequence` as that ledger's last:
    the entries when they follow on, none when nothing comes after `last`, None when the
    ledger must be read (a gap, or a change without entries or sequence)."""
    fresh = [entry for entry in own if entry.sequence > last]
    if fresh and fresh[0].sequence == last + 1:
        return fresh
    if not fresh and sequence is not None and sequence <= last:
        return []
    return None
