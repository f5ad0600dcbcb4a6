"""Thresholds and automatic top-ups (docs/thresholds.md): the thresholds, their events, and
on each account the count of its undeleted thresholds and its last event's sequence.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "account", sa.Column("thresholds", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "account",
        sa.Column("threshold_sequence", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_table(
        "credit_threshold",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=True),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("feature_key", sa.String(), nullable=True),
        sa.Column("below", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("top_up_amount", sa.BigInteger(), nullable=True),
        sa.Column("top_up_funding_method", sa.String(), nullable=True),
        sa.Column("top_up_purchase_currency", sa.String(), nullable=True),
        sa.Column("top_up_cost_basis", sa.String(), nullable=True),
        sa.Column("top_up_price", sa.BigInteger(), nullable=True),
        sa.Column("top_up_availability_policy", sa.String(), nullable=True),
        sa.Column("top_up_settlement_status", sa.String(), nullable=True),
        sa.Column("top_up_payment_reference", sa.String(), nullable=True),
        sa.Column("top_up_priority", sa.Integer(), nullable=True),
        sa.Column("top_up_features", sa.JSON(), nullable=True),
        sa.Column("top_up_expires_after", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "key"),
    )
    op.create_index(
        "ix_credit_threshold_customer_currency", "credit_threshold", ["customer_id", "currency"]
    )
    op.create_table(
        "credit_threshold_event",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("threshold_id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("available_before", sa.BigInteger(), nullable=False),
        sa.Column("available_after", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.String(), nullable=False),
        sa.Column("top_up_grant_id", sa.String(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["threshold_id"], ["credit_threshold.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["entry_id"], ["ledger_entry.id"]),
        sa.ForeignKeyConstraint(["top_up_grant_id"], ["credit_grant.id"]),
        sa.PrimaryKeyConstraint("position"),
        sa.UniqueConstraint("customer_id", "currency", "sequence"),
        sa.UniqueConstraint("id"),
    )
    op.create_index(
        "ix_threshold_event_customer", "credit_threshold_event", ["customer_id", "position"]
    )
    op.create_index(
        "ix_threshold_event_threshold", "credit_threshold_event", ["threshold_id", "position"]
    )


def downgrade() -> None:
    op.drop_table("credit_threshold_event")
    op.drop_table("credit_threshold")
    op.drop_column("account", "threshold_sequence")
    op.drop_column("account", "thresholds")
