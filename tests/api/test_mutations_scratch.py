import json


async def test_scratch(api, clock):
    q = """mutation($input: CreateCustomerInput!) { createCustomer(input: $input) {
      __typename ... on CreateCustomerSuccess { replayed customer { id key name description labels { key value } createdAt updatedAt } }
      ... on Error { code message } ... on ValidationError { issues { field message } } ... on KeyConflictError { key } } }"""
    r = await api.raw(q, input={"key": "acme", "name": "Acme", "labels": [{"key": "tier", "value": "gold"}]})
    print(json.dumps(r))
    cid = r["data"]["createCustomer"]["customer"]["id"]
    p = """mutation($input: PurchaseCreditsInput!) { purchaseCredits(input: $input) { __typename
      ... on CreditGrantSuccess { replayed grant { id status amount remaining purchase { currency perUnitCostBasis amount settlementStatus availabilityPolicy authorizedAt settledAt } effectiveAt expiresAt createdAt }
       balance { currency at available pending funded sequence availablePaid availablePromotional } }
      ... on Error { code message } ... on ValidationError { issues { field message } } } }"""
    r = await api.raw(p, input={"customerId": cid, "name": "Pack", "currency": "USD", "amount": "3", "fundingMethod": "INVOICE", "purchase": {"perUnitCostBasis": "0.125"}})
    print(json.dumps(r))
    for bad in [1.5, "abc"]:
        r = await api.raw(p, input={"customerId": cid, "name": "Pack", "currency": "USD", "amount": bad, "fundingMethod": "INVOICE"})
        print(json.dumps(r))
    r = await api.raw("mutation { createCustomer(input: {key: \"x\", name: \"y\"}) { nope } }")
    print(json.dumps(r))
    r = await api.raw("mutation { createCustomer(")
    print(json.dumps(r))
    r = await api.raw(p, input={"customerId": cid, "name": "Pack", "currency": "USD", "amount": "1", "fundingMethod": "INVOICE", "effectiveAt": "2026-02-01T00:00:00", "expiresAt": "garbage"})
    print(json.dumps(r))
