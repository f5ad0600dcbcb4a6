"""`credits verify`: every cached figure against the ledger, in one snapshot, while writers run."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import delete, insert, update

from app.domain.grants import FundingMethod, Grant
from app.domain.ledger import Account
from app.services import verify as verifying
from app.services.customers import create_customer
from app.services.runtime import Runtime
from app.services.verify import verify
from app.storage.engine import write_transaction
from app.storage.mapping import account_values, grant_creation
from app.storage.tables import accounts, consumptions, entries, grants
from tests.chain import chain_rows
from tests.services.support import consume, ledger, promo


async def customers_with_history(runtime: Runtime, count: int) -> list[str]:
    made = []
    for n in range(count):
        customer_id, _ = await create_customer(runtime, key=f"c{n}", name=f"Customer {n}")
        await promo(runtime, customer_id, "1000")
        await promo(runtime, customer_id, "5", currency="EUR")
        for draw in range(3):
            await consume(runtime, customer_id, "1", key=f"seed-{draw}")
        made.append(customer_id)
    return made


async def change(runtime: Runtime, statement: Any) -> None:
    async with write_transaction(runtime.engine) as connection:
        await connection.execute(statement)


async def test_a_consistent_database_has_nothing_to_report(both: Runtime) -> None:
    await customers_with_history(both, 2)
    assert await verify(both.engine) == []


async def test_cached_figures_that_differ_from_the_ledger_are_each_reported(
    both: Runtime,
) -> None:
    runtime = both
    [customer_id] = await customers_with_history(runtime, 1)
    drawn = await consume(runtime, customer_id, "2", key="drawn")
    [grant_id] = {row.grant_id for row in await ledger(runtime.engine, customer_id, "EUR")}
    usd = (accounts.c.customer_id == customer_id) & (accounts.c.currency == "USD")
    await change(runtime, update(accounts).where(usd).values(available=1))
    await change(runtime, update(grants).where(grants.c.id == grant_id).values(remaining=7))
    await change(
        runtime, update(consumptions).where(consumptions.c.id == drawn.consumption_id).values(
            reversed=5)
    )  # fmt: skip

    assert await verify(runtime.engine) == [
        f"account {customer_id}/USD: available is 1 in the cache, 99500 by the ledger",
        f"grant {grant_id}: remaining is 7 in the cache, 500 by the ledger",
        f"consumption {drawn.consumption_id}: reversed is 5 in the cache, 0 by the ledger",
    ]


async def test_a_broken_chain_and_entries_without_an_account_are_reported(
    both: Runtime,
) -> None:
    runtime = both
    [customer_id] = await customers_with_history(runtime, 1)
    last = (await ledger(runtime.engine, customer_id))[-1]
    await change(runtime, update(entries).where(entries.c.id == last.id).values(sequence=9))
    eur = (accounts.c.customer_id == customer_id) & (accounts.c.currency == "EUR")
    await change(runtime, delete(accounts).where(eur))

    assert await verify(runtime.engine) == [
        f"entry {last.id} ({customer_id}/USD #9): hash does not match its fields and the "
        "previous hash",
        f"entry {last.id} ({customer_id}/USD #9): sequence follows 3",
        f"account {customer_id}/USD: sequence is 4 in the cache, 9 by the ledger",
        f"account {customer_id}/EUR: entries without an account row",
    ]


class Writes:
    """What the test's writers have committed, and a way to wait for their next commit."""

    def __init__(self) -> None:
        self.count = 0
        self.committed = asyncio.Condition()

    async def one_more(self) -> None:
        async with self.committed:
            self.count += 1
            self.committed.notify_all()

    async def next_commit(self) -> None:
        async with self.committed:
            seen = self.count
            await self.committed.wait_for(lambda: self.count > seen)


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> tuple[Writes, list[int]]:
    """Before each phase of verify, writers commit at least once: with its snapshot open
    (the first phase opens it), whatever the machine's speed. Returns the writes and
    where their count stood as each phase began."""
    committed, seen = Writes(), list[int]()
    for name in ("_walk_ledgers", "_check_accounts", "_check_grants", "_check_consumptions"):
        phase = getattr(verifying, name)
        monkeypatch.setattr(verifying, name, _after_a_commit(phase, committed, seen))
    return committed, seen


def _after_a_commit(
    phase: Callable[..., Awaitable[None]], committed: Writes, seen: list[int]
) -> Callable[..., Awaitable[None]]:
    async def paused(*args: Any) -> None:
        await committed.next_commit()
        seen.append(committed.count)
        await phase(*args)

    return paused


async def test_verify_is_clean_while_consumptions_are_committed_during_its_snapshot(
    both: Runtime, writes: tuple[Writes, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = both
    committed, seen = writes
    customer_ids = await customers_with_history(runtime, 4)
    stop = asyncio.Event()

    async def keep_consuming(customer_id: str) -> None:
        n = 0
        while not stop.is_set():
            await consume(runtime, customer_id, "0.01", key=f"live-{n}")
            await promo(runtime, customer_id, "0.01", currency="EUR")
            n += 1
            await committed.one_more()

    writers = [asyncio.create_task(keep_consuming(c)) for c in customer_ids]
    try:
        async with asyncio.timeout(300):  # a writer that failed would leave verify waiting
            reports = [await verify(runtime.engine) for _ in range(5)]
    finally:
        stop.set()
        await asyncio.gather(*writers)

    assert reports == [[]] * 5
    assert len(seen) == 20
    during = [seen[i + 3] - seen[i] for i in range(0, 20, 4)]
    assert all(count >= 3 for count in during), during  # writes committed in every snapshot
    monkeypatch.undo()  # verify's phases wait for writers no more
    assert await verify(runtime.engine) == []


async def long_ledger(runtime: Runtime, key: str, draws: int) -> None:
    """A customer whose one grant of `draws` units was drawn one unit at a time: a
    consistent ledger of draws + 1 entries, written in bulk."""
    at = runtime.clock.now()
    customer_id, _ = await create_customer(runtime, key=key, name=key)
    grant_id = f"grt_{key}"
    grant = grant_creation(
        Grant(grant_id, customer_id, "USD", draws, FundingMethod.NONE, 10, (), at, None, at)
    )
    grant |= {"name": key, "fingerprint": "-", "labels": [], "funded_at": at, "consumed": draws}
    rows = [
        entry_row(key, customer_id, grant_id, n, -1 if n > 1 else draws, draws, at)
        for n in range(1, draws + 2)
    ]
    head = chain_rows(rows)
    account = account_values(
        Account(customer_id, "USD", draws + 1, funded=draws, consumed=draws, last_booked_at=at)
    ) | {"last_hash": head}
    async with write_transaction(runtime.engine) as connection:
        await connection.execute(insert(grants).values(grant))
        await connection.execute(insert(accounts).values(account))
        for start in range(0, len(rows), 5000):
            await connection.execute(insert(entries), rows[start : start + 5000])


def entry_row(
    key: str, customer_id: str, grant_id: str, n: int, amount: int, total: int, at: datetime
) -> dict[str, Any]:
    before = 0 if n == 1 else total - (n - 2)
    return {
        "id": f"ent_{key}_{n}",
        "customer_id": customer_id,
        "currency": "USD",
        "sequence": n,
        "grant_id": grant_id,
        "type": "FUNDED" if n == 1 else "CONSUMED",
        "amount": amount,
        "balance_before": before,
        "balance_after": before + amount,
        "funded_after": total,
        "consumed_after": n - 1,
        "expired_after": 0,
        "voided_after": 0,
        "promotional_after": before + amount,
        "booked_at": at,
        "created_at": at,
        "transaction_id": f"txn_{key}_{n}",
        "actor_type": "SYSTEM",
        "actor_name": "system",
        "funding_method": "NONE",
        "labels": [],
    }


async def peak_memory_of_verify(runtime: Runtime) -> int:
    tracemalloc.start()
    try:
        assert await verify(runtime.engine) == []
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_verify_streams_the_ledger_in_memory_that_does_not_grow_with_it(
    both: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = both
    monkeypatch.setattr(verifying, "BATCH", 100)
    await long_ledger(runtime, "small", 500)
    await verify(runtime.engine)  # compiled statements and pools exist before measuring
    small = await peak_memory_of_verify(runtime)
    await long_ledger(runtime, "large", 5_000)

    large = await peak_memory_of_verify(runtime)

    assert large < 2 * small, (small, large)  # eleven times the entries
