"""`GET /export/ledger`: the ledger export (docs/operations.md) over HTTP, streamed.

For ADMIN and READER API keys (and OPEN mode, which acts as ADMIN); a WRITER key or a
portal token gets 403, no credentials 401. Parameters: format (jsonl, the default, or
csv), customerId, currency, from (inclusive) and to (exclusive) on bookedAt, RFC 3339.
A bad parameter answers 400 naming it. The request time limit does not apply: the
export is one snapshot streamed for as long as it takes (main.py exempts this path).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.api.auth import Authenticator
from app.domain.access import Role, ViewerKind
from app.services.export import ExportFormat, export_ledger
from app.storage.export import ExportFilter

EXPORT_PATH = "/export/ledger"
MEDIA_TYPES = {
    ExportFormat.JSONL: "application/jsonl; charset=utf-8",
    ExportFormat.CSV: "text/csv; charset=utf-8",
}
READERS = (Role.ADMIN, Role.READER)


class BadParameter(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


async def export_route(request: Request) -> Response:
    authenticator: Authenticator = request.app.state.authenticator
    viewer = await authenticator.viewer(request.headers.get("authorization"))
    if viewer is None:
        return _error(401, "UNAUTHENTICATED", "Send Authorization: Bearer <API key>")
    if viewer.kind is ViewerKind.PORTAL_TOKEN or viewer.role not in READERS:
        return _error(403, "FORBIDDEN", "The ledger export is for ADMIN and READER API keys")
    try:
        form, which = _parameters(request)
    except BadParameter as problem:
        return _error(400, "BAD_USER_INPUT", str(problem), field=problem.name)
    runtime = request.app.state.runtime
    chunks = export_ledger(runtime.engine, runtime.catalog, which, form)
    name = f"ledger.{form.value}"
    return StreamingResponse(
        _encoded(chunks),
        media_type=MEDIA_TYPES[form],
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


async def _encoded(chunks: AsyncGenerator[tuple[str, int], None]) -> AsyncIterator[bytes]:
    """The text as bytes; a client gone midway closes the snapshot at once."""
    async with contextlib.aclosing(chunks):
        async for text, _ in chunks:
            yield text.encode()


def _parameters(request: Request) -> tuple[ExportFormat, ExportFilter]:
    query = request.query_params
    raw = query.get("format", "jsonl")
    try:
        form = ExportFormat(raw)
    except ValueError:
        raise BadParameter("format", f"format is jsonl or csv, not {raw!r}") from None
    which = ExportFilter(
        customer_id=query.get("customerId"),
        currency=query.get("currency"),
        booked_from=_instant(query.get("from"), "from"),
        booked_before=_instant(query.get("to"), "to"),
    )
    return form, which


def _instant(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:  # a "+" left unencoded in a query string arrives as a space
        value = datetime.fromisoformat(text.replace(" ", "+"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise BadParameter(name, f"{name} is an RFC 3339 instant such as 2026-01-31T00:00:00Z")
    return value


def _error(status: int, code: str, message: str, *, field: str | None = None) -> Response:
    extensions: dict[str, object] = {"code": code}
    if field is not None:
        extensions["field"] = field
    body = {"data": None, "errors": [{"message": message, "extensions": extensions}]}
    headers = {"www-authenticate": "Bearer"} if status == 401 else None
    return Response(json.dumps(body), status, headers, media_type="application/json")
