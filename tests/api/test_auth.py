"""Users log in with Argon2-hashed passwords; sessions and API tokens are stored hashed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from api.auth import SESSION_COOKIE, SESSION_TTL, AccountError, Grant, api_tokens, sessions, users
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
