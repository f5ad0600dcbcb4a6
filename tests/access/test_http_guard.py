"""The HTTP side of access: GraphiQL's page needs no credentials, every GraphQL request
over GET or POST does; with introspection off, schema queries are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.access import Role
from app.domain.time import FrozenClock
from app.services.customers import create_customer
from app.services.keys import create_key
from tests.access.support import assert_unauthenticated, data_of, post
from tests.api.conftest import running_api

CUSTOMERS = "{ customers { totalCount } }"


async def test_the_graphiql_page_needs_no_credentials(tmp_path: Path, clock: FrozenClock) -> None:
    async with running_api(tmp_path, clock) as api:
        await create_key(api.app.state.runtime.engine, name="ops", role=Role.ADMIN, now=clock.now())
        page = await api.client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "graphiql" in page.text.lower()


async def test_a_query_over_get_needs_credentials(tmp_path: Path, clock: FrozenClock) -> None:
    async with running_api(tmp_path, clock) as api:
        engine = api.app.state.runtime.engine
        _, secret = await create_key(engine, name="ops", role=Role.READER, now=clock.now())
        for accept in ("application/json", "text/html"):
            refused = await api.client.get(
                "/graphql", params={"query": CUSTOMERS}, headers={"Accept": accept}
            )
            assert_unauthenticated(refused)
        answered = await api.client.get(
            "/graphql",
            params={"query": CUSTOMERS},
            headers={"Accept": "application/json", "Authorization": f"Bearer {secret}"},
        )
        assert answered.status_code == 200
        assert answered.json() == {"data": {"customers": {"totalCount": 0}}}


async def test_a_percent_encoded_query_parameter_still_needs_credentials(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with running_api(tmp_path, clock) as api:
        runtime = api.app.state.runtime
        await create_key(runtime.engine, name="ops", role=Role.ADMIN, now=clock.now())
        await create_customer(runtime, key="secret-customer", name="Secret")
        response = await api.client.get(
            "/graphql?%71uery=%7B%20customers%20%7B%20totalCount%20%7D%20%7D",
            headers={"Accept": "text/html"},
        )
        assert response.status_code == 401, response.text


async def test_a_post_with_an_html_accept_header_still_needs_credentials(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with running_api(tmp_path, clock) as api:
        await create_key(api.app.state.runtime.engine, name="ops", role=Role.ADMIN, now=clock.now())
        response = await api.client.post(
            "/graphql", json={"query": CUSTOMERS}, headers={"Accept": "text/html"}
        )
        assert_unauthenticated(response)


# ---------------------------------------------------------------- introspection

SCHEMA = "{ __schema { types { name } } }"
TYPE = '{ __type(name: "Query") { name } }'


@pytest.mark.parametrize(("query", "field"), [(SCHEMA, "__schema"), (TYPE, "__type")])
async def test_with_introspection_off_schema_queries_are_refused(
    tmp_path: Path, clock: FrozenClock, query: str, field: str
) -> None:
    async with running_api(tmp_path, clock, introspection=False) as api:
        _, secret = await create_key(
            api.app.state.runtime.engine, name="ops", role=Role.ADMIN, now=clock.now()
        )
        response = await post(api.client, f"Bearer {secret}", query)
        body = response.json()
        assert response.status_code == 200
        assert body["data"] is None
        first = body["errors"][0]
        assert first["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
        assert first["message"] == (
            "GraphQL introspection has been disabled, but the requested query contained "
            f"the field '{field}'."
        )
        assert {error["extensions"]["code"] for error in body["errors"]} == {
            "GRAPHQL_VALIDATION_FAILED"
        }
        # normal queries, __typename included, still work
        data = await data_of(api.client, f"Bearer {secret}", "{ __typename viewer { role } }")
        assert data == {"__typename": "Query", "viewer": {"role": "ADMIN"}}


async def test_with_introspection_on_schema_queries_are_answered(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with running_api(tmp_path, clock) as api:
        data = await data_of(api.client, None, SCHEMA)
        names = {t["name"] for t in data["__schema"]["types"]}
        assert {"Query", "Mutation", "Subscription", "Viewer", "ApiKeyRole"} <= names
