"""Credentials that must not work: tampered, foreign, expired or revoked tokens and keys,
and malformed Authorization headers, each answered 401 UNAUTHENTICATED; and
createPortalToken's own answers (DESIGN §10, §11)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.domain.access import Role
from app.domain.time import FrozenClock
from app.services.customers import create_customer
from app.services.keys import create_key, revoke_key
from app.services.portal import sign_token
from app.services.signing import SigningKey, read_secret, rotate
from tests.access.support import assert_unauthenticated, data_of, post
from tests.api.conftest import Api, running_api

VIEWER = "{ viewer { kind customer { id } } }"
TOKEN = """
mutation($input: CreatePortalTokenInput!) {
  createPortalToken(input: $input) {
    __typename
    ... on CreatePortalTokenSuccess { token expiresAt customer { id } }
    ... on ValidationError { code issues { field message } }
    ... on NotFoundError { code id }
    ... on ForbiddenError { code }
  }
}"""
UNKNOWN_CUSTOMER = "cus_01M8N52KVS8X74JXHGVEN5EK4M"


@dataclass
class Setup:
    api: Api
    a: str  # customer ids
    b: str
    admin: str  # Authorization header values
    writer: str
    reader: str

    async def token(self, customer: str, expires_in: str = "PT1H") -> str:
        input = {"customerId": customer, "expiresIn": expires_in}
        data = await data_of(self.api.client, self.admin, TOKEN, input=input)
        token: str = data["createPortalToken"]["token"]
        return f"Bearer {token}"

    async def status(self, authorization: str | None) -> int:
        return (await post(self.api.client, authorization, VIEWER)).status_code


@asynccontextmanager
async def setup(path: Path, clock: FrozenClock, **settings: Any) -> AsyncIterator[Setup]:
    """An app with customers A and B and a key of each role; a second call on the same
    path is a restart of the same server (same database, keys and customers)."""
    async with running_api(path, clock, **settings) as api:
        runtime = api.app.state.runtime
        made = path / "made.txt"
        if not made.exists():  # the first start
            a, _ = await create_customer(runtime, key="alpha", name="Alpha")
            b, _ = await create_customer(runtime, key="bravo", name="Bravo")
            secrets = []
            for role in (Role.ADMIN, Role.WRITER, Role.READER):
                _, secret = await create_key(
                    runtime.engine, name=role.value.lower(), role=role, now=clock.now()
                )
                secrets.append(secret)
            made.write_text("\n".join([a, b, *secrets]))
        a, b, *secrets = made.read_text().split("\n")
        admin, writer, reader = (f"Bearer {secret}" for secret in secrets)
        yield Setup(api, a, b, admin, writer, reader)


def split(authorization: str) -> tuple[str, str]:
    """`Bearer pt_<payload>.<signature>` -> (payload, signature)."""
    payload, _, signature = authorization.removeprefix("Bearer pt_").partition(".")
    return payload, signature


def key_of(authorization: str) -> str:
    """The signing key id a token carries."""
    return decode(split(authorization)[0]).split("|")[2]


def encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(payload: str) -> str:
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()


# ---------------------------------------------------------------- portal tokens


async def test_a_portal_token_stands_for_its_customer(tmp_path: Path, clock: FrozenClock) -> None:
    async with setup(tmp_path, clock) as s:
        data = await data_of(s.api.client, s.writer, TOKEN, input={"customerId": s.a})
        made = data["createPortalToken"]
        assert made["__typename"] == "CreatePortalTokenSuccess"
        assert made["expiresAt"] == "2026-01-15T13:00:00Z"  # the default: PT1H from now
        assert made["customer"] == {"id": s.a}
        assert made["token"].startswith("pt_")
        viewer = await data_of(s.api.client, f"Bearer {made['token']}", VIEWER)
        assert viewer == {"viewer": {"kind": "PORTAL_TOKEN", "customer": {"id": s.a}}}


async def test_a_token_whose_payload_names_another_customer_is_refused(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with setup(tmp_path, clock) as s:
        token = await s.token(s.a)
        payload, signature = split(token)
        customer, expiry, key_id = decode(payload).split("|")
        assert (customer, key_id) == (s.a, "1")
        forged = f"Bearer pt_{encode(f'{s.b}|{expiry}|{key_id}')}.{signature}"
        assert_unauthenticated(await post(s.api.client, forged, VIEWER))


async def test_a_token_whose_payload_lives_longer_is_refused(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with setup(tmp_path, clock) as s:
        token = await s.token(s.a)
        payload, signature = split(token)
        customer, expiry, key_id = decode(payload).split("|")
        longer = encode(f"{customer}|{int(expiry) + 86_400 * 365}|{key_id}")
        assert_unauthenticated(await post(s.api.client, f"Bearer pt_{longer}.{signature}", VIEWER))


async def test_a_token_with_a_tampered_or_missing_signature_is_refused(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with setup(tmp_path, clock) as s:
        token = await s.token(s.a)
        assert await s.status(token) == 200
        payload, signature = split(token)
        other = split(await s.token(s.b))[1]
        flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
        for bad in (
            f"Bearer pt_{payload}.{flipped}",
            f"Bearer pt_{payload}.{signature[:-1]}",
            f"Bearer pt_{payload}.{signature}x",
            f"Bearer pt_{payload}.",
            f"Bearer pt_{payload}",
            f"Bearer pt_{payload}.{other}",  # a valid signature of another token
            f"Bearer pt_.{signature}",
        ):
            assert_unauthenticated(await post(s.api.client, bad, VIEWER))


async def test_a_token_signed_with_another_key_is_refused(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with setup(tmp_path, clock, signing_key="first signing key") as s:
        token = await s.token(s.a)
        assert await s.status(token) == 200
    # the same server restarted with another signing key: every token is void
    async with setup(tmp_path, clock, signing_key="second signing key") as s:
        assert_unauthenticated(await post(s.api.client, token, VIEWER))
        assert await s.status(s.reader) == 200  # API keys do not depend on it
    # restarted with the first key again: the token is good again
    async with setup(tmp_path, clock, signing_key="first signing key") as s:
        assert await s.status(token) == 200


async def test_without_a_signing_key_tokens_survive_a_restart(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with setup(tmp_path, clock) as s:
        token = await s.token(s.a)
        assert await s.status(token) == 200
    async with setup(tmp_path, clock) as s:  # the key is the database's, not the process's
        assert await s.status(token) == 200


async def test_two_servers_on_one_database_accept_each_others_tokens(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with setup(tmp_path, clock) as one, setup(tmp_path, clock) as two:
        assert one.api.app is not two.api.app
        for maker, checker in ((one, two), (two, one)):
            token = await maker.token(maker.a)
            assert await checker.status(token) == 200
            assert await maker.status(token) == 200


async def test_after_a_rotation_old_tokens_verify_and_new_ones_carry_the_new_key(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with setup(tmp_path, clock) as one, setup(tmp_path, clock) as two:
        old = await one.token(one.a, "P30D")
        assert await two.status(old) == 200  # key 1 is now in both processes' caches
        rotation = await rotate(one.api.app.state.runtime.engine, clock.now())
        assert (rotation.new_id, rotation.retired, rotation.removed) == (
            2,
            [(1, clock.now() + timedelta(days=30))],
            [],
        )
        for server in (one, two):  # both sign with key 2 at once, and both verify it
            new = await server.token(server.a)
            assert key_of(new) == "2"
            assert (await one.status(new), await two.status(new)) == (200, 200)
        clock.advance(timedelta(days=30) - timedelta(seconds=1))
        assert (await one.status(old), await two.status(old)) == (200, 200)
        clock.advance(timedelta(seconds=1))
        assert_unauthenticated(await post(two.api.client, old, VIEWER))


async def test_a_token_naming_an_unknown_or_malformed_key_is_refused(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with setup(tmp_path, clock) as s:
        engine = s.api.app.state.runtime.engine
        assert key_of(await s.token(s.a)) == "1"  # made on first need: no migration here
        secret = await read_secret(engine, 1)
        assert secret is not None
        expires_at = clock.now() + timedelta(hours=1)
        for key_id in ("2", "0", "01", "-1", "1 ", "\u0661", "9999999999", "env", ""):
            forged = sign_token(s.a, expires_at, SigningKey(key_id, secret))
            assert_unauthenticated(await post(s.api.client, f"Bearer {forged}", VIEWER))
        # key 2 was asked for before it existed: once made elsewhere, it works here
        await rotate(engine, clock.now())
        assert key_of(await s.token(s.a)) == "2"
        assert await s.status(await s.token(s.a)) == 200


async def test_with_the_signing_key_set_the_database_keys_neither_sign_nor_verify(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with (
        setup(tmp_path, clock) as database,
        setup(tmp_path, clock, signing_key="configured") as configured,
    ):
        from_configured = await configured.token(configured.a)
        from_database = await database.token(database.a)
        assert (key_of(from_configured), key_of(from_database)) == ("env", "1")
        assert await configured.status(from_configured) == 200
        assert_unauthenticated(await post(configured.api.client, from_database, VIEWER))
        assert_unauthenticated(await post(database.api.client, from_configured, VIEWER))


async def test_a_token_works_until_just_before_it_expires(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with setup(tmp_path, clock) as s:
        token = await s.token(s.a, "PT1H")
        clock.advance(timedelta(minutes=59, seconds=59))
        assert await s.status(token) == 200
        clock.advance(timedelta(seconds=1))  # exactly expiresAt
        assert_unauthenticated(await post(s.api.client, token, VIEWER))
        clock.advance(timedelta(days=1))
        assert_unauthenticated(await post(s.api.client, token, VIEWER))


async def test_a_30_day_token_expires_after_30_days(tmp_path: Path, clock: FrozenClock) -> None:
    async with setup(tmp_path, clock) as s:
        token = await s.token(s.a, "P30D")
        clock.advance(timedelta(days=30) - timedelta(seconds=1))
        assert await s.status(token) == 200
        clock.advance(timedelta(seconds=1))
        assert_unauthenticated(await post(s.api.client, token, VIEWER))


# ---------------------------------------------------------------- API keys and headers


async def test_a_revoked_key_is_refused_from_the_next_request(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with setup(tmp_path, clock) as s:
        engine = s.api.app.state.runtime.engine
        key_id, secret = await create_key(engine, name="temp", role=Role.ADMIN, now=clock.now())
        assert await s.status(f"Bearer {secret}") == 200
        assert await revoke_key(engine, key_id, clock.now())
        assert_unauthenticated(await post(s.api.client, f"Bearer {secret}", VIEWER))
        assert await s.status(s.admin) == 200  # other keys are untouched


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer  ",
        "Basic x",
        "Basic YWRtaW46YWRtaW4=",
        "garbage",
        "Bearer garbage",
        "Bearer ck_",
        "Bearer ck_01M8N52KVS8X74JXHGVEN5EK4M_secret",
        "Bearer pt_",
        "Bearer pt_.",
        "Bearer pt_!!!.???",
        "Token {admin}",
        "{admin}",
        "Bearer {admin}x",
        "Bearer {admin_cut}",
        "Bearer {admin_as_token}",
    ],
)
async def test_a_malformed_or_wrong_authorization_header_is_refused(
    tmp_path: Path, clock: FrozenClock, header: str
) -> None:
    async with setup(tmp_path, clock) as s:
        secret = s.admin.removeprefix("Bearer ")
        value = header.format(
            admin=secret, admin_cut=secret[:-1], admin_as_token="pt_" + secret.removeprefix("ck_")
        )
        assert_unauthenticated(await post(s.api.client, value, VIEWER))
        assert_unauthenticated(await post(s.api.client, value, "{ currencies { code } }"))


async def test_the_bearer_scheme_is_case_insensitive(tmp_path: Path, clock: FrozenClock) -> None:
    async with setup(tmp_path, clock) as s:
        secret = s.reader.removeprefix("Bearer ")
        for scheme in ("bearer", "BEARER"):
            assert await s.status(f"{scheme} {secret}") == 200


async def test_a_missing_header_is_refused_with_its_own_message(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with setup(tmp_path, clock) as s:
        missing = await post(s.api.client, None, VIEWER)
        bad = await post(s.api.client, "Bearer nope", VIEWER)
        assert_unauthenticated(missing)
        assert_unauthenticated(bad)
        assert missing.json()["errors"][0]["message"].startswith("Missing credentials")
        assert bad.json()["errors"][0]["message"].startswith(
            "Invalid, revoked or expired credentials"
        )


# ---------------------------------------------------------------- createPortalToken


@pytest.mark.parametrize(
    ("expires_in", "expires_at"),
    [
        ("PT1S", "2026-01-15T12:00:01Z"),
        ("PT720H", "2026-02-14T12:00:00Z"),
        ("P30D", "2026-02-14T12:00:00Z"),
    ],
)
async def test_create_portal_token_accepts_up_to_30_days(
    tmp_path: Path, clock: FrozenClock, expires_in: str, expires_at: str
) -> None:
    async with setup(tmp_path, clock) as s:
        input = {"customerId": s.a, "expiresIn": expires_in}
        made = (await data_of(s.api.client, s.admin, TOKEN, input=input))["createPortalToken"]
        assert (made["__typename"], made["expiresAt"]) == ("CreatePortalTokenSuccess", expires_at)


@pytest.mark.parametrize(
    ("expires_in", "message"),
    [
        ("P31D", "must be at most P30D"),
        ("P30DT1S", "must be at most P30D"),
        ("P1M", "must be at most P30D"),  # 31 days from January 15
        ("-P1D", "must be a positive duration"),
        pytest.param(
            "PT0S",
            "must be a positive duration",
        ),
    ],
)
async def test_create_portal_token_refuses_more_than_30_days_or_none(
    tmp_path: Path, clock: FrozenClock, expires_in: str, message: str
) -> None:
    async with setup(tmp_path, clock) as s:
        input = {"customerId": s.a, "expiresIn": expires_in}
        data = await data_of(s.api.client, s.admin, TOKEN, input=input)
        assert data == {
            "createPortalToken": {
                "__typename": "ValidationError",
                "code": "VALIDATION_FAILED",
                "issues": [{"field": ["input", "expiresIn"], "message": message}],
            }
        }


async def test_create_portal_token_for_an_unknown_customer_is_not_found(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with setup(tmp_path, clock) as s:
        data = await data_of(s.api.client, s.admin, TOKEN, input={"customerId": UNKNOWN_CUSTOMER})
        assert data == {
            "createPortalToken": {
                "__typename": "NotFoundError",
                "code": "NOT_FOUND",
                "id": UNKNOWN_CUSTOMER,
            }
        }


async def test_create_portal_token_with_a_malformed_id_is_a_validation_issue(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with setup(tmp_path, clock) as s:
        data = await data_of(s.api.client, s.admin, TOKEN, input={"customerId": "nope"})
        answer = data["createPortalToken"]
        assert answer["__typename"] == "ValidationError"
        assert [issue["field"] for issue in answer["issues"]] == [["input", "customerId"]]


async def test_create_portal_token_is_forbidden_to_a_reader_and_to_a_portal_token(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with setup(tmp_path, clock) as s:
        portal = await s.token(s.a)
        for authorization in (s.reader, portal):
            data = await data_of(s.api.client, authorization, TOKEN, input={"customerId": s.a})
            assert data == {
                "createPortalToken": {"__typename": "ForbiddenError", "code": "FORBIDDEN"}
            }
