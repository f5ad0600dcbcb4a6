"""The Mutation root: parse input, call one service, map the result or the expected error.

One module per area: customers (customers, custom currencies, portal tokens), grants
(purchase, promotional, settlement, void), consumption (consume, reverse), schedules
(create, cancel), thresholds (create, delete), webhooks (endpoints, redelivery);
`support` holds the role check and the mapping every mutation shares.
"""

from __future__ import annotations

import strawberry

from app.api.mutations import consumption, customers, grants, schedules, thresholds, webhooks


@strawberry.type(
    description="Writes. Each mutation is one transaction: all of it is written or none. "
    "Expected failures are members of its result union, implementing Error."
)
class Mutation:
    create_customer = customers.create_customer
    update_customer = customers.update_customer
    create_custom_currency = customers.create_custom_currency
    purchase_credits = grants.purchase_credits
    grant_promotional_credits = grants.grant_promotional_credits
    settle_credit_purchase = grants.settle_credit_purchase
    void_credit_grant = grants.void_credit_grant
    consume_credits = consumption.consume_credits
    reverse_credit_consumption = consumption.reverse_credit_consumption
    create_portal_token = customers.create_portal_token
    create_credit_grant_schedule = schedules.create_credit_grant_schedule
    cancel_credit_grant_schedule = schedules.cancel_credit_grant_schedule
    create_credit_threshold = thresholds.create_credit_threshold
    delete_credit_threshold = thresholds.delete_credit_threshold
    create_webhook_endpoint = webhooks.create_webhook_endpoint
    update_webhook_endpoint = webhooks.update_webhook_endpoint
    rotate_webhook_secret = webhooks.rotate_webhook_secret
    delete_webhook_endpoint = webhooks.delete_webhook_endpoint
    redeliver_webhook_event = webhooks.redeliver_webhook_event


__all__ = ["Mutation"]
