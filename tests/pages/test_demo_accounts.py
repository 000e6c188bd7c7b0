"""`lvyue demo` log-ins: random passwords shown once, the right grants, never a default."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.app import API_TABLES
from api.auth import Accounts
from ledger.ledger import Ledger
from lvyue.demo_accounts import create_demo_accounts, open_demo_site
from lvyue.settings import Settings
from projections.database import views_engine
from tests.pages.conftest import CHEAP_HASHER


def fresh_accounts() -> Accounts:
    engine = views_engine("memory://")
    for tables in API_TABLES:
        tables.create_all(engine)
    return Accounts(engine, lambda: datetime(2026, 10, 1, tzinfo=UTC), CHEAP_HASHER)


def test_demo_users_get_fresh_random_passwords_that_log_in() -> None:
    accounts = fresh_accounts()

    created = create_demo_accounts(accounts)
    again = create_demo_accounts(fresh_accounts())

    assert [a.username for a in created] == ["manager", "auditor", "admin"]
    assert len({a.password for a in created + again}) == 6
    for account in created:
        assert len(account.password) >= 16
        session = accounts.login(account.username, account.password)
        assert session is not None


def test_the_manager_manages_both_properties_and_the_auditor_reads_everything() -> None:
    accounts = fresh_accounts()
    created = {a.username: a.password for a in create_demo_accounts(accounts)}

    manager = accounts.login("manager", created["manager"])
    auditor = accounts.login("auditor", created["auditor"])

    assert manager is not None
    assert auditor is not None
    assert manager.principal.principal_id == "GD-PM"
    assert manager.principal.roles == {"project_manager"}
    assert manager.principal.properties == {"P-GARDEN", "P-TOWER"}
    assert auditor.principal.roles == {"auditor"}
    assert auditor.principal.properties == {"*"}


def test_an_existing_user_is_left_alone(capsys: pytest.CaptureFixture[str]) -> None:
    accounts = fresh_accounts()
    create_demo_accounts(accounts)

    assert create_demo_accounts(accounts) == []
    assert "skipped manager" in capsys.readouterr().err


def test_the_demo_prints_where_to_log_in_and_each_password_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ledger = Ledger("memory://")
    settings = Settings(database_url="memory://")

    created = open_demo_site(ledger, settings, "http://127.0.0.1:8123/")

    out = capsys.readouterr().out
    assert "http://127.0.0.1:8123/login" in out
    for account in created:
        assert out.count(account.password) == 1
    ledger.close()
