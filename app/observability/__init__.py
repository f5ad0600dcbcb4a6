"""What a running server tells its operators: metrics, logs and traces.

- `requests`: the ASGI middleware that times every HTTP request, counts it in the metrics
  and logs one line for it; what the GraphQL layer notes about the request on the way.
- `metrics`: the Prometheus metrics of a process (or of all workers of `serve --workers N`).
- `endpoint`: `GET /metrics`, and who may read it.
- `logs`: one JSON object a line (readable text on a terminal) through structlog.
- `tracing`: OpenTelemetry spans through Strawberry's extension, when it is installed.
"""
