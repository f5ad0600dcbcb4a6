"""Every error leaves with an `extensions.code`; unexpected failures leave masked.

Errors before execution carry no path: a syntax error is GRAPHQL_PARSE_FAILED, a bad
variable value BAD_USER_INPUT, any other a GRAPHQL_VALIDATION_FAILED. An error during
execution that no code names is unexpected: the client sees `Internal server error`
with the request id, and the log has the trace under the same id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import MaskErrors, ParserCache

log = logging.getLogger("credits.api")

INPUT_ERRORS = ("StrawberryInputCoercionError",)


def code_of(error: GraphQLError) -> str | None:
    """The code an error should carry, or None when it is an unexpected failure."""
    if error.extensions and error.extensions.get("code"):
        return str(error.extensions["code"])
    if isinstance(error, GraphQLSyntaxError) or isinstance(
        error.original_error, GraphQLSyntaxError
    ):
        return "GRAPHQL_PARSE_FAILED"
    if error.path is None:
        if error.message.startswith("Variable '$"):
            return "BAD_USER_INPUT"
        return "GRAPHQL_VALIDATION_FAILED"
    original = error.original_error
    if original is None or type(original).__name__ in INPUT_ERRORS:
        return "BAD_USER_INPUT"
    return None


class MaskInternalErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda error: code_of(error) is None)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [self.with_code(error) for error in super()._process_errors(errors)]

    @staticmethod
    def with_code(error: GraphQLError) -> GraphQLError:
        code = code_of(error)
        if (error.extensions and error.extensions.get("code")) or code is None:
            return error
        return GraphQLError(
            error.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=error.original_error,
            extensions={**(error.extensions or {}), "code": code},
        )

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        context = self.execution_context.context
        request_id = getattr(context, "request_id", None) or "unknown"
        log.error("request %s failed", request_id, exc_info=error.original_error)
        return GraphQLError(
            "Internal server error",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        )


class CodedParserCache(ParserCache):
    """The parser cache, with GRAPHQL_PARSE_FAILED on syntax errors (raised from this hook,
    they bypass the result processing of MaskInternalErrors)."""

    def on_parse(self) -> Iterator[None]:
        try:
            yield from super().on_parse()
        except GraphQLSyntaxError as error:
            raise GraphQLError(
                error.message,
                source=error.source,
                positions=error.positions,
                extensions={"code": "GRAPHQL_PARSE_FAILED"},
            ) from error
