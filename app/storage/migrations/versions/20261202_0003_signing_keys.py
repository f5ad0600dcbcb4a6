"""Signing keys for portal tokens, shared by every process; the first one is made here.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 04:00:00
"""

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "signing_key",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("secret", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    # Key 1, as app.services.signing would make it on first need (256 random bits).
    # SQLite keeps instants as naive UTC, as app.storage.types.UTCDateTime does.
    now = datetime.now(UTC)
    if op.get_context().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    op.bulk_insert(table, [{"id": 1, "secret": secrets.token_urlsafe(32), "created_at": now}])


def downgrade() -> None:
    op.drop_table("signing_key")
