"""Text fields hold no control characters or unpaired surrogates; only multi-line text
(descriptions, reasons) keeps tabs and line breaks."""

from __future__ import annotations

import pytest

from app.domain.errors import Issues
from app.domain.validation import check_labels, check_text, text_problem


@pytest.mark.parametrize(
    ("value", "found"),
    [("a\x00b", "U+0000"), ("\x1b[31m", "U+001B"), ("a\x7f", "U+007F"), ("\x85", "U+0085")],
)
def test_a_control_character_is_named_in_any_text(value: str, found: str) -> None:
    for lines in (False, True):
        assert (
            text_problem(value, lines=lines)
            == f"must not contain control characters (found {found})"
        )


def test_a_lone_surrogate_is_refused() -> None:
    assert (
        text_problem("a\ud800", lines=True) == "must not contain unpaired surrogates (found U+D800)"
    )
    assert text_problem("\udfff") == "must not contain unpaired surrogates (found U+DFFF)"


def test_tabs_and_line_breaks_are_text_only_where_lines_are() -> None:
    assert text_problem("one\n\ttwo\r\n", lines=True) is None
    assert text_problem("one\ntwo") == "must not contain control characters (found U+000A)"
    assert text_problem("a\tb") == "must not contain control characters (found U+0009)"


def test_ordinary_text_of_any_script_passes() -> None:
    assert text_problem("Café ١٢ 😀 日本 \u200d") is None


def test_check_text_names_the_field() -> None:
    issues = Issues()
    check_text(issues, ("input", "key"), "a\x00", low=1, high=256)
    check_text(issues, ("input", "description"), "a\nb", low=0, high=1024, lines=True)
    check_labels(issues, ("input", "labels"), [("tier", "gold\x00")])
    assert [(i.field, i.message) for i in issues.items] == [
        (("input", "key"), "must not contain control characters (found U+0000)"),
        (("input", "labels", "0", "value"), "must not contain control characters (found U+0000)"),
    ]
