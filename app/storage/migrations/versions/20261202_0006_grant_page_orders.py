"""Indexes for a customer's grants in effective and priority order.

A page of each customer's grants is one index walk per customer (`LATERAL … LIMIT` on
PostgreSQL) when an index has the page's order after `customer_id`; without one it reads
and sorts every grant of the customer. Creation order and burn order had theirs already.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_credit_grant_customer_effective": ["customer_id", "effective_at", "id"],
    "ix_credit_grant_customer_priority": ["customer_id", "priority", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "credit_grant", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="credit_grant")
