"""A subscription sent over HTTP is a 400 with a JSON error, not a masked failure:
subscriptions run over a WebSocket (DESIGN §9)."""

from __future__ import annotations

from tests.api.conftest import Api

SUBSCRIPTION = (
    'subscription { creditGrantChanged(customerId: "cus_01JABCDEFGHJKMNPQRSTVWXYZ0") { id } }'
)


async def test_a_subscription_over_http_post_is_a_bad_request(api: Api) -> None:
    response = await api.client.post("/graphql", json={"query": SUBSCRIPTION})

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    error = response.json()["errors"][0]
    assert error["message"] == (
        "Subscriptions run over a WebSocket at /graphql, not over HTTP POST"
    )
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
