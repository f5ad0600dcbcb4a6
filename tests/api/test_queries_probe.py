import json
from tests.api.test_queries_helpers import *


async def test_probe(api, clock):
    c = await create_customer(api, "acme")
    await promo(api, c, "10", expiresAfter="P5D")
    q = "query($id: ID!, $f: CreditLedgerFilter) { customer(id: $id) { creditLedger(filter: $f) { totalCount } } }"
    for f in [{"bookedFrom": "2026-01-15T12:00:00"}, {"bookedBefore": "2026-01-15T13:00:00"}, {"bookedFrom": "0001-01-01T00:00:00+05:00"}, {"bookedBefore": "9999-12-31T23:59:59-05:00"}, {"bookedFrom": "garbage"}]:
        print(f, json.dumps(await api.raw(q, id=c, f=f))[:250])
    for at in ["2026-01-15T11:00:00", "0001-01-01T00:00:00+05:00", "2026-01-15T11:00:00+00:00"]:
        print(at, json.dumps(await api.raw('query($id: ID!, $at: DateTime) { customer(id: $id) { creditBalance(currency: "USD", at: $at) { available at } creditBalances(at: $at) { available } } }', id=c, at=at))[:300])
    for w in ["-P1D", "P10000Y", "P0D", "PT0S", "P1M", "garbage", "P9999999999D"]:
        print(w, json.dumps(await api.raw('query($id: ID!, $w: Duration!) { customer(id: $id) { upcomingCreditExpirations(within: $w) { amount } } }', id=c, w=w))[:300])
    print(json.dumps(await api.raw('{ customers(first: 2, filter: {labels: [{key: "a", value: "b"}, {key: "a", value: "c"}]}) { totalCount } }')))
    print(json.dumps(await api.raw('query($id: ID!) { customer(id: $id) { creditGrants(filter: {status: []}) { totalCount } creditLedger(filter: {types: []}) { totalCount } } }', id=c)))
