"""Shared input checks: each adds issues naming their field, and none raises. DESIGN §2,
§3.1 and §11."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.domain.errors import Issue, Issues, ValidationFailed
from app.domain.validation import (
    check_aware,
    check_feature_key,
    check_features,
    check_labels,
    check_priority,
    check_text,
)

LABELS = ("input", "labels")
FEATURES = ("input", "features")
KEY_RULE = "must be 1 to 63 of a-z, A-Z, 0-9, '.', '_' or '-'"
FEATURE_RULE = "must be 1 to 64 characters of lowercase words joined by '_' (e.g. 'api_calls')"


def issues_of(check, *args, **kwargs) -> list[Issue]:
    issues = Issues()
    check(issues, *args, **kwargs)
    return issues.items


# ---- text


def test_text_within_its_bounds_has_no_issue():
    assert issues_of(check_text, ("input", "name"), "a", low=1, high=256) == []
    assert issues_of(check_text, ("input", "name"), "x" * 256, low=1, high=256) == []
    assert issues_of(check_text, ("input", "description"), "", low=0, high=1024) == []


def test_an_omitted_text_has_no_issue():
    assert issues_of(check_text, ("input", "name"), None, low=1, high=256) == []


def test_an_empty_name_must_not_be_empty():
    assert issues_of(check_text, ("input", "name"), "", low=1, high=256) == [
        Issue(("input", "name"), "must not be empty")
    ]


def test_a_text_over_its_limit_is_flagged():
    assert issues_of(check_text, ("input", "name"), "x" * 257, low=1, high=256) == [
        Issue(("input", "name"), "must be at most 256 characters")
    ]
    assert issues_of(check_text, ("input", "description"), "x" * 1025, low=0, high=1024) == [
        Issue(("input", "description"), "must be at most 1024 characters")
    ]


def test_a_text_under_a_minimum_above_one_says_so():
    assert issues_of(check_text, ("input", "code"), "ab", low=3, high=8) == [
        Issue(("input", "code"), "must be at least 3 characters")
    ]


# ---- labels


@pytest.mark.parametrize(
    "key", ["a", "env", "Team-Name", "app.kubernetes.io", "a_b", "0", "x" * 63]
)
def test_a_label_key_of_letters_digits_dots_dashes_and_underscores_is_fine(key):
    assert issues_of(check_labels, LABELS, [(key, "value")]) == []


@pytest.mark.parametrize("key", ["", "x" * 64, "has space", "a/b", "a:b", "é", "tab\t", "a+b"])
def test_a_label_key_outside_the_rules_is_flagged_on_its_key(key):
    assert issues_of(check_labels, LABELS, [("ok", "1"), (key, "2")]) == [
        Issue(("input", "labels", "1", "key"), KEY_RULE)
    ]


def test_a_repeated_label_key_is_flagged_on_the_later_one():
    labels = [("env", "prod"), ("team", "core"), ("env", "staging")]
    assert issues_of(check_labels, LABELS, labels) == [
        Issue(("input", "labels", "2", "key"), "repeats the label key 'env'")
    ]


def test_every_repetition_of_a_label_key_is_flagged():
    labels = [("env", "a"), ("env", "b"), ("env", "c")]
    assert [issue.field for issue in issues_of(check_labels, LABELS, labels)] == [
        ("input", "labels", "1", "key"),
        ("input", "labels", "2", "key"),
    ]


def test_fifty_labels_are_allowed():
    labels = [(f"key{i}", "v") for i in range(50)]
    assert issues_of(check_labels, LABELS, labels) == []


def test_fifty_one_labels_are_too_many():
    labels = [(f"key{i}", "v") for i in range(51)]
    assert issues_of(check_labels, LABELS, labels) == [
        Issue(("input", "labels"), "at most 50 labels are allowed")
    ]


def test_a_label_value_may_be_empty_or_up_to_256_characters():
    assert issues_of(check_labels, LABELS, [("a", ""), ("b", "v" * 256)]) == []


def test_a_label_value_over_256_characters_is_flagged_on_its_value():
    assert issues_of(check_labels, LABELS, [("a", "v" * 257)]) == [
        Issue(("input", "labels", "0", "value"), "must be at most 256 characters")
    ]


def test_no_labels_or_omitted_labels_have_no_issue():
    assert issues_of(check_labels, LABELS, []) == []
    assert issues_of(check_labels, LABELS, None) == []


def test_every_label_issue_is_reported_at_once():
    labels = [("bad key", "v"), ("ok", "v" * 257), ("ok", "v")]
    assert issues_of(check_labels, ("input", "labels"), labels) == [
        Issue(("input", "labels", "0", "key"), KEY_RULE),
        Issue(("input", "labels", "1", "value"), "must be at most 256 characters"),
        Issue(("input", "labels", "2", "key"), "repeats the label key 'ok'"),
    ]


# ---- features


@pytest.mark.parametrize("feature", ["gpu", "api_calls", "a1_b2_c3", "0", "x" * 64, "v2"])
def test_a_feature_of_lowercase_words_joined_by_underscores_is_fine(feature):
    assert issues_of(check_features, FEATURES, [feature]) == []
    assert issues_of(check_feature_key, ("input", "featureKey"), feature) == []


@pytest.mark.parametrize(
    "feature",
    ["", "API", "Api_calls", "api-calls", "_api", "api_", "api__calls", "api calls", "x" * 65, "é"],
)
def test_a_feature_outside_the_pattern_is_flagged_at_its_index(feature):
    assert issues_of(check_features, FEATURES, ["gpu", feature]) == [
        Issue(("input", "features", "1"), FEATURE_RULE)
    ]
    assert issues_of(check_feature_key, ("input", "featureKey"), feature) == [
        Issue(
            ("input", "featureKey"), "must be 1 to 64 characters of lowercase words joined by '_'"
        )
    ]


def test_no_features_or_no_feature_key_have_no_issue():
    assert issues_of(check_features, FEATURES, None) == []
    assert issues_of(check_features, FEATURES, []) == []
    assert issues_of(check_feature_key, ("input", "featureKey"), None) == []


# ---- priority


@pytest.mark.parametrize("priority", [1, 10, 1000])
def test_a_priority_from_one_to_a_thousand_is_fine(priority):
    assert issues_of(check_priority, ("input", "priority"), priority) == []


@pytest.mark.parametrize("priority", [0, 1001, -1, 10**9])
def test_a_priority_outside_one_to_a_thousand_is_flagged(priority):
    assert issues_of(check_priority, ("input", "priority"), priority) == [
        Issue(("input", "priority"), "must be between 1 and 1000")
    ]


# ---- datetimes must carry an offset


def test_a_naive_datetime_is_flagged():
    issues = Issues()
    assert check_aware(issues, ("input", "effectiveAt"), datetime(2025, 3, 1, 12)) is False
    assert issues.items == [
        Issue(("input", "effectiveAt"), "must include a timezone offset (e.g. 'Z' or '+01:00')")
    ]


@pytest.mark.parametrize(
    "instant",
    [
        datetime(2025, 3, 1, 12, tzinfo=UTC),
        datetime(2025, 3, 1, 12, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2025, 3, 1, 12, tzinfo=timezone(timedelta(hours=-8))),
        None,
    ],
)
def test_an_aware_or_omitted_datetime_is_fine(instant):
    issues = Issues()
    assert check_aware(issues, ("input", "effectiveAt"), instant) is True
    assert issues.items == []


# ---- the collector


def test_the_collector_reports_every_issue_at_once():
    issues = Issues()
    assert not issues
    issues.raise_any()  # nothing to report
    check_priority(issues, ("input", "priority"), 0)
    check_text(issues, ("input", "name"), "", low=1, high=256)
    assert issues
    assert issues.has(("input", "priority"))
    assert not issues.has(("input", "amount"))
    with pytest.raises(ValidationFailed) as failed:
        issues.raise_any()
    assert failed.value.issues == [
        Issue(("input", "priority"), "must be between 1 and 1000"),
        Issue(("input", "name"), "must not be empty"),
    ]
    assert failed.value.message == (
        "Invalid input: input.priority: must be between 1 and 1000; input.name: must not be empty"
    )


# ---- bugs


def test_a_label_key_with_a_trailing_newline_is_flagged():
    assert issues_of(check_labels, LABELS, [("env\n", "prod")]) == [
        Issue(("input", "labels", "0", "key"), KEY_RULE)
    ]


def test_a_feature_with_a_trailing_newline_is_flagged():
    assert issues_of(check_features, FEATURES, ["api_calls\n"]) != []
    assert issues_of(check_feature_key, ("input", "featureKey"), "api_calls\n") != []
