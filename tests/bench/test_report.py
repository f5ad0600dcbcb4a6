"""The benchmark's table judges each budget on the ratio of two figures of one run."""

from __future__ import annotations

from benchmark import thresholds
from benchmark.load import Stats
from benchmark.report import rows, table


def test_the_report_judges_each_budget_on_ratios() -> None:
    def took(*seconds: float) -> Stats:
        return Stats(latencies=list(seconds), elapsed=1.0)

    results = {
        "dashboard x1": {"graphql": took(0.03), "floor": took(0.02), "naive": took(0.5)},
        "dashboard x16": {
            "graphql": took(*[0.1] * 6), "floor": took(*[0.1] * 10),
        },
        "balance x1": {
            "medium now": took(0.002), "big now": took(0.004),
            "medium at": took(0.002), "big at": took(0.003),
        },
        "chain x16": {"chained": took(*[0.1] * 19), "unchained": took(*[0.1] * 20)},
        thresholds.NAME: {"with": took(*[0.1] * 18), "without": took(*[0.1] * 20)},
        "revenue x1": {"revenue": took(0.2)},
        "live": {"each": took(*[0.01] * 99, 0.06), "last": took(0.01), "read": took(0.07)},
    }  # fmt: skip

    verdicts = {row.what: row.verdict for row in rows(results) if row.verdict}

    assert verdicts == {
        "dashboard p50, 1 client": "PASS",  # 1.5x
        "dashboard req/s, 16 clients": "FAIL",  # 0.6x
        "creditBalance p50 now, long ledger (floor: 1k entries)": "FAIL",  # 2x
        "creditBalance p50 at, long ledger (floor: 1k entries)": "PASS",  # 1.5x
        "live commit to receipt p99": "FAIL",  # 60 ms
        "hash chain: consumeCredits req/s, 16 clients, spread (floor: without the chain)": "PASS",
    }
    shown = {row.what: row.ours for row in rows(results)}
    assert shown["creditRevenue p50, a year by month (every seeded entry)"] == "200.0 ms"
    assert shown["live commit to read by the bench client, p99"] == "70.0 ms"  # no budget
    assert [row.verdict for row in thresholds.rows(results)] == ["FAIL"]  # 0.9x
    assert "dashboard p50, 1 client" in table(rows(results))
