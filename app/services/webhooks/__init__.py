"""Webhooks (docs/webhooks.md): endpoints, the outbox written with each change, payloads,
and the delivery of what the outbox holds."""
