"""Balances from maintained figures: running figures on each entry, per scope of the
restricted grants, and the indexes that make a balance a few seeks.

Every ledger entry gets its ledger's running funded, consumed, expired, voided and
promotional figures after it (available is `balance_after`); `scope_figure` holds the
running figures of each scope of the restricted grants ("*" for all of them, and each
feature). Both are backfilled from the existing ledger with window sums. On SQLite the
new columns keep their server default of 0 (removing it would rebuild the ledger table).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 05:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENTRY_FIGURES = (
    "funded_after",
    "consumed_after",
    "expired_after",
    "voided_after",
    "promotional_after",
)
SCOPE_FIGURES = ("available", "funded", "consumed", "expired", "voided", "promotional")

RUNNING = (  # each figure's running sum, in SCOPE_FIGURES order
    "SUM(e.amount)",
    "SUM(CASE WHEN e.type = 'FUNDED' THEN e.amount ELSE 0 END)",
    "-SUM(CASE WHEN e.type IN ('CONSUMED', 'RESTORED') THEN e.amount ELSE 0 END)",
    "-SUM(CASE WHEN e.type = 'EXPIRED' THEN e.amount ELSE 0 END)",
    "-SUM(CASE WHEN e.type = 'VOIDED' THEN e.amount ELSE 0 END)",
    "SUM(CASE WHEN e.funding_method = 'NONE' THEN e.amount ELSE 0 END)",
)
FIGURES = ", ".join(
    f"{total} OVER running AS {name}" for total, name in zip(RUNNING, SCOPE_FIGURES, strict=True)
)
ENTRIES = f"""
UPDATE ledger_entry SET
    funded_after = figures.funded, consumed_after = figures.consumed,
    expired_after = figures.expired, voided_after = figures.voided,
    promotional_after = figures.promotional
FROM (
    SELECT e.position, {FIGURES}
    FROM ledger_entry e
    WINDOW running AS (PARTITION BY e.customer_id, e.currency ORDER BY e.sequence)
) AS figures
WHERE ledger_entry.position = figures.position
"""
SCOPES = f"""
INSERT INTO scope_figure (customer_id, currency, scope, sequence, {", ".join(SCOPE_FIGURES)})
SELECT e.customer_id, e.currency, s.scope, e.sequence, {FIGURES}
FROM ledger_entry e
JOIN (
    SELECT id AS grant_id, '*' AS scope FROM credit_grant WHERE restricted
    UNION ALL SELECT grant_id, feature AS scope FROM grant_feature
) s ON s.grant_id = e.grant_id
WINDOW running AS (PARTITION BY e.customer_id, e.currency, s.scope ORDER BY e.sequence)
"""


def upgrade() -> None:
    for name in ENTRY_FIGURES:
        column = sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
        op.add_column("ledger_entry", column)
    op.create_table(
        "scope_figure",
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in SCOPE_FIGURES),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("customer_id", "currency", "scope", "sequence"),
    )
    op.execute(ENTRIES)
    op.execute(SCOPES)
    if op.get_bind().dialect.name == "postgresql":
        for name in ENTRY_FIGURES:
            op.alter_column("ledger_entry", name, server_default=None)
    op.create_index(
        "ix_ledger_ledger_booked",
        "ledger_entry",
        ["customer_id", "currency", "booked_at", "sequence"],
    )
    op.create_index("ix_credit_grant_customer_funded", "credit_grant", ["customer_id", "funded_at"])


def downgrade() -> None:
    op.drop_index("ix_credit_grant_customer_funded", table_name="credit_grant")
    op.drop_index("ix_ledger_ledger_booked", table_name="ledger_entry")
    op.drop_table("scope_figure")
    for name in ENTRY_FIGURES:
        op.drop_column("ledger_entry", name)
