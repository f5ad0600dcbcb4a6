"""The wheel, installed into a fresh virtualenv, runs the `credits` command by itself.

The project is built into a wheel from a copy of its sources, installed with its
dependencies (pip, through its cache) into a virtualenv of its own, and its `credits`
entry point is run from a folder outside the checkout, so nothing but the installed
package can be imported: what a deployment from a wheel, a container or a registry gets.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.storage import migrations
from tests.cli.test_container import health_command, image_environment, instructions, one
from tests.cli.test_serving import announced_url
from tests.databases import empty_postgres
from tests.scale.support import free_port

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "app")

pytestmark = pytest.mark.wheel


@dataclass(frozen=True)
class Installed:
    """A virtualenv holding only the wheel and its dependencies, and a folder to run in."""

    venv: Path
    folder: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.venv / "bin" / "credits"), *args],
            cwd=self.folder,
            env=clean_environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check:
            assert done.returncode == 0, f"credits {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done

    def popen(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        with log.open("w") as out:
            return subprocess.Popen(
                [str(self.venv / "bin" / "credits"), *args],
                cwd=self.folder,
                env=clean_environment(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )


def clean_environment() -> dict[str, str]:
    """Ours, without anything that points Python or the server at the checkout."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTHON", "CREDITS_", "VIRTUAL_ENV"))
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(base)
    venv = base / "venv"
    # No pip of its own in the venv: the test environment's pip installs into it (faster).
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip(
        "--python", str(venv / "bin" / "python"), "install", "--disable-pip-version-check",
        str(wheel),
    )  # fmt: skip
    folder = base / "elsewhere"
    folder.mkdir()
    return Installed(venv, folder)


def build_wheel(base: Path) -> Path:
    """`pip wheel --no-deps .` on a copy of the sources: no stale build/ folder, none left."""
    source = base / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    pip("wheel", "--no-deps", "--disable-pip-version-check", "--wheel-dir", str(base), str(source))
    [wheel] = base.glob("credits_server-*.whl")
    return wheel


def pip(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"pip {' '.join(args)}:\n{done.stdout}{done.stderr}"


def test_the_installed_package_imports_from_the_virtualenv_not_the_checkout(
    installed: Installed,
) -> None:
    python = str(installed.venv / "bin" / "python")
    done = subprocess.run(
        [python, "-c", "import app.storage.migrations as m; print(m.__file__)"],
        cwd=installed.folder,
        env=clean_environment(),
        capture_output=True,
        text=True,
        check=True,
    )
    where = Path(done.stdout.strip())
    assert where.is_relative_to(installed.venv), where
    assert (where.parent / "env.py").is_file()


def test_the_installed_command_migrates_creates_a_key_serves_and_verifies_on_sqlite(
    installed: Installed,
) -> None:
    database = f"sqlite:///{installed.folder / 'credits.db'}"
    head = migrations.head_revision()

    migrated = installed.run("migrate", "--database-url", database)
    assert migrated.stdout.strip().endswith(f"is at revision {head} (head)")

    key = installed.run(
        "keys", "create", "--name", "x", "--role", "admin", "--database-url", database
    )
    assert key.stdout.startswith("created API key key_") and "named 'x'" in key.stdout

    with serving(installed, database) as url:
        assert httpx.get(url.removesuffix("/graphql") + "/readyz").status_code == 200

    verified = installed.run("verify", "--database-url", database)
    assert verified.stdout.strip() == "ledger verified: 0 entries, no differences"


def test_the_installed_command_migrates_postgresql(installed: Installed, postgres_url: str) -> None:
    with empty_postgres(postgres_url, "credits_wheel") as scratch:
        migrated = installed.run("migrate", "--database-url", scratch)
        assert f"is at revision {migrations.head_revision()} (head)" in migrated.stdout
        again = installed.run("migrate", "--database-url", scratch)
        assert f"is at revision {migrations.head_revision()} (head)" in again.stdout


@contextlib.contextmanager
def serving(installed: Installed, database: str) -> Iterator[str]:
    """`credits serve` on a free port until /readyz answers 200; yields its /graphql URL."""
    log = installed.folder / "serve.log"
    server = installed.popen("serve", "--port", "0", "--database-url", database, log=log)
    try:
        url = announced_url(log)
        ready = url.removesuffix("/graphql") + "/readyz"
        deadline = time.monotonic() + 20
        while httpx.get(ready).status_code != 200:
            assert time.monotonic() < deadline, f"/readyz never answered 200:\n{log.read_text()}"
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        # uvicorn shuts down cleanly, then dies of the signal it caught
        assert server.wait(timeout=10) in (0, -signal.SIGTERM), log.read_text()


def test_the_images_entry_point_and_health_check_run_from_the_installed_wheel(
    installed: Installed,
) -> None:
    """The Dockerfile's runtime stage, step by step, in the wheel's virtualenv: its ENV,
    a key (it listens on 0.0.0.0), its ENTRYPOINT and CMD, and its HEALTHCHECK command,
    which passes while the server is ready and fails once it has stopped."""
    steps = instructions()
    port = free_port()
    environment = clean_environment() | image_environment(steps)
    environment |= {
        "CREDITS_PORT": str(port),
        "CREDITS_DATABASE_URL": f"sqlite:///{installed.folder / 'image.db'}",
    }
    assert environment["CREDITS_HOST"] == "0.0.0.0"
    bin = installed.venv / "bin"

    def run(command: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, cwd=installed.folder, env=environment, capture_output=True, text=True
        )

    credits = [str(bin / one(steps, "ENTRYPOINT")[0])]
    assert run([*credits, "migrate"]).returncode == 0
    assert run([*credits, "keys", "create", "--name", "ops", "--role", "admin"]).returncode == 0
    health = [str(bin / "python"), *health_command(steps)[1:]]
    assert health_command(steps)[0] == "python"
    log = installed.folder / "image.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [*credits, *one(steps, "CMD")],
            cwd=installed.folder,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while run(health).returncode != 0:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"never healthy:\n{log.read_text()}"
            time.sleep(0.2)
        assert f"listening on http://0.0.0.0:{port}/graphql" in log.read_text()
    finally:
        server.terminate()
        assert server.wait(timeout=10) in (0, -signal.SIGTERM), log.read_text()
    assert run(health).returncode != 0
