"""`both`: a service runtime on SQLite, then on PostgreSQL (skipped without its URL)."""

from __future__ import annotations

import pytest

from app.services.runtime import Runtime
from tests.storage.test_postgres import pg_runtime

__all__ = ["pg_runtime"]  # the PostgreSQL fixture, used through `both`


@pytest.fixture(params=["sqlite", "postgresql"])
def both(request: pytest.FixtureRequest) -> Runtime:
    """The same test on SQLite and on PostgreSQL."""
    name = "runtime" if request.param == "sqlite" else "pg_runtime"
    runtime: Runtime = request.getfixturevalue(name)
    return runtime
