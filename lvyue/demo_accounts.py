"""Demo log-ins for `lvyue demo`: three users with random passwords, printed once.

There is no default password anywhere: each run draws new passwords (`secrets`), stores only
their Argon2 hashes and prints them once with the address of the login page. The views are
caught up first, so the pages show the demo as soon as `lvyue serve` starts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import typer

from api.app import API_TABLES
from api.auth import AccountError, Accounts, Grant
from ledger.ledger import Ledger
from lvyue.demo.roster import PROPERTIES
from lvyue.settings import Settings
from projections.database import views_engine
from projections.projector import Projector


@dataclass(frozen=True)
class DemoAccount:
    """A demo user and the password shown once."""

    username: str
    password: str
    description: str


def demo_grants() -> list[tuple[str, str, Grant]]:
    """(username, description, grant): a manager of both properties, an auditor, an admin."""
    both = [prop.property_id for prop in PROPERTIES]
    return [
        (
            "manager",
            "项目经理 project manager of " + ", ".join(both) + " (as GD-PM)",
            Grant.checked("GD-PM", "staff", ["project_manager"], both),
        ),
        (
            "auditor",
            "审计 auditor, read-only, every property",
            Grant.checked("AUD-DEMO", "auditor", ["auditor"], ["*"]),
        ),
        ("admin", "管理员 administrator", Grant.checked("admin", "admin", ["admin"], ["*"])),
    ]


def create_demo_accounts(accounts: Accounts) -> list[DemoAccount]:
    """Add the demo users with fresh random passwords (an existing user is left alone)."""
    created = []
    for username, description, grant in demo_grants():
        password = secrets.token_urlsafe(12)
        try:
            accounts.add_user(username, password, grant)
        except AccountError as error:
            typer.echo(f"跳过 skipped {username}: {error}", err=True)
            continue
        created.append(DemoAccount(username, password, description))
    return created


def open_demo_site(ledger: Ledger, settings: Settings, site_url: str) -> list[DemoAccount]:
    """Catch the views up, create the demo users and print where and how to log in."""
    engine = views_engine(settings.database_url, ledger.env.get("POSTGRES_SCHEMA"))
    try:
        Projector(ledger, engine).catch_up()
        for tables in API_TABLES:
            tables.create_all(engine)
        created = create_demo_accounts(Accounts(engine, lambda: datetime.now(UTC)))
    finally:
        engine.dispose()
    announce(created, site_url.rstrip("/"))
    return created


def announce(created: list[DemoAccount], site_url: str) -> None:
    typer.echo("")
    typer.echo(f"网页 Pages: {site_url}/   登录 log in at {site_url}/login  (after `lvyue serve`)")
    for account in created:
        name, secret = account.username, account.password
        typer.echo(f"  {name:<8} 密码 password {secret}   {account.description}")
    if created:
        typer.echo("密码只显示这一次 Shown only once; rerun the demo for new passwords.")
