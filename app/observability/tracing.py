"""OpenTelemetry spans for GraphQL operations, through Strawberry's extension.

On when the `otel` extra is installed (`pip install 'credits-server[otel]'`), a tracer
provider is configured as the app is made (`opentelemetry-instrument` sets one up before
anything runs; OTEL_PYTHON_TRACER_PROVIDER names one) and OTEL_SDK_DISABLED is not
`true`. Otherwise the extension is not installed and costs nothing; with OTEL_SDK_DISABLED
or without the extra, nothing here imports OpenTelemetry.

One span per operation, with its parse and validation as children. Strawberry's extension
would also make one per resolved field, which puts a middleware on every field of every
query: left out, so tracing costs the same for a page of 500 rows as for one.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Generator
from typing import Any

from strawberry import Schema
from strawberry.extensions import SchemaExtension


def enabled() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if importlib.util.find_spec("opentelemetry") is None:
        return False
    from opentelemetry import trace
    from opentelemetry.trace import ProxyTracerProvider

    return not isinstance(trace.get_tracer_provider(), ProxyTracerProvider)


def operation_spans() -> type[SchemaExtension]:
    from opentelemetry import trace
    from opentelemetry.trace import ProxyTracerProvider
    from strawberry.extensions.tracing.opentelemetry import OpenTelemetryExtension

    class OperationSpans(OpenTelemetryExtension):
        resolve = SchemaExtension.resolve  # type: ignore[assignment]  # no span or middleware per field

        def __init__(self, *, execution_context: Any = None) -> None:
            self._arg_filter = None
            self._span_holder = {}
            self.active = False
            if execution_context is not None:
                self.execution_context = execution_context

        def on_operation(self) -> Generator[None, None, None]:
            provider = trace.get_tracer_provider()
            self.active = not isinstance(provider, ProxyTracerProvider)
            if not self.active:
                yield
                return
            self._tracer = provider.get_tracer("credits-server")
            yield from super().on_operation()

        def on_parse(self) -> Generator[None, None, None]:
            if self.active:
                yield from super().on_parse()
            else:
                yield

        def on_validate(self) -> Generator[None, None, None]:
            if self.active:
                yield from super().on_validate()
            else:
                yield

    return OperationSpans


def traced(schema: Schema) -> Schema:
    """The schema, with operation spans among its extensions when tracing is enabled
    (added once: the schema is built once per process and shared by its apps)."""
    if not enabled():
        return schema
    if not any(getattr(ext, "__name__", "") == "OperationSpans" for ext in schema.extensions):
        schema.extensions = (*schema.extensions, operation_spans())
    return schema
