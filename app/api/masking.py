"""Every error leaves with an `extensions.code`; unexpected failures leave masked.

Errors before execution carry no path: a syntax error is GRAPHQL_PARSE_FAILED, a bad
variable value BAD_USER_INPUT, any other a GRAPHQL_VALIDATION_FAILED. An error during
execution that no code names is unexpected: the client sees `Internal server error`
with the request id, and the log has the trace under the same id (in the request's log
line over HTTP, in a line of its own on a WebSocket).

Strawberry logs every error at ERROR with its trace: `ExpectedErrorsAtInfo` keeps an
expected one (it has a code) at INFO without the trace, and drops an unexpected one,
which is logged here once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import MaskErrors, ParserCache

from app.observability.requests import observation

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

    def on_operation(self) -> Iterator[None]:
        try:
            yield from super().on_operation()
        finally:  # the request's log line and metrics name the operation, even a failed one
            observed = observation()
            context = self.execution_context
            name = context.operation_name
            if observed is not None and (name is not None or context.graphql_document):
                observed.operation = name or ""  # "": a document with no name

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [self.with_code(error) for error in super()._process_errors(errors)]

    def _process_result(self, result: object) -> None:
        # Strawberry asks isinstance of a runtime Protocol first: tens of microseconds for
        # every result, and a live change streams one to each subscriber.
        if getattr(result, "errors", None):
            super()._process_result(result)

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
        observed = observation()
        if observed is not None and observed.error is None:
            observed.error = error.original_error or error  # logged with the request
        else:
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


class ExpectedErrorsAtInfo(logging.Filter):
    """On Strawberry's logger ("strawberry.execution"), which logs each GraphQL error."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.msg
        if not isinstance(error, GraphQLError):
            return True
        if escaped_a_hook(error):
            return True  # logged nowhere else: it keeps its level and trace
        code = code_of(error)
        if code is None or not logging.getLogger(record.name).isEnabledFor(logging.INFO):
            return False
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.msg, record.args = f"{code}: {error.message}", ()
        record.exc_info, record.exc_text = None, None
        observed = observation()
        if observed is not None:
            record.request_id = observed.request_id
        return True


def escaped_a_hook(error: GraphQLError) -> bool:
    """An exception raised outside execution (in an extension's hook): Strawberry answers
    it as an error without a path, which masking never sees."""
    original = error.original_error
    return (
        error.path is None
        and original is not None
        and not isinstance(original, GraphQLError)
        and not error.message.startswith("Variable '$")
    )


def log_expected_errors_at_info() -> None:
    logger = logging.getLogger("strawberry.execution")
    if not any(isinstance(f, ExpectedErrorsAtInfo) for f in logger.filters):
        logger.addFilter(ExpectedErrorsAtInfo())
