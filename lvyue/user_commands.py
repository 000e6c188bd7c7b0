"""`lvyue user add`, `lvyue token add | revoke`: the only way accounts come to exist or go.

There is no default user and no default password; the first administrator is created here.
A password is read from standard input when piped (or with --password-stdin), otherwise
prompted for twice without echo. An API token is printed once and stored only as its SHA-256.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from sqlalchemy import Engine

from api.app import API_TABLES
from api.auth import AccountError, Accounts, Grant
from lvyue.settings import Settings
from projections.database import views_engine

user_app = typer.Typer(no_args_is_help=True, help="API users (people who log in)")
token_app = typer.Typer(no_args_is_help=True, help="API tokens (systems and devices)")

RolesOption = Annotated[
    list[str],
    typer.Option(
        "--role",
        help="staff, supervisor, project_manager, quality_inspector, "
        "performance_officer, owner, auditor or admin (repeatable)",
    ),
]
PropertiesOption = Annotated[
    list[str], typer.Option("--property", help="a property id, or * for every property")
]
PrincipalOption = Annotated[
    str, typer.Option("--principal", help="the ledger actor id: staff person id or owner id")
]


def _accounts(settings: Settings) -> tuple[Accounts, Engine]:
    engine = views_engine(settings.database_url)
    for tables in API_TABLES:
        tables.create_all(engine)
    return Accounts(engine, lambda: datetime.now(UTC)), engine


def _refuse(message: str) -> typer.Exit:
    typer.echo(f"拒绝 refused: {message}", err=True)
    return typer.Exit(1)


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return password


@user_app.command("add")
def add_user(
    username: Annotated[str, typer.Argument(help="login name")],
    principal: PrincipalOption,
    kind: Annotated[str, typer.Option("--kind", help="staff, owner, auditor or admin")],
    role: RolesOption,
    prop: PropertiesOption,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
) -> None:
    """Create a user who logs in with a password (stored as an Argon2 hash)."""
    if kind not in ("staff", "owner", "auditor", "admin"):
        raise typer.BadParameter("--kind must be staff, owner, auditor or admin")
    accounts, engine = _accounts(Settings.from_env())
    try:
        grant = Grant.checked(principal, kind, role, prop)
        accounts.add_user(username, _read_password(password_stdin), grant)
    except AccountError as error:
        raise _refuse(str(error)) from None
    finally:
        engine.dispose()
    typer.echo(f"用户已创建 user {username} created: {kind} {principal}, roles {', '.join(role)}")


@token_app.command("add")
def add_token(
    name: Annotated[str, typer.Argument(help="the system's name, e.g. hotline")],
    principal: PrincipalOption,
    role: RolesOption,
    prop: PropertiesOption,
    kind: Annotated[str, typer.Option("--kind", help="system or device")] = "system",
) -> None:
    """Create an API token for a system; it is printed once and never again."""
    if kind not in ("system", "device"):
        raise typer.BadParameter("--kind must be system or device")
    accounts, engine = _accounts(Settings.from_env())
    try:
        token = accounts.add_token(name, Grant.checked(principal, kind, role, prop))
    except AccountError as error:
        raise _refuse(str(error)) from None
    finally:
        engine.dispose()
    typer.echo(token)
    typer.echo(f"令牌只显示一次 token {name} is shown only once; store it now", err=True)


@token_app.command("revoke")
def revoke_token(name: Annotated[str, typer.Argument(help="the token's name")]) -> None:
    """Delete an API token: refused from now on (a running server within its cache bound)."""
    accounts, engine = _accounts(Settings.from_env())
    try:
        gone = accounts.revoke_token(name)
    finally:
        engine.dispose()
    if not gone:
        raise _refuse(f"no token named {name!r}")
    typer.echo(f"令牌已吊销 token {name} revoked")
