"""`credits serve` without the hash chain's work, for the benchmark's "hash chain" row only.

Issue 9 budgets the chain's cost on consumeCredits throughput against the same run without
it. The server has no switch to turn the chain off, on purpose: nothing a deployment can set
(setting, environment variable, flag) may stop it from writing tamper evidence. This launcher
lives in scripts/, outside the installed package, and replaces, in its own process only, the
one function that computes the chain (`link`, called once per entry by `Account.append`)
with one that returns the empty string: the entries' `hash` and the account's `last_hash`
are then written empty (the columns are NOT NULL), so the write transaction is the server's
own minus the hashing and minus 128 characters a consumption. Everything else is the
server's own code, started the way `credits serve` starts.

Run: PYTHONPATH=scripts python -m benchmark.unchained serve --port PORT
(CREDITS_DATABASE_URL names the database, as for `credits serve`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from app import cli
from app.domain import ledger


def no_chain(previous: str, columns: Mapping[str, Any]) -> str:
    return ""


if __name__ == "__main__":
    ledger.link = no_chain  # type: ignore[attr-defined]  # the one name Account.append calls
    sys.exit(cli.main(sys.argv[1:]))
