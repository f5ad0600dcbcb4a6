"""Tamper evidence (docs/tamper-evidence.md): each ledger entry's hash, chained per customer ledger, and
each account's last hash (what the next entry chains on).

Existing entries are hashed in ledger order (customer id, currency, sequence) a batch at
a time, seeking past the last key of the previous batch, so memory stays flat whatever
the ledger's size; only the running hash of the ledger being walked is kept. On SQLite
the new columns keep their server default (removing it would rebuild the tables).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 08:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.domain.hashing import COLUMNS, GENESIS, link
from app.storage.types import UTCDateTime

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000

entry = sa.table(
    "ledger_entry",
    sa.column("position", sa.BigInteger()),
    *(sa.column(name) for name in COLUMNS if name != "booked_at"),
    sa.column("booked_at", UTCDateTime()),
    sa.column("hash", sa.String()),
)
KEY = (entry.c.customer_id, entry.c.currency, entry.c.sequence)
HASHED = sa.select(entry.c.position, *(entry.c[name] for name in COLUMNS)).order_by(*KEY)
STORE = (
    sa.update(entry)
    .where(entry.c.position == sa.bindparam("entry_position"))
    .values(hash=sa.bindparam("entry_hash"))
)
HEADS = f"""
UPDATE account SET last_hash = COALESCE((
    SELECT e.hash FROM ledger_entry e
    WHERE e.customer_id = account.customer_id AND e.currency = account.currency
    ORDER BY e.sequence DESC LIMIT 1
), '{GENESIS}')
"""


def upgrade() -> None:
    op.add_column("ledger_entry", sa.Column("hash", sa.String(), nullable=False, server_default=""))
    column = sa.Column("last_hash", sa.String(), nullable=False, server_default=GENESIS)
    op.add_column("account", column)
    hash_entries(op.get_bind())
    op.execute(HEADS)
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("ledger_entry", "hash", server_default=None)
        op.alter_column("account", "last_hash", server_default=None)


def hash_entries(connection: sa.Connection) -> None:
    """Every entry's hash, ledger by ledger in sequence order, BATCH rows at a time."""
    ledger, previous, after = None, GENESIS, None
    while True:
        statement = HASHED.limit(BATCH)
        if after is not None:
            statement = statement.where(sa.tuple_(*KEY) > sa.tuple_(*map(sa.literal, after)))
        rows = connection.execute(statement).all()
        if not rows:
            return
        hashes = []
        for row in rows:
            if (row.customer_id, row.currency) != ledger:
                ledger, previous = (row.customer_id, row.currency), GENESIS
            previous = link(previous, row._mapping)
            hashes.append({"entry_position": row.position, "entry_hash": previous})
        connection.execute(STORE, hashes)
        last = rows[-1]
        after = (last.customer_id, last.currency, last.sequence)


def downgrade() -> None:
    op.drop_column("account", "last_hash")
    op.drop_column("ledger_entry", "hash")
