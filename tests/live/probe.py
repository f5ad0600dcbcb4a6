"""`{ viewer { kind } }` over HTTP again and again, in a process of its own (so the test
process, which drives thousands of subscriptions, cannot delay it), until its stdin
closes; then prints how long each answer took, and any wrong answer, as JSON."""

from __future__ import annotations

import json
import sys
import threading
import time

import httpx

EXPECTED = {"data": {"viewer": {"kind": "OPEN"}}}


def main(url: str) -> None:
    stopping = threading.Event()

    def wait_for_eof() -> None:
        sys.stdin.read()
        stopping.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    seconds: list[float] = []
    wrong: list[str] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stopping.wait(0.05):
            started = time.monotonic()
            response = client.post("/graphql", json={"query": "{ viewer { kind } }"})
            seconds.append(time.monotonic() - started)
            if response.json() != EXPECTED:
                wrong.append(f"{response.status_code} {response.text}")
    print(json.dumps({"seconds": seconds, "wrong": wrong}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
