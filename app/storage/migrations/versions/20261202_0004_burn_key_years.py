"""Burn keys of instants before year 1000: pad the year to four digits.

`stamp()` used strftime's %Y, which does not pad: year 999 became "999" and sorted after
2025. Only grants with an instant before year 1000 have such a key; their three stamps
are recomputed in SQL from the columns (the same 20 digits the code now writes), and
the priority, restriction, cost basis and id are kept. The cost basis is the only part
with a '.', 40 digits before it: that is how it is found in the old key.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 04:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEVER = "9" * 20
FIRST = "00010101000000000000"  # 0001-01-01T00:00:00Z
LAST = "99991231235959999999"  # 9999-12-31T23:59:59.999999Z


def stamp(column: str, dialect: str) -> str:
    """SQL for the 20 digits of an instant column, in UTC."""
    if dialect == "postgresql":  # asyncpg writes the first and last instants as ±infinity
        return (
            f"CASE WHEN {column} = '-infinity' THEN '{FIRST}' "
            f"WHEN {column} = 'infinity' THEN '{LAST}' "
            f"ELSE to_char({column} AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISSUS') END"
        )
    # SQLite holds naive UTC as 'YYYY-MM-DD HH:MM:SS.ffffff', the year already padded.
    digits = column
    for mark in ("-", " ", ":", "."):
        digits = f"replace({digits}, '{mark}', '')"
    return digits


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    find = "strpos(burn_key, '.')" if dialect == "postgresql" else "instr(burn_key, '.')"
    cutoff = "TIMESTAMPTZ '1000-01-01 00:00:00+00'" if dialect == "postgresql" else "'1000-01-01'"
    expiry = f"CASE WHEN expires_at IS NULL THEN '{NEVER}' ELSE {stamp('expires_at', dialect)} END"
    parts = [
        "substr(burn_key, 1, 7)",  # priority (4 digits) | restriction |
        expiry,
        f"'|' || substr(burn_key, {find} - 40, 53)",  # cost basis: 40 digits . 12 digits
        f"'|' || {stamp('effective_at', dialect)}",
        f"'|' || {stamp('created_at', dialect)}",
        "'|' || id",
    ]
    op.execute(
        f"UPDATE credit_grant SET burn_key = {' || '.join(parts)} "
        f"WHERE expires_at < {cutoff} OR effective_at < {cutoff} OR created_at < {cutoff}"
    )


def downgrade() -> None:
    """Nothing to undo: a padded key orders the grants correctly under any revision."""
