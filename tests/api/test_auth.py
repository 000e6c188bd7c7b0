"""Users log in with Argon2-hashed passwords; sessions and API tokens are stored hashed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from api.auth import (
    PRINCIPAL_CACHE_SECONDS,
    SESSION_COOKIE,
    SESSION_TTL,
    AccountError,
    Accounts,
    Grant,
    PrincipalCache,
    api_tokens,
    digest,
    sessions,
    users,
)
from tests.api.conftest import Api

PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice(api: Api) -> Api:
    accounts = api.app.state.services.accounts
    accounts.add_user("alice", PASSWORD, Grant.checked("SUP1", "staff", ["supervisor"], ["P1"]))
    return api


def login(api: Api, password: str = PASSWORD) -> object:
    return api.client.post("/api/session/login", json={"username": "alice", "password": password})


def test_login_returns_a_bearer_token_and_sets_an_http_only_cookie(alice: Api) -> None:
    response = login(alice)

    body = response.json()  # type: ignore[attr-defined]
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert body["token_type"] == "bearer"
    assert body["principal"]["principal_id"] == "SUP1"
    cookie = response.headers["set-cookie"]  # type: ignore[attr-defined]
    assert SESSION_COOKIE in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    me = alice.client.get(
        "/api/session/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["roles"] == ["supervisor"]


def test_the_cookie_authenticates_the_pages(alice: Api) -> None:
    login(alice)

    assert alice.client.get("/api/session/me").json()["principal_id"] == "SUP1"


def test_a_wrong_password_or_unknown_user_is_401_alike(alice: Api) -> None:
    wrong = login(alice, "not the password")
    unknown = alice.client.post(
        "/api/session/login", json={"username": "mallory", "password": PASSWORD}
    )

    assert wrong.status_code == unknown.status_code == 401  # type: ignore[attr-defined]
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"  # type: ignore[attr-defined]


def test_sessions_expire(alice: Api) -> None:
    token = login(alice).json()["access_token"]  # type: ignore[attr-defined]
    alice.clock.now += SESSION_TTL + timedelta(seconds=1)

    response = alice.client.get("/api/session/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401


def test_logout_ends_the_session(alice: Api) -> None:
    token = login(alice).json()["access_token"]  # type: ignore[attr-defined]
    auth = {"Authorization": f"Bearer {token}"}

    assert alice.client.post("/api/session/logout", headers=auth).status_code == 204
    assert alice.client.get("/api/session/me", headers=auth).status_code == 401


def test_no_secret_is_stored_in_the_clear(alice: Api) -> None:
    token = login(alice).json()["access_token"]  # type: ignore[attr-defined]
    with alice.app.state.services.engine.connect() as conn:
        stored = [
            tuple(row)
            for table in (users, sessions, api_tokens)
            for row in conn.execute(select(table))
        ]

    flat = repr(stored)
    assert PASSWORD not in flat
    assert token not in flat
    assert all(secret not in flat for secret in alice.tokens.values())
    assert "$argon2id$" in flat


@pytest.mark.parametrize(
    ("principal", "kind", "roles", "props", "password"),
    [
        ("S1", "staff", ["admin"], ["P1"], PASSWORD),
        ("O1", "owner", ["staff"], ["P1"], PASSWORD),
        ("S1", "staff", [], ["P1"], PASSWORD),
        ("S1", "staff", ["staff"], [], PASSWORD),
        ("S1", "staff", ["staff"], ["P 1"], PASSWORD),
        ("S1", "staff", ["staff"], ["P1"], "short"),
        ("S 1", "staff", ["staff"], ["P1"], PASSWORD),
    ],
)
def test_accounts_are_checked_when_created(
    api: Api, principal: str, kind: str, roles: list[str], props: list[str], password: str
) -> None:
    accounts = api.app.state.services.accounts

    with pytest.raises(AccountError):
        accounts.add_user("bob", password, Grant.checked(principal, kind, roles, props))


def test_user_names_are_unique(alice: Api) -> None:
    accounts = alice.app.state.services.accounts

    with pytest.raises(AccountError, match="already exists"):
        accounts.add_user("alice", PASSWORD, Grant.checked("S2", "staff", ["staff"], ["P1"]))


# -- the token → principal cache: how soon a revocation or a role change takes effect ---------


class Stopwatch:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cached_accounts(api: Api) -> tuple[Accounts, Stopwatch]:
    accounts: Accounts = api.app.state.services.accounts
    watch = Stopwatch()
    accounts.cache = PrincipalCache(seconds=PRINCIPAL_CACHE_SECONDS, monotonic=watch)
    return accounts, watch


def me(api: Api, token: str) -> int:
    response = api.client.get("/api/session/me", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


def test_a_revoked_token_is_refused_at_once(api: Api) -> None:
    accounts, _ = cached_accounts(api)
    token = accounts.add_token("kiosk", Grant.checked("D1", "staff", ["staff"], ["P1"]))
    assert me(api, token) == 200  # now cached

    assert accounts.revoke_token("kiosk")

    assert me(api, token) == 401
    assert api.post(None, "/tasks", {}, Authorization=f"Bearer {token}").status_code == 401
    assert not accounts.revoke_token("kiosk")


def test_a_token_revoked_by_another_process_is_refused_within_the_cache_bound(api: Api) -> None:
    accounts, watch = cached_accounts(api)
    token = accounts.add_token("kiosk", Grant.checked("D1", "staff", ["staff"], ["P1"]))
    assert me(api, token) == 200
    with accounts.engine.begin() as conn:  # what `revoke_token` in another process does
        conn.execute(delete(api_tokens).where(api_tokens.c.name == "kiosk"))

    watch.now += PRINCIPAL_CACHE_SECONDS - 0.1
    assert me(api, token) == 200  # the documented staleness, never longer
    watch.now += 0.1
    assert me(api, token) == 401


def test_a_role_changed_elsewhere_takes_effect_within_the_cache_bound(alice: Api) -> None:
    accounts, watch = cached_accounts(alice)
    token = login(alice).json()["access_token"]  # type: ignore[attr-defined]
    assert alice.client.get("/api/session/me", headers={"Authorization": f"Bearer {token}"}).json()[
        "roles"
    ] == ["supervisor"]
    with accounts.engine.begin() as conn:
        conn.execute(update(users).where(users.c.username == "alice").values(roles="staff"))

    watch.now += PRINCIPAL_CACHE_SECONDS
    roles = alice.client.get("/api/session/me", headers={"Authorization": f"Bearer {token}"})

    assert roles.json()["roles"] == ["staff"]


def test_a_cached_session_still_expires_on_time(alice: Api) -> None:
    cached_accounts(alice)
    token = login(alice).json()["access_token"]  # type: ignore[attr-defined]
    assert me(alice, token) == 200

    alice.clock.now += SESSION_TTL

    assert me(alice, token) == 401


def test_unknown_tokens_are_not_cached(api: Api) -> None:
    accounts, _ = cached_accounts(api)
    assert me(api, "lvy_not-a-token") == 401

    assert accounts.cache.get(digest("lvy_not-a-token")) is None
