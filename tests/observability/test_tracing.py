"""OpenTelemetry spans per operation when it is installed; no span per field, none unset."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import strawberry
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.util._once import Once

from app.observability import tracing
from tests.api.conftest import Api


def reset_tracer_provider() -> None:
    """OpenTelemetry lets a process set its tracer provider once; tests set it again (the
    way OpenTelemetry's own test utilities do)."""
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reset_tracer_provider()
    trace.set_tracer_provider(provider)
    try:
        yield exporter
    finally:
        reset_tracer_provider()


async def test_an_operation_is_one_span_with_its_parse_and_validation(
    exported: InMemorySpanExporter, api: Api
) -> None:
    """The provider is set before the app is made (as opentelemetry-instrument does)."""
    await api("query Hello { viewer { kind } customers(first: 2) { totalCount } }")

    spans = {span.name: span for span in exported.get_finished_spans()}
    assert set(spans) == {"GraphQL Query: Hello", "GraphQL Parsing", "GraphQL Validation"}
    operation = spans["GraphQL Query: Hello"]
    assert operation.kind is SpanKind.SERVER and operation.parent is None
    for child in ("GraphQL Parsing", "GraphQL Validation"):
        parent = spans[child].parent
        assert parent is not None and parent.span_id == operation.context.span_id


def test_tracing_is_on_only_with_a_provider_and_never_when_disabled_or_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @strawberry.type
    class Query:
        hello: str = "hi"

    schema = strawberry.Schema(query=Query)
    assert tracing.traced(schema).extensions == ()  # no provider: nothing to pay per request

    provider = TracerProvider()
    reset_tracer_provider()
    trace.set_tracer_provider(provider)
    try:
        with monkeypatch.context() as patched:
            patched.setattr("importlib.util.find_spec", lambda name: None)
            assert tracing.traced(schema).extensions == ()
        with monkeypatch.context() as patched:
            patched.setenv("OTEL_SDK_DISABLED", "true")
            assert tracing.traced(schema).extensions == ()
        assert [ext.__name__ for ext in tracing.traced(schema).extensions] == ["OperationSpans"]
        assert len(tracing.traced(schema).extensions) == 1  # added once
    finally:
        reset_tracer_provider()


IMPORTS = """
import sys
from app.main import create_app
from app.settings import Settings
create_app(Settings(database_url="sqlite:///unused.db"))
print(sorted({name.split(".")[0] for name in sys.modules if name.startswith("opentelemetry")}))
"""


def test_nothing_imports_opentelemetry_when_tracing_is_off() -> None:
    environment = os.environ | {"OTEL_SDK_DISABLED": "true"}
    run = subprocess.run(
        [sys.executable, "-c", IMPORTS],
        env=environment,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.stdout.strip() == "[]"
    assert "opentelemetry" in sys.modules  # here, with it enabled, the tests above used it
