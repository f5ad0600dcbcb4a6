"""A real browser for the page tests: Debian's chromium driven by Playwright for Python.

Playwright never downloads a browser here: it launches /usr/bin/chromium (installed by
`scripts/install test` with apt-get). Without it, or without the playwright package, the
tests skip and say why, except under CI=true, where they fail instead. Screenshots go
to test-artifacts/browser/ (ignored by git).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: as root, `apt-get install chromium` (scripts/install test)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: run scripts/install test"
    return None


def require_browser() -> None:
    """Skip the calling test module (fail it under CI=true) when there is no browser."""
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run under CI=true: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One browser for the session (starting Playwright's driver and chromium takes
    seconds); each test opens its own page. Test modules run in the session's loop."""
    require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A page in a context of its own (fresh storage), closed after the test so that
    nothing it opened (WebSockets) outlives it."""
    context = await browser.new_context()
    page = await context.new_page()
    # a guard against a page that never gets there, not a speed check: under the
    # parallel suite a GraphiQL menu once took over 5 s to open
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        await context.close()
