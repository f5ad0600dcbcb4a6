"""The container files, read as Docker would (no Docker daemon here): the Dockerfile's
instructions and compose.yaml parsed. tests/cli/test_wheel.py runs the Dockerfile's steps
in a plain virtualenv: the same wheel build and install, entry point and health check."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]


def instructions(path: Path = ROOT / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; continuation lines joined, comments dropped."""
    steps: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        op, _, arguments = (pending + line).strip().partition(" ")
        steps.append((op.upper(), " ".join(arguments.split())))
        pending = ""
    return steps


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last:]


def image_environment(steps: list[tuple[str, str]]) -> dict[str, str]:
    """The final stage's ENV settings (KEY=VALUE form), PATH left out."""
    found: dict[str, str] = {}
    for op, arguments in final_stage(steps):
        if op == "ENV":
            found |= dict(pair.split("=", 1) for pair in shlex.split(arguments))
    found.pop("PATH", None)
    return found


def health_command(steps: list[tuple[str, str]]) -> list[str]:
    [check] = [arguments for op, arguments in steps if op == "HEALTHCHECK"]
    command: list[str] = json.loads(check.split(" CMD ", 1)[1])
    return command


def one(steps: list[tuple[str, str]], op: str) -> Any:
    [arguments] = [a for o, a in final_stage(steps) if o == op]
    return json.loads(arguments)


def test_the_image_is_slim_runs_as_a_non_root_user_and_checks_readyz() -> None:
    steps = instructions()
    bases = [arguments.split()[0] for op, arguments in steps if op == "FROM"]
    assert bases and all(base.startswith("python:3.") and base.endswith("-slim") for base in bases)
    users = [arguments for op, arguments in final_stage(steps) if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert (one(steps, "ENTRYPOINT"), one(steps, "CMD")) == (["credits"], ["serve"])
    assert "/readyz" in " ".join(health_command(steps))
    runs = [arguments for op, arguments in steps if op == "RUN"]
    assert any("pip wheel" in run and "--no-deps" in run for run in runs)
    assert any("pip install" in run and "/wheels/*.whl" in run for run in runs)
    assert image_environment(steps)["CREDITS_HOST"] == "0.0.0.0"


def test_dockerignore_sends_only_what_the_image_builds_from() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*"
    kept = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    copied = {
        source.rstrip("/")
        for op, arguments in instructions()
        if op == "COPY" and not arguments.startswith("--from")
        for source in arguments.split()[:-1]
    }
    assert kept == copied == {"pyproject.toml", "README.md", "LICENSE", "app"}


def test_compose_migrates_then_runs_two_servers_on_its_postgresql() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert postgres["healthcheck"]["test"][0] == "CMD-SHELL"
    credits = {name: s for name, s in services.items() if s.get("build") == "."}
    migrate = [name for name, s in credits.items() if s["command"] == ["migrate"]]
    servers = [name for name, s in credits.items() if s["command"] == ["serve"]]
    assert len(migrate) == 1 and len(servers) == 2
    assert credits[migrate[0]]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in servers:
        assert credits[name]["depends_on"] == {
            migrate[0]: {"condition": "service_completed_successfully"}
        }
    ports = [credits[name]["ports"][0].split(":") for name in servers]
    assert [inside for _, inside in ports] == ["8000", "8000"]
    assert len({outside for outside, _ in ports}) == 2
    database = postgres["environment"]["POSTGRES_DB"]
    for service in credits.values():
        url = make_url(service["environment"]["CREDITS_DATABASE_URL"])
        assert (url.drivername, url.host, url.database) == ("postgresql", "postgres", database)
