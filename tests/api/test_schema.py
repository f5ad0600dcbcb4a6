"""The exported schema is the code's, and a compatible superset of the contract."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from graphql import build_schema
from graphql.utilities import find_breaking_changes

from app.api.schema import export_schema

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT.parent / "shared" / "contract" / "schema.graphql"


def test_the_committed_schema_is_the_one_the_code_exports() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == export_schema(), "schema.graphql drifted: run scripts/export-schema"


def test_the_schema_is_a_compatible_superset_of_the_contract() -> None:
    if not CONTRACT.exists():
        # CI checks out the contract beside the repository: there, its absence is a failure.
        in_ci = os.environ.get("CI") == "true"
        assert not in_ci, f"CI=true but the contract is missing: {CONTRACT}"
        pytest.skip(
            f"no contract to compare with at {CONTRACT} (../shared is not beside this checkout)"
        )
    contract = build_schema(CONTRACT.read_text())
    exported = build_schema(export_schema())
    assert [change.description for change in find_breaking_changes(contract, exported)] == []
