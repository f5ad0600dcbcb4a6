"""`credits serve` and `credits export-schema`, which need the API layer."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.cli import main

pytest.importorskip("app.main", reason="app.main is not written yet")
pytest.importorskip("app.api.schema", reason="app.api.schema is not written yet")

CLI = "import sys; from app.cli import main; sys.exit(main())"


def test_export_schema_writes_the_sdl(tmp_path: Path) -> None:
    output = tmp_path / "schema.graphql"
    assert main(["export-schema", "--output", str(output)]) == 0
    text = output.read_text()
    assert "type Query" in text
    assert "purchaseCredits" in text


def test_serve_migrates_sqlite_and_answers_on_the_announced_address(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    database = f"sqlite:///{tmp_path / 'credits.db'}"
    command = [sys.executable, "-c", CLI, "serve", "--port", "0", "--database-url", database]
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = announced_url(log)
        assert httpx.get(url.removesuffix("/graphql") + "/healthz").status_code == 200
        answer = httpx.post(url, json={"query": "{ currencies { code } }"}).json()
        assert {"code": "USD"} in answer["data"]["currencies"]
    finally:
        server.terminate()
        server.wait(timeout=10)


def announced_url(log: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if line.startswith("==> credits server listening on "):
                return line.split()[5]
        time.sleep(0.1)
    raise AssertionError(f"no announcement within {timeout}s:\n{log.read_text()}")
