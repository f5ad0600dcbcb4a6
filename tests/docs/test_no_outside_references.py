"""The code explains itself or points into docs/: nothing under app/ cites DESIGN.md, a
document that is not in the repository, nor a path outside it."""

from __future__ import annotations

import re
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
OUTSIDE = re.compile(r"DESIGN|\.\./shared/")
TEXT = {".py", ".html", ".js", ".css"}


def references() -> list[str]:
    found = []
    for path in sorted(APP.rglob("*")):
        if path.suffix not in TEXT or ".min." in path.name:  # vendored builds are not ours
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(APP.parent)}:{number}")
    return found


def test_no_file_under_app_cites_a_document_outside_the_repository() -> None:
    assert references() == []


def test_the_check_finds_a_reference_where_there_is_one() -> None:
    assert OUTSIDE.search('"""Consuming credits in burn order (DESIGN §4)."""')
    assert OUTSIDE.search("see ../shared/contract/schema.graphql")
    assert not OUTSIDE.search('"""Consuming credits in burn order (docs/concepts.md)."""')
