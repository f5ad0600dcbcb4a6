"""An offline GraphiQL page backed by browser assets vendored in ``static/graphiql``.

Strawberry's bundled GraphiQL page loads React and GraphiQL from a CDN, which is a
blank page without internet access. This module serves GraphiQL's production build
from the package itself (``static/graphiql/README.md`` lists versions and licenses;
``scripts/vendor-assets`` refreshes them), gzipped, with a favicon, and opens two tabs:
the README's first session and a live balance subscription.
"""

import json
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

__all__ = [
    "AUTHORIZATION_TEMPLATE",
    "STATIC_URL_PREFIX",
    "default_tabs",
    "favicon_route",
    "graphiql_html",
    "graphiql_mount",
    "gzipped_static",
]

STATIC_URL_PREFIX = "/graphiql-static"

_STATIC_DIR = Path(__file__).resolve().parent / "static" / "graphiql"

# Prefilled in every tab. The page leaves out any header whose value still holds a
# <placeholder>, so the unedited template works in OPEN mode (no key needed).
AUTHORIZATION_TEMPLATE = {"Authorization": "Bearer <API key or portal token>"}

_FIRST_SESSION_INTRO = """\
# The README's first session. Run CreateCustomer
# first (the ▶ button asks which operation), put
# the id it returns into Variables, then run the
# others in order.
# Headers: replace <API key or portal token> with
# yours. In OPEN mode (no API key exists yet)
# leave it: a header still holding <…> is not sent.

"""

_LIVE_BALANCE = """\
# A live balance: the current balance at once,
# then one after every change. Put a customer's
# id into Variables and run it, then consume or
# grant credits in another tab and watch it move.
subscription LiveBalance($customerId: ID!) {
  creditBalanceChanged(customerId: $customerId, currency: "USD") {
    available
    pending
    availablePromotional
    availablePaid
    sequence
  }
}
"""

_CUSTOMER_VARIABLES = '{\n  "customerId": "the id CreateCustomer returns (cus_…)"\n}'

_PAGE = Template("""\
<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="robots" content="noindex" />
    <title>Credits GraphiQL</title>
    <link rel="icon" href="$prefix/favicon.svg" type="image/svg+xml" />
    <style>
      html, body { height: 100%; margin: 0; overflow: hidden; width: 100%; }
      #graphiql { height: 100vh; }
    </style>
    <link rel="stylesheet" href="$prefix/graphiql.min.css" />
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL...</div>
    <script src="$prefix/react.production.min.js"></script>
    <script src="$prefix/react-dom.production.min.js"></script>
    <script src="$prefix/graphiql.min.js"></script>
    <script>
      (function () {
        var config = $config;
        var url = new URL(config.endpoint, window.location.href);
        var subscriptionUrl = new URL(url.href);
        subscriptionUrl.protocol = url.protocol === "https:" ? "wss:" : "ws:";
        // Headers go over HTTP and, for subscriptions, into connection_init.
        var fetch = GraphiQL.createFetcher({
          url: url.href,
          subscriptionUrl: subscriptionUrl.href,
        });
        function fetcher(params, options) {
          var headers = Object.assign({}, options && options.headers);
          Object.keys(headers).forEach(function (name) {
            if (/<[^>]*>/.test(String(headers[name]))) delete headers[name];
          });
          return fetch(params, Object.assign({}, options, { headers: headers }));
        }
        var root = ReactDOM.createRoot(document.getElementById("graphiql"));
        root.render(
          React.createElement(GraphiQL, {
            fetcher: fetcher,
            defaultTabs: config.tabs,
            defaultHeaders: config.headers,
            defaultEditorToolsVisibility: true,
          })
        );
      })();
    </script>
  </body>
</html>
""")


def _js_value(value: Any) -> str:
    """Encode ``value`` as a JavaScript literal safe inside a <script> element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@cache
def default_tabs() -> list[dict[str, str]]:
    """The tabs GraphiQL opens with (until the browser has tabs of its own saved)."""
    headers = json.dumps(AUTHORIZATION_TEMPLATE, indent=2)
    first_session = (_STATIC_DIR / "first-session.graphql").read_text(encoding="utf-8")
    return [
        {
            "query": _FIRST_SESSION_INTRO + first_session,
            "variables": _CUSTOMER_VARIABLES,
            "headers": headers,
        },
        {"query": _LIVE_BALANCE, "variables": _CUSTOMER_VARIABLES, "headers": headers},
    ]


def gzipped_static(directory: Path) -> GZipMiddleware:
    """Files under ``directory``, gzipped for clients that accept it (the GraphiQL
    bundle goes from about 1 MB to about 300 kB)."""
    return GZipMiddleware(StaticFiles(directory=directory), minimum_size=1024, compresslevel=6)


def graphiql_mount() -> Mount:
    """Serve the vendored GraphiQL assets at :data:`STATIC_URL_PREFIX`."""
    return Mount(STATIC_URL_PREFIX, app=gzipped_static(_STATIC_DIR), name="graphiql-static")


async def _favicon(request: Request) -> Response:
    return FileResponse(_STATIC_DIR / "favicon.ico", media_type="image/x-icon")


def favicon_route() -> Route:
    """``/favicon.ico``, which browsers ask for whatever the page declares."""
    return Route("/favicon.ico", _favicon, methods=["GET", "HEAD"])


def graphiql_html(endpoint: str = "/graphql") -> str:
    """Return a GraphiQL page for ``endpoint`` that loads only local assets.

    Queries go over HTTP to ``endpoint``; subscriptions use ``ws://`` (or ``wss://``)
    on the same host and path, derived from ``window.location`` in the browser.
    """
    headers = json.dumps(AUTHORIZATION_TEMPLATE, indent=2)
    config = {"endpoint": endpoint, "tabs": default_tabs(), "headers": headers}
    return _PAGE.substitute(prefix=STATIC_URL_PREFIX, config=_js_value(config))
