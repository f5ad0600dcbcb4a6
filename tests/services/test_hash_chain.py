"""The tamper-evident ledger (DESIGN §17): every write path chains each entry's hash on the
one before it in its ledger, the export carries it, `credits verify` recomputes every
chain and names the entry whose hash no longer matches, on SQLite and PostgreSQL.

The chain is recomputed here from the exported fields by tests/chain.py, written from
§17's words, not by the server's code."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from app.cli import main
from app.domain.ledger import OPEN
from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.services.currencies import CurrencyCatalog
from app.services.customers import create_customer
from app.services.export import ExportFormat, export_ledger
from app.services.reversal import reverse_credit_consumption
from app.services.runtime import Runtime
from app.services.settlement import void_credit_grant
from app.services.verify import verify
from app.storage import migrations
from app.storage.engine import create_engine, read_connection, write_transaction
from app.storage.export import ExportFilter
from app.storage.tables import accounts, entries
from tests.chain import ZEROS, recomputed
from tests.conftest import START
from tests.services.support import consume, promo, purchase

SCALES = {"USD": 2, "EUR": 2}


async def history(runtime: Runtime, key: str = "acme") -> str:
    """Every kind of entry: funding (now and time-driven), consumption with a feature and a
    multi-line non-ASCII description, reversal, void, expiry; two currencies."""
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    customer_id, _ = await create_customer(runtime, key=key, name="Acme")
    now = clock.now()
    await promo(runtime, customer_id, "20", expires_at=now + timedelta(hours=1))
    await promo(runtime, customer_id, "5", effective_at=now + timedelta(minutes=30))
    paid = await purchase(runtime, customer_id, "40")
    await promo(runtime, customer_id, "7", currency="EUR", features=("api",))
    drawn = await consume(
        runtime, customer_id, "12.5", key="a", feature_key="api", description="Café ☕\n«x»"
    )
    await consume(runtime, customer_id, "1", key="e", currency="EUR", feature_key="api")
    await reverse_credit_consumption(
        runtime, actor=OPEN, consumption_id=drawn.consumption_id, key="r", amount=Decimal("2")
    )
    clock.advance(timedelta(hours=2))  # funding at +30 min and expiry at +1 h are due
    await void_credit_grant(runtime, actor=OPEN, grant_id=paid.grant_id, reason="refunded")
    return customer_id


async def exported(runtime: Runtime) -> list[dict[str, Any]]:
    catalog = CurrencyCatalog(runtime.engine)
    text = [
        t
        async for t, _ in export_ledger(runtime.engine, catalog, ExportFilter(), ExportFormat.JSONL)
    ]
    return [json.loads(line) for line in "".join(text).splitlines()]


async def test_every_exported_hash_is_the_chain_recomputed_from_the_exported_fields(
    both: Runtime,
) -> None:
    await history(both, "acme")
    await history(both, "globex")

    records = await exported(both)

    kinds = {(r["type"], r["actorType"]) for r in records}
    assert kinds == {
        ("FUNDED", "OPEN"), ("FUNDED", "SYSTEM"), ("CONSUMED", "OPEN"), ("RESTORED", "OPEN"),
        ("EXPIRED", "SYSTEM"), ("VOIDED", "OPEN"),
    }  # fmt: skip
    assert len(records) == 2 * 9
    assert [r["hash"] for r in records] == recomputed(records, SCALES)
    assert len({r["hash"] for r in records}) == len(records)
    assert await verify(both.engine) == []


async def test_each_account_keeps_the_hash_its_next_entry_chains_on(both: Runtime) -> None:
    customer_id = await history(both)
    records = await exported(both)

    async with read_connection(both.engine) as connection:
        kept = dict(
            (await connection.execute(select(accounts.c.currency, accounts.c.last_hash))).all()
        )
    lasts = {r["currency"]: r["hash"] for r in records if r["customerId"] == customer_id}
    assert kept == lasts and ZEROS not in kept.values()


async def test_verify_names_the_one_entry_altered_in_the_database(both: Runtime) -> None:
    customer_id = await history(both)
    records = await exported(both)
    target = records[4]
    assert (target["type"], target["description"]) == ("CONSUMED", "Café ☕\n«x»")

    async with write_transaction(both.engine) as connection:
        altered = update(entries).where(entries.c.id == target["id"]).values(description="Café")
        await connection.execute(altered)

    where = f"entry {target['id']} ({customer_id}/USD #{target['sequence']})"
    assert await verify(both.engine) == [
        f"{where}: hash does not match its fields and the previous hash"
    ]


async def test_a_rewritten_hash_breaks_the_next_link(both: Runtime) -> None:
    customer_id = await history(both)
    records = [r for r in await exported(both) if r["currency"] == "USD"]
    target, following = records[2], records[3]
    async with write_transaction(both.engine) as connection:
        altered = (
            update(entries).where(entries.c.id == target["id"]).values(amount=-1, hash="f" * 64)
        )
        await connection.execute(altered)

    problems = await verify(both.engine)
    hashes = [p for p in problems if "hash does not match" in p]
    assert hashes == [
        f"entry {target['id']} ({customer_id}/USD #3): hash does not match its fields and the "
        "previous hash",
        f"entry {following['id']} ({customer_id}/USD #4): hash does not match its fields and "
        "the previous hash",
    ]


async def test_concurrent_writers_leave_one_valid_chain(both: Runtime) -> None:
    """Two runtimes on two engines (as two server processes): only the database's lock
    orders their writes."""
    customer_id, _ = await create_customer(both, key="busy", name="Busy")
    await promo(both, customer_id, "100")
    url = both.engine.url.render_as_string(hide_password=False)
    other_engine = create_engine(url)
    other = Runtime(other_engine, both.clock, CurrencyCatalog(other_engine), RecordingPublisher())
    try:
        writers = [consume((both, other)[n % 2], customer_id, "1", key=f"k{n}") for n in range(30)]
        await asyncio.gather(*writers)
    finally:
        await other_engine.dispose()

    records = await exported(both)
    assert [r["sequence"] for r in records] == list(range(1, 32))
    assert [r["hash"] for r in records] == recomputed(records, SCALES)
    assert await verify(both.engine) == []


def test_credits_verify_exits_1_naming_the_altered_entry(tmp_path: Path, capsys: Any) -> None:
    url = f"sqlite:///{tmp_path / 'credits.db'}"
    migrations.upgrade(url)

    async def write() -> dict[str, Any]:
        engine = create_engine(url)
        clock = FrozenClock(START)
        runtime = Runtime(engine, clock, CurrencyCatalog(engine), RecordingPublisher())
        await history(runtime)
        target = (await exported(runtime))[1]
        async with write_transaction(engine) as connection:
            statement = update(entries).where(entries.c.id == target["id"])
            await connection.execute(statement.values(booked_at=START + timedelta(seconds=1)))
        await engine.dispose()
        return target

    assert main(["verify", "--database-url", url]) == 0
    target = asyncio.run(write())
    capsys.readouterr()

    assert main(["verify", "--database-url", url]) == 1
    out = capsys.readouterr()
    assert f"entry {target['id']} " in out.out + out.err
    assert "hash does not match" in out.out + out.err
