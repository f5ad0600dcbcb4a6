"""The exported schema is the code's, and a compatible superset of the contract."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema
from graphql.utilities import find_breaking_changes

from app.api.schema import export_schema

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT.parent / "shared" / "contract" / "schema.graphql"

# Until access control lands (its own issue), these are the only parts of the contract
# the schema may lack.
ALLOWED_MISSING = {
    "ApiKeyRole was removed.",
    "ViewerKind was removed.",
    "Viewer was removed.",
    "CreatePortalTokenInput was removed.",
    "CreatePortalTokenSuccess was removed.",
    "CreatePortalTokenResult was removed.",
    "Field Query.viewer was removed.",
    "Field Mutation.createPortalToken was removed.",
}


def test_the_committed_schema_is_the_one_the_code_exports() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == export_schema(), "schema.graphql drifted: run scripts/export-schema"


def test_the_schema_breaks_nothing_in_the_contract_but_what_later_issues_add() -> None:
    contract = build_schema(CONTRACT.read_text())
    exported = build_schema(export_schema())
    breaks = {change.description for change in find_breaking_changes(contract, exported)}
    assert breaks == ALLOWED_MISSING
