"""Revision 0004 pads the year in burn keys written before the fix, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import insert, select

from app.domain import grants as grant_rules
from app.domain.grants import (
    AvailabilityPolicy,
    FundingMethod,
    Grant,
    Purchase,
    SettlementStatus,
)
from app.storage import migrations
from app.storage.engine import create_engine
from app.storage.mapping import grant_creation
from app.storage.tables import customers, grants
from tests.databases import empty_postgres

NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)


def old_stamp(instant: datetime) -> str:
    """The stamp before the fix: %Y does not pad the year."""
    return instant.astimezone(UTC).strftime("%Y%m%d%H%M%S%f")


def made(grant_id: str, effective_at: datetime, expires_at: datetime | None, paid: bool) -> Grant:
    purchase = Purchase("USD", Decimal("0.125"), 0, AvailabilityPolicy.ON_CREATION,
                        SettlementStatus.PENDING) if paid else None  # fmt: skip
    return Grant(
        id=grant_id,
        customer_id="cus_1",
        currency="USD",
        amount=100,
        funding_method=FundingMethod.INVOICE if paid else FundingMethod.NONE,
        priority=1000 if paid else 7,
        features=("chat",) if paid else (),
        effective_at=effective_at,
        expires_at=expires_at,
        created_at=NOW,
        purchase=purchase,
    )


WALLET = [
    made("grt_a", datetime(999, 12, 31, 23, 59, 59, 123456, tzinfo=UTC), None, paid=False),
    made("grt_b", NOW, datetime(1, 1, 1, tzinfo=UTC), paid=True),
    made("grt_c", datetime(1, 6, 1, tzinfo=UTC), datetime(999, 1, 1, tzinfo=UTC), paid=True),
    made("grt_d", datetime(1000, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC), paid=False),
    made("grt_e", datetime(1, 1, 1, tzinfo=UTC), datetime.max.replace(tzinfo=UTC), paid=False),
]
UNTOUCHED = "grt_d"  # no instant before year 1000: its key is left as it is


def migrate_and_read(url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Migrate to 0004's parent, write keys the old way, migrate to head, read the keys."""
    config = migrations.alembic_config(url)
    script = ScriptDirectory(str(migrations.HERE))
    parent = script.get_revision("0004").down_revision
    assert isinstance(parent, str)
    command.upgrade(config, parent)
    with monkeypatch.context() as patched:
        patched.setattr(grant_rules, "stamp", old_stamp)
        rows = [
            grant_creation(g) | {"name": g.id, "fingerprint": "-", "labels": []} for g in WALLET
        ]
    rows[3]["burn_key"] = "left as it is"
    asyncio.run(write(url, rows))
    command.upgrade(config, "head")
    return asyncio.run(read(url))


async def write(url: str, rows: list[dict[str, object]]) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        customer = {"id": "cus_1", "key": "c", "name": "C", "folded_name": "c"}
        times = {"created_at": NOW, "updated_at": NOW, "fingerprint": "-", "labels": []}
        await connection.execute(insert(customers).values(customer | times))
        await connection.execute(insert(grants), rows)
    await engine.dispose()


async def read(url: str) -> dict[str, str]:
    engine = create_engine(url)
    async with engine.connect() as connection:
        found = await connection.execute(select(grants.c.id, grants.c.burn_key))
        keys = {row.id: row.burn_key for row in found}
    await engine.dispose()
    return keys


def check(keys: dict[str, str]) -> None:
    expected = {g.id: g.burn_key() for g in WALLET if g.id != UNTOUCHED}
    assert {k: v for k, v in keys.items() if k != UNTOUCHED} == expected
    assert keys[UNTOUCHED] == "left as it is"
    assert sorted(expected, key=expected.__getitem__) == ["grt_e", "grt_a", "grt_b", "grt_c"]


def test_sqlite_burn_keys_before_year_1000_are_padded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check(migrate_and_read(f"sqlite:///{tmp_path / 'credits.db'}", monkeypatch))


def test_postgresql_burn_keys_before_year_1000_are_padded(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with empty_postgres(postgres_url, "credits_burn") as scratch:
        check(migrate_and_read(scratch, monkeypatch))
