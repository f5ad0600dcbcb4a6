"""The HTTP side of the GraphQL endpoint: a request it cannot run answers a JSON error.

Strawberry answers such requests in text/plain, and some (a JSON body that is a string
or a number, invalid UTF-8, deep nesting) escape it as a bare 500. Here every one gets
a GraphQL `errors` body with an extensions.code and the request id, and nothing executes:
BAD_REQUEST with 400 (415 for a body that is not application/json), and
OPERATION_RESOLUTION_FAILURE (400) when the request does not name one operation of its
document (an unknown operationName, or several operations and none named).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import OperationDefinitionNode
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.extensions import SchemaExtension
from strawberry.http import GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from app.api import compiled
from app.api.context import Context
from app.api.guard import error_body

BAD_REQUEST = "BAD_REQUEST"
OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"


class GraphQLView(GraphQL[Context, None]):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope, receive))
        except HTTPException as error:
            response = refusal(error, scope.get("state", {}).get("request_id", ""))
        await response(scope, receive, send)

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        if request.method == "POST":
            media_type, _ = parse_content_type(request.content_type or "")
            if media_type != "application/json":
                raise HTTPException(415, "Send the operation as application/json")
        return await super().parse_http_body(request)

    def encode_json(self, data: object) -> str:
        """orjson: the JSON json.dumps writes with compact separators, UTF-8 text left
        unescaped, in a tenth of the time (a dashboard answers 400 kB). What orjson
        refuses (a lone surrogate echoed in an error, an integer beyond 64 bits) is
        written by json.dumps."""
        try:
            return orjson.dumps(data).decode()
        except (orjson.JSONEncodeError, UnicodeDecodeError):
            return json.dumps(data, separators=(",", ":"))

    def parse_json(self, data: str | bytes) -> Any:
        """The body, or a GET's variables or extensions: always one JSON object."""
        try:
            parsed = json.loads(data.decode() if isinstance(data, bytes) else data)
        except UnicodeDecodeError as error:
            raise HTTPException(400, "The request body is not valid UTF-8") from error
        except RecursionError as error:
            raise HTTPException(400, "The JSON is nested too deeply") from error
        except ValueError as error:
            raise HTTPException(400, f"The request is not valid JSON: {error}") from error
        if not isinstance(parsed, dict):
            raise HTTPException(
                400, "Expected a JSON object: one operation per request (no batching)"
            )
        return parsed


def refusal(error: HTTPException, request_id: str) -> Response:
    unresolved = isinstance(error.__cause__, CannotGetOperationTypeError)
    code = OPERATION_RESOLUTION_FAILURE if unresolved else BAD_REQUEST
    body = error_body(error.reason, request_id, code=code)
    return Response(body, status_code=error.status_code, media_type="application/json")


class OperationNotNamed(CannotGetOperationTypeError):
    def __init__(self, count: int) -> None:
        super().__init__(None)
        self.count = count

    def as_http_error_reason(self) -> str:
        return f"The document has {self.count} operations: name the one to run in operationName"


class SubscriptionOverHTTP(InvalidOperationTypeError):
    def __init__(self) -> None:
        super().__init__(OperationType.SUBSCRIPTION)

    def as_http_error_reason(self, method: str) -> str:
        return f"Subscriptions run over a WebSocket at /graphql, not over HTTP {method}"


class OneOperation(SchemaExtension):
    """Several operations and no operationName is an error, as the GraphQL spec says:
    Strawberry would run the first one. A subscription over HTTP is refused (400): it
    would otherwise end in a masked error."""

    def on_operation(self) -> Iterator[None]:
        # Before parsing, operation_name is only what the request gave.
        self.named = self.execution_context.operation_name is not None
        yield

    def on_validate(self) -> Iterator[None]:
        document = self.execution_context.graphql_document
        definitions = document.definitions if document else ()
        count = sum(isinstance(d, OperationDefinitionNode) for d in definitions)
        if count > 1 and not self.named:
            raise OperationNotNamed(count)
        context = self.execution_context.context
        over_http = not isinstance(getattr(context, "request", None), WebSocket)
        if over_http and self.execution_context.operation_type is OperationType.SUBSCRIPTION:
            raise SubscriptionOverHTTP()
        yield


class CompiledReads(SchemaExtension):
    """A validated query the compiled read path covers is answered by it (app.api.compiled)
    unless a limit or an argument check answered already; normal execution runs the rest.
    Registered after the extensions whose on_execute may answer first."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        settings = getattr(context.context, "settings", None)
        if context.result is None and getattr(settings, "compiled_reads", False):
            context.result = await compiled.answer(context)
        yield
