"""The vault key: subject keys are stored wrapped, so the database alone reveals nothing."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.domain.tasks import Task
from ledger.ids import stream_id
from ledger.key_file import KeyFileError
from ledger.ledger import Ledger
from ledger.personal import KEY_BYTES, WRAPPED_KEY_BYTES, PersonalRef, VaultCorrupted, VaultKey
from lvyue.settings import Settings
from tests.clock import Clock
from tests.test_personal import NAME, PHONE, counter_entropy, register, staff

KEK = bytes(range(32))
OTHER_KEK = bytes(range(1, 33))


def sqlite_ledger(path: Path, vault_key: VaultKey) -> Ledger:
    return Ledger(f"sqlite:///{path}", entropy=counter_entropy(), vault_key=vault_key)


def stored_key(app: Ledger, subject: str) -> bytes:
    key = app.vault.read_vault(subject, None).slot.key
    assert key is not None
    return key


def phone_ref(app: Ledger, task_no: str) -> PersonalRef:
    task: Task = app.repository.get(stream_id("task", task_no))
    assert task.reporter_contact is not None
    return task.reporter_contact["phone"]


def test_wrap_and_unwrap_round_trip_and_refuse_the_wrong_key() -> None:
    key = os.urandom(KEY_BYTES)
    wrapped = VaultKey(KEK).wrap(key)
    assert len(wrapped) == WRAPPED_KEY_BYTES
    assert key not in wrapped
    assert VaultKey(KEK).unwrap("owner/O1", wrapped) == key
    with pytest.raises(VaultCorrupted, match="does not unwrap"):
        VaultKey(OTHER_KEK).unwrap("owner/O1", wrapped)
    with pytest.raises(VaultCorrupted, match="no vault key is configured"):
        VaultKey().unwrap("owner/O1", wrapped)
    with pytest.raises(VaultCorrupted, match="not wrapped"):
        VaultKey(KEK).unwrap("owner/O1", wrapped[:-1])
    with pytest.raises(VaultCorrupted, match="not wrapped"):
        VaultKey(KEK).unwrap("owner/O1", key)
    assert VaultKey().wrap(key) == key
    assert VaultKey().unwrap("owner/O1", key) == key
    with pytest.raises(ValueError, match="32 bytes"):
        VaultKey(b"short")


def test_a_copy_of_the_database_alone_reveals_nothing(tmp_path: Path) -> None:
    clock = Clock()
    db = tmp_path / "v.db"
    app = sqlite_ledger(db, VaultKey(KEK))
    staff(app, clock)
    register(app, clock, reporter_name=NAME, reporter_phone=PHONE)
    ref = phone_ref(app, "T1")
    assert len(stored_key(app, "owner/O1")) == WRAPPED_KEY_BYTES
    assert app.reveal(ref) == PHONE
    app.close()

    for vault_key in (VaultKey(), VaultKey(OTHER_KEK)):
        thief = sqlite_ledger(db, vault_key)
        with pytest.raises(VaultCorrupted):
            thief.reveal(ref)
        thief.close()


def test_a_raw_key_beside_a_vault_key_is_refused_and_erasure_still_shreds(
    tmp_path: Path,
) -> None:
    """Someone who can write the database plants a raw key to read what is stored next."""
    clock = Clock()
    db = tmp_path / "v.db"
    app = sqlite_ledger(db, VaultKey(KEK))
    staff(app, clock)
    register(app, clock, reporter_phone=PHONE)
    ref = phone_ref(app, "T1")
    app.close()
    planted = bytes(KEY_BYTES)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE stored_events_subject_keys SET key=? WHERE subject_id=?", (planted, "owner/O1")
        )

    app = sqlite_ledger(db, VaultKey(KEK))
    with pytest.raises(VaultCorrupted, match="may have been planted"):
        app.reveal(ref)
    before = app.recorder.max_notification_id()
    with pytest.raises(VaultCorrupted, match="may have been planted"):
        register(app, clock, "T2", reporter_phone="13900000000")
    assert app.recorder.max_notification_id() == before
    app.erase_subject(clock.admin(), "owner/O1", "PIPL art. 47 request")
    assert app.reveal(ref) is None
    app.close()


def test_the_vault_key_file_is_created_private_and_refused_when_shared(tmp_path: Path) -> None:
    path = tmp_path / "lvyue-vault.key"
    first = VaultKey.load_or_create(path, lambda: KEK)
    assert first == VaultKey(KEK)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert VaultKey.load_or_create(path, lambda: OTHER_KEK) == first  # never replaced
    path.chmod(0o640)
    with pytest.raises(KeyFileError, match=r"^vault key .*\(chmod 600 "):
        VaultKey.load_or_create(path, lambda: KEK)


def test_settings_put_the_vault_key_beside_the_signing_key(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'a.db'}",
        signing_key_path=str(tmp_path / "keys" / "signing.key"),
    )
    assert settings.vault_key_file == str(tmp_path / "keys" / "lvyue-vault.key")
    chosen = Settings(vault_key_path="/etc/lvyue/vault.key")
    assert chosen.vault_key_file == "/etc/lvyue/vault.key"


def test_the_api_creates_its_vault_key_and_an_unreadable_vault_is_a_named_problem(
    tmp_path: Path,
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'a.db'}", signing_key_path=str(tmp_path / "s.key")
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/login").status_code == 200
    assert stat.S_IMODE((tmp_path / "lvyue-vault.key").stat().st_mode) == 0o600

    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise VaultCorrupted("the key of owner/O1 cannot be read: no vault key is configured")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json()["code"] == "vault_unreadable"
