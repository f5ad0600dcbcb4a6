"""Checks on input fields shared by several use cases. Each adds issues; none raises."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from app.domain.errors import Issues, Path
from app.domain.time import utc_instant

FEATURE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*\Z")
LABEL_KEY = re.compile(r"^[a-zA-Z0-9._-]{1,63}\Z")
MAX_LABELS = 50
# Control characters (Unicode category Cc) and unpaired surrogates: no database stores a NUL
# or a lone surrogate as text, and a key or a name holds no line breaks either.
UNSAFE_IN_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
UNSAFE_IN_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def text_problem(value: str, *, lines: bool = False) -> str | None:
    """Why `value` cannot be kept as text; tab and line breaks only where `lines` allows them."""
    found = (UNSAFE_IN_LINES if lines else UNSAFE_IN_LINE).search(value)
    if found is None:
        return None
    char = found.group()
    what = "unpaired surrogates" if char >= "\ud800" else "control characters"
    return f"must not contain {what} (found U+{ord(char):04X})"


def check_text(
    issues: Issues, path: Path, value: str | None, *, low: int, high: int, lines: bool = False
) -> None:
    """A text field: its length, and no control characters (tab and newlines with `lines`)."""
    if value is None:
        return
    if len(value) < low:
        issues.add(path, "must not be empty" if low == 1 else f"must be at least {low} characters")
    elif len(value) > high:
        issues.add(path, f"must be at most {high} characters")
    elif problem := text_problem(value, lines=lines):
        issues.add(path, problem)


def check_labels(issues: Issues, path: Path, labels: Sequence[tuple[str, str]] | None) -> None:
    if labels is None:
        return
    if len(labels) > MAX_LABELS:
        issues.add(path, f"at most {MAX_LABELS} labels are allowed")
    seen: set[str] = set()
    for index, (key, value) in enumerate(labels):
        where = (*path, str(index))
        if not LABEL_KEY.fullmatch(key):
            issues.add((*where, "key"), "must be 1 to 63 of a-z, A-Z, 0-9, '.', '_' or '-'")
        elif key in seen:
            issues.add((*where, "key"), f"repeats the label key {key!r}")
        seen.add(key)
        check_text(issues, (*where, "value"), value, low=0, high=256)


def check_features(issues: Issues, path: Path, features: Sequence[str] | None) -> None:
    for index, feature in enumerate(features or ()):
        if not (1 <= len(feature) <= 64 and FEATURE.fullmatch(feature)):
            issues.add(
                (*path, str(index)),
                "must be 1 to 64 characters of lowercase words joined by '_' (e.g. 'api_calls')",
            )


def check_feature_key(issues: Issues, path: Path, feature: str | None) -> None:
    if feature is not None and not (1 <= len(feature) <= 64 and FEATURE.fullmatch(feature)):
        issues.add(path, "must be 1 to 64 characters of lowercase words joined by '_'")


def check_priority(issues: Issues, path: Path, priority: int) -> None:
    if not 1 <= priority <= 1000:
        issues.add(path, "must be between 1 and 1000")


def check_aware(issues: Issues, path: Path, instant: datetime | None) -> bool:
    """A DateTime must carry an offset, and be an instant of years 1 to 9999 in UTC."""
    if instant is not None and instant.utcoffset() is None:
        issues.add(path, "must include a timezone offset (e.g. 'Z' or '+01:00')")
        return False
    try:
        if instant is not None:
            utc_instant(instant)
    except ValueError:
        issues.add(path, "is out of range (years 1 to 9999 in UTC)")
        return False
    return True
