"""`lvyue user add` / `lvyue token add`: accounts from the command line, secrets never stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from lvyue.cli import app as cli
from lvyue.settings import Settings

PASSWORD = "correct horse battery staple"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    url = f"sqlite:///{tmp_path / 'lvyue.db'}"
    monkeypatch.setenv("LVYUE_DATABASE_URL", url)
    return Settings(database_url=url, signing_key_path=str(tmp_path / "k.key"))


def test_a_user_added_from_the_command_line_can_log_in(env: Settings) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "user",
            "add",
            "root",
            "--principal",
            "admin",
            "--kind",
            "admin",
            "--role",
            "admin",
            "--property",
            "*",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )

    assert result.exit_code == 0, result.output
    with TestClient(create_app(env)) as client:
        login = client.post("/api/session/login", json={"username": "root", "password": PASSWORD})
        assert login.status_code == 200
        assert login.json()["principal"]["kind"] == "admin"


def test_a_token_is_printed_once_and_works(env: Settings) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "token",
            "add",
            "hotline",
            "--principal",
            "hotline",
            "--role",
            "staff",
            "--property",
            "P1",
        ],
    )

    assert result.exit_code == 0, result.output
    token = result.stdout.splitlines()[0]
    with TestClient(create_app(env)) as client:
        me = client.get("/api/session/me", headers={"Authorization": f"Bearer {token}"})
        assert (me.json()["kind"], me.json()["roles"]) == ("system", ["staff"])


def test_a_revoked_token_is_refused_and_revoking_twice_fails(env: Settings) -> None:
    add = ["token", "add", "hotline", "--principal", "hotline", "--role", "staff"]
    token = CliRunner().invoke(cli, [*add, "--property", "P1"]).stdout.splitlines()[0]
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(env)) as client:
        assert client.get("/api/session/me", headers=headers).status_code == 200
    revoked = CliRunner().invoke(cli, ["token", "revoke", "hotline"])
    assert revoked.exit_code == 0, revoked.output
    with TestClient(create_app(env)) as client:
        assert client.get("/api/session/me", headers=headers).status_code == 401
    again = CliRunner().invoke(cli, ["token", "revoke", "hotline"])
    assert again.exit_code == 1
    assert "no token named 'hotline'" in again.output


@pytest.mark.parametrize(
    "args",
    [
        [
            "user",
            "add",
            "bob",
            "--principal",
            "S1",
            "--kind",
            "staff",
            "--role",
            "admin",
            "--property",
            "P1",
        ],
        [
            "user",
            "add",
            "bob",
            "--principal",
            "S1",
            "--kind",
            "robot",
            "--role",
            "staff",
            "--property",
            "P1",
        ],
        ["token", "add", "x", "--principal", "S1", "--role", "owner", "--property", "P1"],
    ],
)
def test_refusals_exit_non_zero(env: Settings, args: list[str]) -> None:
    result = CliRunner().invoke(cli, args, input=PASSWORD + "\n")

    assert result.exit_code != 0


def test_a_short_password_is_refused(env: Settings) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "user",
            "add",
            "bob",
            "--principal",
            "S1",
            "--kind",
            "staff",
            "--role",
            "staff",
            "--property",
            "P1",
        ],
        input="short\n",
    )

    assert result.exit_code == 1
