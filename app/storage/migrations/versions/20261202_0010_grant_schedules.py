"""Grant schedules (recurring allowances, docs/schedules.md) and each grant's schedule.

A schedule's next occurrence is a due event like a grant's funding or expiry: its
`next_event_at` is indexed after `customer_id` (which of a request's customers have
something due: a seek) and alone (the scheduler's sweep). A schedule's grants are listed
latest occurrence first from an index on (schedule_id, effective_at, id).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 10:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.storage.types import UTCDateTime

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_grant_schedule",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("customer_id", sa.String(), sa.ForeignKey("customer.id"), nullable=False),
        sa.Column("key", sa.String(), nullable=True),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("every", sa.String(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=True),
        sa.Column("expires_after", sa.String(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("canceled_at", UTCDateTime(), nullable=True),
        sa.Column("next_index", sa.BigInteger(), nullable=False),
        sa.Column("next_event_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("customer_id", "key"),
    )
    op.create_index(
        "ix_credit_grant_schedule_customer_created",
        "credit_grant_schedule",
        ["customer_id", "created_at", "id"],
    )
    op.create_index(
        "ix_credit_grant_schedule_customer_next_event",
        "credit_grant_schedule",
        ["customer_id", "next_event_at"],
    )
    op.create_index(
        "ix_credit_grant_schedule_next_event_at", "credit_grant_schedule", ["next_event_at"]
    )
    op.add_column("credit_grant", sa.Column("schedule_id", sa.String(), nullable=True))
    op.create_index(
        "ix_credit_grant_schedule_effective", "credit_grant", ["schedule_id", "effective_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_credit_grant_schedule_effective", table_name="credit_grant")
    op.drop_column("credit_grant", "schedule_id")
    op.drop_table("credit_grant_schedule")
