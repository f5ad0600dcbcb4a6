"""The live dashboard page at ``/dashboard``: one customer's balances, grants, upcoming
expirations and ledger, kept live over a WebSocket by the graphql-ws client.

Everything is static (``static/dashboard``): the page asks for a portal token or an API
key and talks GraphQL to ``/graphql`` itself, so serving it grants nothing. It is on
where GraphiQL is, unless ``CREDITS_DASHBOARD`` says otherwise (``app.settings``).
"""

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from app.api.graphiql import gzipped_static

__all__ = ["STATIC_URL_PREFIX", "dashboard_routes"]

STATIC_URL_PREFIX = "/dashboard-static"

_STATIC_DIR = Path(__file__).resolve().parent / "static" / "dashboard"


async def _page(request: Request) -> Response:
    return FileResponse(_STATIC_DIR / "index.html", media_type="text/html")


def dashboard_routes() -> list[BaseRoute]:
    """The page and its assets (the vendored graphql-ws client among them), gzipped."""
    return [
        Route("/dashboard", _page, methods=["GET", "HEAD"]),
        Mount(STATIC_URL_PREFIX, app=gzipped_static(_STATIC_DIR), name="dashboard-static"),
    ]
