"""An index to find which of a request's customers have a time-driven event due.

A read books the due events of the customers it reads (app/api/catch_up.py): one statement per
batch asks which of them have `next_event_at <= now`. With this index that is a seek per
customer, whatever the number of their grants.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 04:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_credit_grant_customer_next_event", "credit_grant", ["customer_id", "next_event_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_credit_grant_customer_next_event", table_name="credit_grant")
