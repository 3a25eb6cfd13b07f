"""Authentication end to end through the HTTP API: the local provider, refresh tokens, access tokens,
Supabase tokens (HS256 and JWKS) and the login rate limit."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from api.app import create_app
from api.resources import Resources
from core.models import RefreshToken, User
from core.security import LOCAL_AUDIENCE, LOCAL_ISSUER
from core.settings import Settings
from tests.conftest import TEST_SECRET, Factory, Servers, make_settings

API = "/api/v1"
PASSWORD = "correct horse battery"
SUPABASE_URL = "https://project.supabase.test"
SUPABASE_ISSUER = f"{SUPABASE_URL}/auth/v1"
SUPABASE_JWKS_URL = f"{SUPABASE_ISSUER}/.well-known/jwks.json"
SUPABASE_SECRET = "supabase-project-jwt-secret-long-enough-for-hs256-0123456789"
HOUR_AGO = int(time.time()) - 3600


# --- helpers: requests and assertions ---------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(
    client: httpx.AsyncClient, email: str, *, password: str = PASSWORD, full_name: str = "Ana"
) -> httpx.Response:
    return await client.post(
        f"{API}/auth/register", json={"email": email, "password": password, "full_name": full_name}
    )


async def login(client: httpx.AsyncClient, email: str, *, password: str = PASSWORD) -> httpx.Response:
    return await client.post(f"{API}/auth/login", json={"email": email, "password": password})


async def registered_login(client: httpx.AsyncClient, email: str = "ana@example.com") -> dict[str, Any]:
    """Register `email` and log in; the token pair."""
    assert (await register(client, email)).status_code == 201
    response = await login(client, email)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post(f"{API}/auth/refresh", json={"refresh_token": refresh_token})


async def me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(f"{API}/auth/me", headers=bearer(token))


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response has `status` and the one error shape; the error object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


def assert_unauthorized(response: httpx.Response) -> dict[str, Any]:
    error = assert_error(response, 401)
    assert error["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    return error


# --- helpers: stored state -----------------------------------------------------------------------------


async def stored_users(resources: Resources) -> list[User]:
    async with resources.sessionmaker() as session:
        return list(await session.scalars(sa.select(User).order_by(User.created_at)))


async def stored_refresh_tokens(resources: Resources) -> list[RefreshToken]:
    async with resources.sessionmaker() as session:
        return list(await session.scalars(sa.select(RefreshToken).order_by(RefreshToken.created_at)))


async def execute(resources: Resources, statement: sa.Executable) -> None:
    async with resources.sessionmaker() as session:
        await session.execute(statement)
        await session.commit()


async def deactivate(resources: Resources, email: str) -> None:
    await execute(resources, sa.update(User).where(User.email == email).values(is_active=False))


# --- helpers: tokens signed in the test ------------------------------------------------------------------


def claims_with(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`base` updated by `overrides`; an override of None removes the claim."""
    merged = {**base, **overrides}
    return {name: value for name, value in merged.items() if value is not None}


def local_token(subject: object, *, secret: str = TEST_SECRET, **overrides: Any) -> str:
    now = int(time.time())
    base = {"iss": LOCAL_ISSUER, "aud": LOCAL_AUDIENCE, "sub": str(subject), "iat": now, "exp": now + 600}
    return jwt.encode(claims_with(base, overrides), secret, algorithm="HS256")


def supabase_claims(
    subject: str = "0b6a3c1e-6a8f-4a61-9d7e-2f1d5c9e8a01", email: str = "sam@example.com", **overrides: Any
) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": SUPABASE_ISSUER,
        "aud": "authenticated",
        "sub": subject,
        "email": email,
        "role": "authenticated",
        "iat": now,
        "exp": now + 600,
        "user_metadata": {"full_name": "Sam Supa"},
    }
    return claims_with(base, overrides)


def supabase_hs256_token(*, secret: str = SUPABASE_SECRET, **overrides: Any) -> str:
    return jwt.encode(supabase_claims(**overrides), secret, algorithm="HS256")


@dataclass
class SigningKey:
    """A private key of the Supabase project, published in the JWKS under `kid`."""

    kid: str
    algorithm: str
    private: Any

    @classmethod
    def rsa(cls, kid: str) -> SigningKey:
        return cls(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def ec(cls, kid: str) -> SigningKey:
        return cls(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))

    def jwk(self) -> dict[str, Any]:
        algorithm = RSAAlgorithm if self.algorithm == "RS256" else ECAlgorithm
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def sign(self, claims: dict[str, Any], *, kid: str | None = None, algorithm: str | None = None) -> str:
        return jwt.encode(
            claims, self.private, algorithm=algorithm or self.algorithm, headers={"kid": kid or self.kid}
        )


@dataclass
class JWKSEndpoint:
    """The Supabase JWKS endpoint behind an httpx.MockTransport; counts how often it is fetched."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    fetches: int = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == SUPABASE_JWKS_URL
        self.fetches += 1
        if self.status != 200:
            return httpx.Response(self.status, text="upstream trouble")
        return httpx.Response(200, json={"keys": self.keys})

    def publish(self, *keys: SigningKey) -> None:
        self.keys = [key.jwk() for key in keys]


def auth_settings(**extra: Any) -> dict[str, Any]:
    """The test suite's auth settings plus `extra`."""
    return {"secret_key": TEST_SECRET, "login_rate_limit": 5, "login_rate_window": 60, **extra}


@asynccontextmanager
async def app_client(
    settings: Settings, *, http: httpx.AsyncClient | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An API client for an app built from `settings`, with its own resources, closed afterwards."""
    resources = Resources.open(settings, http=http)
    try:
        transport = httpx.ASGITransport(app=create_app(settings, resources=resources))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        await resources.close()


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return SigningKey.rsa("rsa-1")


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return SigningKey.ec("ec-1")


@pytest.fixture
def jwks(rsa_key: SigningKey, ec_key: SigningKey) -> JWKSEndpoint:
    endpoint = JWKSEndpoint()
    endpoint.publish(rsa_key, ec_key)
    return endpoint


@pytest.fixture
async def supabase_client(
    servers: Servers, resources: Resources, jwks: JWKSEndpoint
) -> AsyncIterator[httpx.AsyncClient]:
    """An app that accepts Supabase tokens: HS256 with the project secret, RS256/ES256 via the JWKS."""
    settings = make_settings(
        servers, auth=auth_settings(supabase_url=SUPABASE_URL, supabase_jwt_secret=SUPABASE_SECRET)
    )
    http = httpx.AsyncClient(transport=httpx.MockTransport(jwks.handler))
    async with app_client(settings, http=http) as client:
        yield client


# --- local provider: register, login, me -----------------------------------------------------------------


async def test_register_answers_201_with_the_user_and_no_password(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    response = await register(client, "ana@example.com", full_name="Ana Lima")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "ana@example.com"
    assert body["full_name"] == "Ana Lima"
    assert body["is_active"] is True
    assert uuid.UUID(body["id"])
    assert not {"password", "password_hash"} & body.keys()
    assert PASSWORD not in response.text
    [user] = await stored_users(resources)
    assert str(user.id) == body["id"]


async def test_register_stores_an_argon2_hash_of_the_password(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    await register(client, "ana@example.com")

    [user] = await stored_users(resources)
    assert user.password_hash is not None
    assert user.password_hash.startswith("$argon2")
    assert PASSWORD not in user.password_hash


async def test_first_registered_user_is_admin_and_the_next_is_not(client: httpx.AsyncClient) -> None:
    first = await register(client, "first@example.com")
    second = await register(client, "second@example.com")

    assert first.json()["is_admin"] is True
    assert second.json()["is_admin"] is False


async def test_concurrent_registrations_make_exactly_one_admin(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(*(register(client, f"user{i}@example.com") for i in range(4)))

    assert [response.status_code for response in responses] == [201] * 4
    assert sorted(response.json()["is_admin"] for response in responses) == [False, False, False, True]


@pytest.mark.usefixtures("resources")  # clean tables
async def test_email_listed_in_admin_emails_is_admin(servers: Servers) -> None:
    settings = make_settings(servers, auth=auth_settings(admin_emails="Boss@Example.com"))
    async with app_client(settings) as client:
        first = await register(client, "first@example.com")
        boss = await register(client, "boss@example.com")
        other = await register(client, "other@example.com")

    assert first.json()["is_admin"] is True
    assert boss.json()["is_admin"] is True
    assert other.json()["is_admin"] is False


async def test_register_with_a_taken_email_in_any_case_is_409(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    await register(client, "ana@example.com")

    response = await register(client, "ANA@Example.COM", full_name="Impostor")

    assert assert_error(response, 409)["code"] == "email_taken"
    [user] = await stored_users(resources)
    assert user.full_name == "Ana"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"email": "ana@example.com", "password": "short"}, id="short-password"),
        pytest.param({"email": "not-an-email", "password": PASSWORD}, id="invalid-email"),
        pytest.param(
            {"email": "ana@example.com", "password": PASSWORD, "is_admin": True}, id="unknown-field"
        ),
        pytest.param({"email": "ana@example.com"}, id="missing-password"),
    ],
)
async def test_register_with_bad_input_is_422_and_stores_nothing(
    client: httpx.AsyncClient, resources: Resources, body: dict[str, Any]
) -> None:
    response = await client.post(f"{API}/auth/register", json=body)

    assert assert_error(response, 422)["code"] == "invalid"
    assert await stored_users(resources) == []


async def test_login_returns_a_bearer_token_pair(client: httpx.AsyncClient, resources: Resources) -> None:
    await register(client, "ana@example.com")

    response = await login(client, "Ana@Example.com")

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    assert body["access_token"] != body["refresh_token"]
    [stored] = await stored_refresh_tokens(resources)
    assert stored.token_hash != body["refresh_token"]
    [user] = await stored_users(resources)
    assert user.last_login_at is not None


async def test_login_with_wrong_password_or_unknown_email_is_the_same_401(client: httpx.AsyncClient) -> None:
    await register(client, "ana@example.com")

    wrong_password = await login(client, "ana@example.com", password="not the password")
    unknown_email = await login(client, "nobody@example.com")

    assert assert_unauthorized(wrong_password) == assert_unauthorized(unknown_email)


async def test_login_of_a_user_without_a_password_is_401(
    client: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    await factory.user("sam@example.com")

    assert_unauthorized(await login(client, "sam@example.com"))
    assert await stored_refresh_tokens(resources) == []


async def test_login_of_a_deactivated_user_is_401(client: httpx.AsyncClient, resources: Resources) -> None:
    await register(client, "ana@example.com")
    await deactivate(resources, "ana@example.com")

    assert_unauthorized(await login(client, "ana@example.com"))
    assert await stored_refresh_tokens(resources) == []


async def test_me_returns_the_caller_of_the_access_token(client: httpx.AsyncClient) -> None:
    registered = (await register(client, "ana@example.com")).json()
    tokens = (await login(client, "ana@example.com")).json()

    response = await me(client, tokens["access_token"])

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["email"], body["full_name"]) == (registered["id"], "ana@example.com", "Ana")


# --- refresh tokens -------------------------------------------------------------------------------------


async def test_refresh_rotates_and_the_old_refresh_token_is_rejected(client: httpx.AsyncClient) -> None:
    tokens = await registered_login(client)

    rotated = await refresh(client, tokens["refresh_token"])

    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["token_type"] == "bearer"
    assert new["refresh_token"] != tokens["refresh_token"]
    assert (await me(client, new["access_token"])).status_code == 200
    assert_unauthorized(await refresh(client, tokens["refresh_token"]))


async def test_reusing_a_spent_refresh_token_revokes_its_whole_family(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    stolen = await registered_login(client)
    other_login = (await login(client, "ana@example.com")).json()
    newest = (await refresh(client, stolen["refresh_token"])).json()

    assert_unauthorized(await refresh(client, stolen["refresh_token"]))

    assert_unauthorized(await refresh(client, newest["refresh_token"]))
    assert (await refresh(client, other_login["refresh_token"])).status_code == 200
    tokens = await stored_refresh_tokens(resources)
    families = {token.family_id for token in tokens}
    assert len(families) == 2
    revoked = [token for token in tokens if token.revoked_at is not None]
    assert len(revoked) == 2
    assert len({token.family_id for token in revoked}) == 1


async def test_logout_revokes_the_refresh_token(client: httpx.AsyncClient, resources: Resources) -> None:
    tokens = await registered_login(client)

    response = await client.post(f"{API}/auth/logout", json={"refresh_token": tokens["refresh_token"]})

    assert response.status_code == 204, response.text
    assert_unauthorized(await refresh(client, tokens["refresh_token"]))
    [stored] = await stored_refresh_tokens(resources)
    assert stored.revoked_at is not None


async def test_expired_refresh_token_is_401(client: httpx.AsyncClient, resources: Resources) -> None:
    tokens = await registered_login(client)
    await execute(
        resources, sa.update(RefreshToken).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
    )

    assert_unauthorized(await refresh(client, tokens["refresh_token"]))


async def test_refresh_token_of_a_deactivated_user_is_401(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    tokens = await registered_login(client)
    await deactivate(resources, "ana@example.com")

    assert_unauthorized(await refresh(client, tokens["refresh_token"]))


async def test_unknown_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    await registered_login(client)

    assert_unauthorized(await refresh(client, "a-refresh-token-that-was-never-issued"))


# --- access tokens --------------------------------------------------------------------------------------


async def test_access_token_signed_in_the_test_is_accepted(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    actor = await factory.user("ana@example.com")

    response = await me(client, local_token(actor.id))

    assert response.status_code == 200, response.text
    assert response.json()["id"] == str(actor.id)


BAD_ACCESS_TOKENS: list[Any] = [
    pytest.param(lambda uid: local_token(uid, exp=HOUR_AGO), id="expired"),
    pytest.param(lambda uid: local_token(uid, secret="another-secret-" + "x" * 40), id="forged"),
    pytest.param(lambda uid: local_token(uid, aud="someone-else"), id="wrong-audience"),
    pytest.param(lambda uid: local_token(uid, aud=None), id="missing-audience"),
    pytest.param(lambda uid: local_token(uid, iss="https://evil.example.com"), id="wrong-issuer"),
    pytest.param(lambda uid: local_token(uid, sub=None), id="missing-sub"),
    pytest.param(lambda uid: local_token("not-a-uuid"), id="sub-not-a-user-id"),
    pytest.param(lambda uid: local_token(uid, exp=None), id="missing-exp"),
    pytest.param(lambda uid: jwt.encode({"sub": str(uid)}, "", algorithm="none"), id="alg-none"),
    pytest.param(lambda uid: "garbage.not-a.jwt", id="garbage"),
]


@pytest.mark.parametrize("make_token", BAD_ACCESS_TOKENS)
async def test_bad_access_token_is_401(
    client: httpx.AsyncClient, factory: Factory, make_token: Callable[[uuid.UUID], str]
) -> None:
    actor = await factory.user("ana@example.com")

    assert_unauthorized(await me(client, make_token(actor.id)))


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing-header"),
        pytest.param({"Authorization": "Basic YW5hOnBhc3N3b3Jk"}, id="basic-scheme"),
        pytest.param({"Authorization": "Bearer"}, id="bearer-without-token"),
        pytest.param({"Authorization": "Token abc.def.ghi"}, id="other-scheme"),
    ],
)
async def test_missing_or_non_bearer_authorization_is_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    assert_unauthorized(await client.get(f"{API}/auth/me", headers=headers))


async def test_access_token_of_a_deleted_user_is_401(
    client: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    actor = await factory.user("ana@example.com")
    await execute(resources, sa.delete(User).where(User.id == actor.id))

    assert_unauthorized(await client.get(f"{API}/auth/me", headers=actor.headers))


async def test_access_token_of_a_deactivated_user_is_401(
    client: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    actor = await factory.user("ana@example.com")
    await deactivate(resources, "ana@example.com")

    assert_unauthorized(await client.get(f"{API}/auth/me", headers=actor.headers))


async def test_refresh_token_is_not_an_access_token(client: httpx.AsyncClient) -> None:
    tokens = await registered_login(client)

    assert_unauthorized(await me(client, tokens["refresh_token"]))


# --- Supabase tokens: HS256 -------------------------------------------------------------------------------


async def test_supabase_token_provisions_a_user_on_first_sight(
    supabase_client: httpx.AsyncClient, resources: Resources
) -> None:
    token = supabase_hs256_token(email="Sam@Example.com")

    response = await me(supabase_client, token)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["email"] == "sam@example.com"
    assert body["full_name"] == "Sam Supa"
    [user] = await stored_users(resources)
    assert str(user.id) == body["id"]
    assert user.supabase_id == supabase_claims()["sub"]
    assert user.password_hash is None
    assert user.is_admin is True  # the first user


async def test_supabase_user_is_reused_on_later_requests(
    supabase_client: httpx.AsyncClient, resources: Resources
) -> None:
    first = await me(supabase_client, supabase_hs256_token())
    second = await me(supabase_client, supabase_hs256_token(user_metadata={"full_name": "Renamed"}))

    assert second.status_code == 200, second.text
    assert second.json()["id"] == first.json()["id"]
    assert len(await stored_users(resources)) == 1


async def test_concurrent_first_requests_of_a_supabase_user_provision_one_row(
    supabase_client: httpx.AsyncClient, resources: Resources
) -> None:
    token = supabase_hs256_token()

    responses = await asyncio.gather(*(me(supabase_client, token) for _ in range(4)))

    assert [response.status_code for response in responses] == [200] * 4
    assert len({response.json()["id"] for response in responses}) == 1
    assert len(await stored_users(resources)) == 1


async def test_supabase_user_after_the_first_is_not_admin(
    supabase_client: httpx.AsyncClient, factory: Factory
) -> None:
    await factory.user("first@example.com")

    response = await me(supabase_client, supabase_hs256_token())

    assert response.status_code == 200, response.text
    assert response.json()["is_admin"] is False


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: supabase_hs256_token(aud="anon"), id="wrong-audience"),
        pytest.param(
            lambda: supabase_hs256_token(iss="https://other.supabase.test/auth/v1"), id="wrong-issuer"
        ),
        pytest.param(lambda: supabase_hs256_token(exp=HOUR_AGO), id="expired"),
        pytest.param(lambda: supabase_hs256_token(secret="not-the-project-secret-" + "x" * 40), id="forged"),
        pytest.param(lambda: supabase_hs256_token(sub=None), id="missing-sub"),
        pytest.param(lambda: supabase_hs256_token(aud=None), id="missing-audience"),
    ],
)
async def test_bad_supabase_hs256_token_is_401_and_provisions_nobody(
    supabase_client: httpx.AsyncClient, resources: Resources, token: Callable[[], str]
) -> None:
    assert_unauthorized(await me(supabase_client, token()))

    assert await stored_users(resources) == []


async def test_supabase_token_is_401_when_supabase_is_not_configured(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    assert_unauthorized(await me(client, supabase_hs256_token()))

    assert await stored_users(resources) == []


async def test_supabase_token_links_a_precreated_user_with_the_same_email(
    supabase_client: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    actor = await factory.user("sam@example.com", full_name="Sam From Admin")

    response = await me(supabase_client, supabase_hs256_token(email="sam@example.com"))

    assert response.status_code == 200, response.text
    assert response.json()["id"] == str(actor.id)
    [user] = await stored_users(resources)
    assert user.supabase_id == supabase_claims()["sub"]
    assert user.full_name == "Sam From Admin"


async def test_supabase_token_does_not_take_over_a_local_account(
    supabase_client: httpx.AsyncClient, resources: Resources
) -> None:
    await register(supabase_client, "sam@example.com")

    assert_unauthorized(await me(supabase_client, supabase_hs256_token(email="sam@example.com")))

    [user] = await stored_users(resources)
    assert user.supabase_id is None


async def test_deactivated_supabase_user_is_401(
    supabase_client: httpx.AsyncClient, resources: Resources
) -> None:
    assert (await me(supabase_client, supabase_hs256_token())).status_code == 200
    await deactivate(resources, "sam@example.com")

    assert_unauthorized(await me(supabase_client, supabase_hs256_token()))


# --- Supabase tokens: RS256 / ES256 through the JWKS --------------------------------------------------------


@pytest.mark.parametrize("key_name", ["rsa_key", "ec_key"])
async def test_supabase_asymmetric_token_is_verified_with_the_jwks(
    supabase_client: httpx.AsyncClient, request: pytest.FixtureRequest, key_name: str
) -> None:
    key: SigningKey = request.getfixturevalue(key_name)

    response = await me(supabase_client, key.sign(supabase_claims()))

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "sam@example.com"


async def test_jwks_is_fetched_once_and_cached(
    supabase_client: httpx.AsyncClient, jwks: JWKSEndpoint, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    assert (await me(supabase_client, rsa_key.sign(supabase_claims()))).status_code == 200
    assert (await me(supabase_client, ec_key.sign(supabase_claims()))).status_code == 200

    assert jwks.fetches == 1


async def test_unknown_kid_after_key_rotation_refetches_the_jwks_once(
    supabase_client: httpx.AsyncClient, jwks: JWKSEndpoint, rsa_key: SigningKey
) -> None:
    assert (await me(supabase_client, rsa_key.sign(supabase_claims()))).status_code == 200
    rotated = SigningKey.ec("ec-2")
    jwks.publish(rotated)

    first = await me(supabase_client, rotated.sign(supabase_claims()))
    again = await me(supabase_client, rotated.sign(supabase_claims()))

    assert first.status_code == 200, first.text
    assert again.status_code == 200, again.text
    assert jwks.fetches == 2


async def test_unknown_kid_missing_from_the_refetched_jwks_is_401(
    supabase_client: httpx.AsyncClient, jwks: JWKSEndpoint, rsa_key: SigningKey, resources: Resources
) -> None:
    assert (await me(supabase_client, rsa_key.sign(supabase_claims()))).status_code == 200
    unpublished = SigningKey.ec("ec-unpublished")

    assert_unauthorized(await me(supabase_client, unpublished.sign(supabase_claims(sub="other"))))

    assert jwks.fetches == 2
    assert len(await stored_users(resources)) == 1


async def test_token_signed_by_a_key_other_than_its_kid_is_401(
    supabase_client: httpx.AsyncClient, ec_key: SigningKey
) -> None:
    impostor = SigningKey.ec(ec_key.kid)

    assert_unauthorized(await me(supabase_client, impostor.sign(supabase_claims())))


async def test_token_whose_alg_does_not_match_its_key_is_401(
    supabase_client: httpx.AsyncClient, ec_key: SigningKey, rsa_key: SigningKey
) -> None:
    token = ec_key.sign(supabase_claims(), kid=rsa_key.kid)

    assert_unauthorized(await me(supabase_client, token))


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"aud": "anon"}, id="wrong-audience"),
        pytest.param({"iss": "https://other.supabase.test/auth/v1"}, id="wrong-issuer"),
        pytest.param({"exp": HOUR_AGO}, id="expired"),
    ],
)
async def test_bad_claims_in_a_jwks_signed_token_are_401(
    supabase_client: httpx.AsyncClient, rsa_key: SigningKey, overrides: dict[str, Any]
) -> None:
    assert_unauthorized(await me(supabase_client, rsa_key.sign(supabase_claims(**overrides))))


async def test_jwks_endpoint_failing_is_401(
    supabase_client: httpx.AsyncClient, jwks: JWKSEndpoint, rsa_key: SigningKey
) -> None:
    jwks.status = 500

    assert_unauthorized(await me(supabase_client, rsa_key.sign(supabase_claims())))


async def test_malformed_key_in_the_jwks_is_skipped(
    supabase_client: httpx.AsyncClient, jwks: JWKSEndpoint, rsa_key: SigningKey
) -> None:
    jwks.keys = [{"kty": "RSA", "kid": "broken"}, rsa_key.jwk()]

    assert (await me(supabase_client, rsa_key.sign(supabase_claims()))).status_code == 200
    assert_unauthorized(await me(supabase_client, rsa_key.sign(supabase_claims(), kid="broken")))


# --- login rate limit -----------------------------------------------------------------------------------


async def test_sixth_login_attempt_is_429_even_with_the_right_password(client: httpx.AsyncClient) -> None:
    await register(client, "ana@example.com")
    for _ in range(5):
        assert_unauthorized(await login(client, "ana@example.com", password="wrong password"))

    response = await login(client, "ana@example.com")

    assert assert_error(response, 429)["code"] == "rate_limited"
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 60


async def test_login_rate_limit_counts_each_email_separately(client: httpx.AsyncClient) -> None:
    await register(client, "ana@example.com")
    await register(client, "bob@example.com")
    for _ in range(6):
        await login(client, "ana@example.com", password="wrong password")

    assert (await login(client, "bob@example.com")).status_code == 200
    assert (await login(client, "ANA@example.com")).status_code == 429


async def test_a_supabase_users_first_request_needs_only_one_pooled_connection(
    servers: Servers, resources: Resources
) -> None:
    """Provisioning runs in a session of its own: the request must not hold its connection meanwhile,
    or a burst of first-time users exhausts the pool (here: one connection, no overflow)."""
    settings = make_settings(
        servers,
        auth=auth_settings(supabase_url=SUPABASE_URL, supabase_jwt_secret=SUPABASE_SECRET),
        db={"pool_size": 1, "max_overflow": 0, "pool_timeout": 2},
    )
    async with app_client(settings) as client:
        response = await me(client, supabase_hs256_token(email="first@example.com"))
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "first@example.com"
