"""One JSON log line a request, carrying its id; expected errors quiet, unexpected ones traced."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.domain.access import Role
from app.main import create_app
from app.observability import logs
from app.observability.logs import configure_logging, formatter, wants_json
from app.services.currencies import CurrencyCatalog
from app.services.keys import create_key
from app.settings import Settings
from tests.api.conftest import Api
from tests.api.test_mutations_support import consume, new_customer, promote

CREDITS = str(Path(sys.executable).parent / "credits")
LISTENING = re.compile(r"listening on (http://\S+)/graphql")


class Lines:
    """What the server logs, one JSON object a line."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def requests(self) -> list[dict[str, Any]]:
        return [line for line in self.all() if line["logger"] == "credits.request"]


@pytest.fixture
def lines(api: Api) -> Iterator[Lines]:
    """Logging as the app's lifespan configured it, written here instead of to stderr."""
    captured = Lines()
    configure_logging("info", "json", stream=captured.stream)
    try:
        yield captured
    finally:
        configure_logging("info", "json")


async def test_a_request_logs_one_json_line_with_its_request_id(api: Api, lines: Lines) -> None:
    response = await api.client.post("/graphql", json={"query": "query Hello { viewer { kind } }"})

    [line] = lines.requests()
    assert line["request_id"] == response.headers["x-request-id"] != ""
    assert {key: line[key] for key in ("event", "level", "method", "path", "status")} == {
        "event": "request",
        "level": "info",
        "method": "POST",
        "path": "/graphql",
        "status": 200,
    }
    assert (line["operation"], line["outcome"], line["actor"]) == ("Hello", "success", "open")
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", line["timestamp"])
    assert "exception" not in line


async def test_expected_errors_are_logged_at_info_without_a_trace(api: Api, lines: Lines) -> None:
    response = await api.client.post(
        "/graphql", json={"query": 'query Bad { customer(id: "nope") { id } }'}
    )
    customer = await new_customer(api)
    await promote(api, customer, amount="5")
    refused = await consume(api, customer, "use", "9")

    assert refused["__typename"] == "InsufficientCreditsError"
    request_id = response.headers["x-request-id"]
    logged = lines.all()
    assert [line["level"] for line in logged] == ["info"] * len(logged)
    assert all("exception" not in line for line in logged)
    [error] = [line for line in logged if line["logger"] == "strawberry.execution"]
    assert error["event"] == "BAD_USER_INPUT: 'nope' is not a valid ID"
    assert error["request_id"] == request_id
    outcomes = [(line["operation"], line["outcome"]) for line in lines.requests()]
    assert outcomes == [
        ("Bad", "BAD_USER_INPUT"),
        ("CreateCustomer", "success"),
        ("Promote", "success"),
        ("Consume", "INSUFFICIENT_CREDITS"),
    ]


async def test_an_unexpected_error_is_logged_once_at_error_with_its_trace(
    api: Api, lines: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: CurrencyCatalog) -> list[Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(CurrencyCatalog, "all", broken)
    response = await api.client.post(
        "/graphql", json={"query": "query Currencies { currencies { code } }"}
    )

    error = response.json()["errors"][0]
    assert error["message"] == "Internal server error"
    [line] = [line for line in lines.all() if "boom" in json.dumps(line)]
    assert line["logger"] == "credits.request" and line["level"] == "error"
    assert line["request_id"] == error["extensions"]["requestId"]
    assert line["request_id"] == response.headers["x-request-id"]
    assert (line["operation"], line["outcome"]) == ("Currencies", "internal")
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].rstrip().endswith("RuntimeError: boom")


async def test_the_actor_is_the_key_id_never_its_secret(api: Api, lines: Lines) -> None:
    runtime = api.app.state.runtime
    key_id, secret = await create_key(
        runtime.engine, name="ops", role=Role.ADMIN, now=runtime.clock.now()
    )
    headers = {"authorization": f"Bearer {secret}"}
    await api.client.post("/graphql", json={"query": "{ viewer { kind } }"}, headers=headers)
    wrong = await api.client.post(
        "/graphql", json={"query": "{ viewer { kind } }"}, headers={"authorization": "Bearer x"}
    )

    [accepted, refused] = lines.requests()
    assert (accepted["actor"], accepted["outcome"]) == (f"key:{key_id}", "success")
    assert (refused["actor"], refused["outcome"], refused["status"]) == ("", "UNAUTHENTICATED", 401)
    assert refused["request_id"] == wrong.headers["x-request-id"]
    assert secret not in lines.stream.getvalue()


def test_a_terminal_gets_readable_text_and_anything_else_json() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert wants_json("auto", io.StringIO()) is True
    assert wants_json("auto", Terminal()) is False
    assert wants_json("json", Terminal()) is True
    assert wants_json("text", io.StringIO()) is False
    record = logging.LogRecord("credits.api", logging.INFO, __file__, 1, "started", (), None)
    record.request_id = "01JREQUEST"
    text = re.sub(r"\x1b\[[0-9;]*m", "", formatter(json=False).format(record))
    assert re.search(r"\[info\s*\] started\s+.*request_id=01JREQUEST", text), text
    terminal = Terminal()
    configure_logging("info", "auto", stream=terminal)
    try:
        assert logs.request_log is not None
        logs.request_log.write(logging.INFO, {"request_id": "01JREQUEST"}, None)
    finally:
        configure_logging("info", "json")
    text = re.sub(r"\x1b\[[0-9;]*m", "", terminal.getvalue())
    assert re.search(r"\[info\s*\] request\s+.*request_id=01JREQUEST", text), text
    with pytest.raises(ValueError, match="CREDITS_LOG_FORMAT"):
        create_app(Settings(log_format="xml"))


def test_uvicorn_logs_through_the_same_handler_and_its_access_log_is_off() -> None:
    uvicorn_error = logging.getLogger("uvicorn.error")
    uvicorn_error.addHandler(logging.NullHandler())  # as uvicorn's own config leaves it
    configure_logging("info", "json")

    assert logging.getLogger("uvicorn.access").hasHandlers() is False  # uvicorn skips it
    assert uvicorn_error.handlers == [] and uvicorn_error.propagate
    assert logging.getLogger("uvicorn").propagate


async def test_credits_serve_writes_json_lines_and_no_access_log(tmp_path: Path) -> None:
    environment = os.environ | {
        "CREDITS_DATABASE_URL": f"sqlite:///{tmp_path}/credits.db",
        "CREDITS_LOG_LEVEL": "info",
    }
    process = await asyncio.create_subprocess_exec(
        CREDITS,
        *("serve", "--host", "127.0.0.1", "--port", "0"),
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            url = await listening(process)
            async with httpx.AsyncClient() as client:
                hello = {"query": "query Hello { viewer { kind } }"}
                response = await client.post(url, json=hello)
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    logged = stderr.decode().splitlines()
    started = next(i for i, line in enumerate(logged) if "Application startup complete" in line)
    after = [json.loads(line) for line in logged[started:]]  # every line, once configured

    requests = [line for line in after if line["event"] == "request"]
    assert [(line["request_id"], line["operation"]) for line in requests] == [
        (response.headers["x-request-id"], "Hello")
    ]
    assert not any("HTTP/1.1" in line for line in logged)  # uvicorn's access log is off
    assert any(line["logger"] == "uvicorn.error" for line in after)


async def listening(process: asyncio.subprocess.Process) -> str:
    """The GraphQL URL `credits serve` announces once it listens."""
    assert process.stdout is not None
    while line := (await process.stdout.readline()).decode():
        if match := LISTENING.search(line):
            return f"{match.group(1)}/graphql"
    raise AssertionError("the server stopped before it listened")


async def test_a_failure_in_an_extension_hook_keeps_its_trace(
    api: Api, lines: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.api.view import OneOperation

    def broken(self: OneOperation) -> Iterator[None]:
        yield from ()  # a generator, as hooks are
        raise RuntimeError("hook broke")

    monkeypatch.setattr(OneOperation, "on_validate", broken)
    await api.client.post("/graphql", json={"query": "query Hello { viewer { kind } }"})

    [traced] = [line for line in lines.all() if line["logger"] == "strawberry.execution"]
    assert traced["level"] == "error"
    assert traced["exception"].rstrip().endswith("RuntimeError: hook broke")
    [request] = lines.requests()
    assert (request["level"], request["outcome"]) == ("error", "internal")
