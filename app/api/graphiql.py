"""An offline GraphiQL page backed by browser assets vendored in ``static/graphiql``.

Strawberry's bundled GraphiQL page loads React and GraphiQL from a CDN, which is a
blank page without internet access. This module serves the same UMD builds from the
package itself (see ``static/graphiql/README.md`` for versions and licenses).
"""

import json
from pathlib import Path
from string import Template

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

__all__ = ["STATIC_URL_PREFIX", "graphiql_html", "graphiql_mount"]

STATIC_URL_PREFIX = "/graphiql-static"

_STATIC_DIR = Path(__file__).resolve().parent / "static" / "graphiql"

_DEFAULT_QUERY = """\
# Welcome to the Credits GraphQL API.
{
  currencies {
    code
    name
    scale
    custom
  }
}
"""

_PAGE = Template("""\
<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <meta name="robots" content="noindex" />
    <title>Credits GraphiQL</title>
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
        var url = new URL($endpoint, window.location.href);
        var subscriptionUrl = new URL(url.href);
        subscriptionUrl.protocol = url.protocol === "https:" ? "wss:" : "ws:";
        var fetcher = GraphiQL.createFetcher({
          url: url.href,
          subscriptionUrl: subscriptionUrl.href,
        });
        var root = ReactDOM.createRoot(document.getElementById("graphiql"));
        root.render(
          React.createElement(GraphiQL, {
            fetcher: fetcher,
            defaultQuery: $default_query,
          })
        );
      })();
    </script>
  </body>
</html>
""")


def _js_string(value: str) -> str:
    """Encode ``value`` as a JavaScript string literal safe inside a <script> element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def graphiql_mount() -> Mount:
    """Serve the vendored GraphiQL assets at :data:`STATIC_URL_PREFIX`."""
    return Mount(
        STATIC_URL_PREFIX,
        app=StaticFiles(directory=_STATIC_DIR),
        name="graphiql-static",
    )


def graphiql_html(endpoint: str = "/graphql") -> str:
    """Return a GraphiQL page for ``endpoint`` that loads only local assets.

    Queries go over HTTP to ``endpoint``; subscriptions use ``ws://`` (or ``wss://``)
    on the same host and path, derived from ``window.location`` in the browser.
    """
    return _PAGE.substitute(
        prefix=STATIC_URL_PREFIX,
        endpoint=_js_string(endpoint),
        default_query=_js_string(_DEFAULT_QUERY),
    )
