import base64, json
from datetime import timedelta
from tests.api.test_queries_helpers import *


def cur(v):
    return base64.urlsafe_b64encode(json.dumps(v).encode()).decode()


async def test_probe(api, clock):
    c = await create_customer(api, "acme", "ÄPFEL Gmbh", labels={"tier": "gold"})
    g = await paid(api, c, "10")
    print(g)
    await consume(api, c, "k1", "3")
    for cursor in [cur(["2026-01-15T12:00:00Z", 10**30]), cur(["0001-01-01T00:00:00+05:00", 1]), cur(["9999-12-31T23:59:59-05:00", 1]), "!!!", cur([1]), cur(["2026-01-15T12:00:00", 1])]:
        body = await api.raw("query($c: String) { creditLedger(first: 2, after: $c) { edges { cursor } } }", c=cursor)
        print(cursor, json.dumps(body)[:300])
    body = await api.raw("query($c: String) { customers(first: 2, after: $c) { edges { cursor } } }", c=cur([10**30]))
    print(json.dumps(body)[:300])
    body = await api.raw("query($c: String, $id: ID!) { customer(id: $id) { creditGrants(first: 2, after: $c, orderBy: {field: PRIORITY}) { edges { cursor } } } }", c=cur([10**30, "x"]), id=c)
    print(json.dumps(body)[:300])
    body = await api.raw('query { customers(filter: {nameContains: "äpfel"}) { totalCount } }')
    print(json.dumps(body)[:300])
    body = await api.raw('query { customers(filter: {nameContains: "äpfel"}) { totalCount } }')
    print(json.dumps(body)[:300])
