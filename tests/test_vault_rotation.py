"""Rotating the vault key: every subject key re-wrapped with a recorded event, atomically, and no
process left on the old key can wrap a new one under it."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger.domain.vault import PersonalDataVault
from ledger.errors import IllegalTransition
from ledger.key_file import create_key_file, read_key_file
from ledger.ledger import Ledger
from ledger.personal import (
    KEY_CHECK_SUBJECT,
    WRAPPED_KEY_BYTES,
    KeySlot,
    VaultCorrupted,
    VaultEntry,
    VaultKey,
    VaultKeyMismatch,
)
from lvyue.cli import app as cli
from lvyue.personal_commands import operator_context
from lvyue.vault_commands import next_key_path
from tests.clock import Clock
from tests.test_personal import NAME, PHONE, counter_entropy, max_id, register, staff
from tests.test_vault_key import phone_ref

K1, K2, K3 = VaultKey(bytes(range(32))), VaultKey(bytes(range(1, 33))), VaultKey(bytes(32))
SUBJECTS = ("owner/O1", "owner/O2", "staff/D1")


@pytest.fixture
def app(any_ledger: Ledger) -> Ledger:
    any_ledger.entropy = counter_entropy()
    any_ledger.vault_key = K1
    return any_ledger


def populated(app: Ledger, clock: Clock) -> None:
    """Three subjects with keys under the app's vault key, one of them then erased."""
    staff(app, clock)
    register(app, clock, reporter_name=NAME, reporter_phone=PHONE)
    register(app, clock, "T2", reporter_id="O2", reporter_phone="13900000000")
    register(app, clock, "T3", reporter_id="O3", reporter_phone="13700000000")
    app.erase_subject(clock.admin(), "owner/O3", "PIPL art. 47 request")


def stored(app: Ledger, subject: str) -> bytes:
    key = app.vault.read_vault(subject, None).slot.key
    assert key is not None
    return key


def rotation_records(app: Ledger) -> list[dict[str, Any]]:
    found = app.recorder.select_notifications(1, 10_000)
    return [json.loads(n.state) for n in found if n.topic.endswith("VaultKeyRotated")]


def test_rotation_rewraps_every_live_key_and_records_who_and_which_keys(app: Ledger) -> None:
    clock = Clock()
    populated(app, clock)
    before = {s: app.vault_key.unwrap(s, stored(app, s)) for s in SUBJECTS}
    ref = phone_ref(app, "T1")

    result = app.rotate_vault_key(clock.admin(), K2, "annual rotation 年度轮换")

    assert app.vault_key == K2
    assert len(result.events) == 1
    for subject in SUBJECTS:
        assert len(stored(app, subject)) == WRAPPED_KEY_BYTES
        assert K2.unwrap(subject, stored(app, subject)) == before[subject]  # same subject key
        with pytest.raises(VaultCorrupted, match="does not unwrap"):
            K1.unwrap(subject, stored(app, subject))
    assert stored(app, KEY_CHECK_SUBJECT) == K2.check_value()
    assert app.vault.read_vault("owner/O3", None).slot == KeySlot(None, erased=True)
    assert app.reveal(ref) == PHONE
    [record] = rotation_records(app)
    assert record["actor"]["id"] == "admin"
    assert record["data"] == {
        "vault": "personal-data",
        "reason": "annual rotation 年度轮换",
        "key_before": K1.key_id(),
        "key_after": K2.key_id(),
    }
    assert K1.key_id() not in (K2.key_id(), "raw")
    assert len(K1.key_id()) == 16

    app.rotate_vault_key(clock.admin(), K3, "after a suspected leak")
    vault = app.load(PersonalDataVault, "vault", "personal-data")
    assert (vault.rotations, vault.key_id) == (2, K3.key_id())
    assert app.reveal(ref) == PHONE


def test_a_process_left_on_the_old_key_reads_nothing_and_stores_nothing(app: Ledger) -> None:
    clock = Clock()
    populated(app, clock)
    ref = phone_ref(app, "T1")
    app.rotate_vault_key(clock.admin(), K2, "rotation")
    app.vault_key = K1  # what another process, not yet restarted, still holds
    written = max_id(app)

    with pytest.raises(VaultCorrupted, match="does not unwrap"):
        app.reveal(ref)
    with pytest.raises(VaultKeyMismatch, match="rotated"):
        register(app, clock, "T4", reporter_id="O4", reporter_phone="13600000000")

    assert max_id(app) == written
    assert app.vault.read_vault("owner/O4", None).slot == KeySlot(None)


def test_a_rotation_committed_while_a_command_ran_refuses_the_command_whole(
    app: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever a read outside the command's transaction saw (here: the key-check slot as it
    was before the rotation), the store checks the slot inside that transaction, so the stale
    wrap never lands."""
    clock = Clock()
    populated(app, clock)
    app.rotate_vault_key(clock.admin(), K2, "rotation")
    app.vault_key = K1
    read = app.vault.read_vault

    def as_before_the_rotation(subject: str, digest: str | None) -> VaultEntry:
        if subject == KEY_CHECK_SUBJECT:
            return VaultEntry(KeySlot(K1.check_value()), None)
        return read(subject, digest)

    monkeypatch.setattr(app.recorder, "read_vault", as_before_the_rotation)
    written = max_id(app)

    with pytest.raises(VaultKeyMismatch, match="rotated"):
        register(app, clock, "T4", reporter_id="O4", reporter_phone="13600000000")

    assert max_id(app) == written
    assert read("owner/O4", None).slot == KeySlot(None)


def test_rotating_from_a_key_the_store_is_not_under_changes_nothing(app: Ledger) -> None:
    clock = Clock()
    populated(app, clock)
    keys = {s: stored(app, s) for s in (*SUBJECTS, KEY_CHECK_SUBJECT)}
    written = max_id(app)
    app.vault_key = K3

    with pytest.raises(VaultKeyMismatch):
        app.rotate_vault_key(clock.admin(), K2, "rotation from the wrong key")

    assert max_id(app) == written
    assert {s: stored(app, s) for s in keys} == keys


def test_a_new_key_must_differ_and_a_store_without_the_slot_is_checked_by_a_live_key(
    app: Ledger,
) -> None:
    clock = Clock()
    with pytest.raises(IllegalTransition, match="new vault key"):
        app.rotate_vault_key(clock.admin(), K1, "same key")
    assert max_id(app) == 0
    staff(app, clock)  # the first key creates the key-check slot
    assert stored(app, KEY_CHECK_SUBJECT) == K1.check_value()
    assert app.vault_key_state(K1) == "current"
    assert app.vault_key_state(K2) == "other"

    app.vault_key = K2  # a process configured with another store's key
    with pytest.raises(VaultKeyMismatch):
        register(app, clock, reporter_phone=PHONE)


def test_a_store_of_raw_keys_is_wrapped_by_its_first_rotation(tmp_path: Path) -> None:
    clock = Clock()
    app = Ledger(f"sqlite:///{tmp_path / 'raw.db'}", entropy=counter_entropy())
    staff(app, clock)
    register(app, clock, reporter_phone=PHONE)
    assert len(stored(app, "owner/O1")) == 32

    app.rotate_vault_key(clock.admin(), K1, "wrap the keys of an old store")

    assert len(stored(app, "owner/O1")) == WRAPPED_KEY_BYTES
    assert app.reveal(phone_ref(app, "T1")) == PHONE
    assert rotation_records(app)[0]["data"]["key_before"] == "raw"
    app.close()


# -- `lvyue vault rotate` -------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    url = f"sqlite:///{tmp_path / 'lvyue.db'}"
    key_file = tmp_path / "lvyue-vault.key"
    monkeypatch.setenv("LVYUE_DATABASE_URL", url)
    monkeypatch.setenv("LVYUE_VAULT_KEY", str(key_file))
    monkeypatch.setenv("LVYUE_OPERATOR", "HQ-ADMIN")
    assert K1.kek is not None
    create_key_file(key_file, K1.kek)
    app = Ledger(url, entropy=counter_entropy(), vault_key=K1)
    populated(app, Clock())
    app.close()
    return key_file


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_the_cli_rotates_the_store_then_replaces_the_key_file(store: Path, tmp_path: Path) -> None:
    previous = tmp_path / "vault-2026.key"

    code, out = run("vault", "rotate", "--reason", "annual", "--keep-previous", str(previous))

    assert code == 0, out
    new = VaultKey(read_key_file(store))
    assert new != K1
    assert f"{K1.key_id()} → {new.key_id()}" in out
    assert "restart" in out
    assert not next_key_path(store).exists()
    assert read_key_file(previous) == K1.kek
    for path in (store, previous):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    app = Ledger(f"sqlite:///{tmp_path / 'lvyue.db'}", vault_key=new)
    assert app.reveal(phone_ref(app, "T1")) == PHONE
    assert rotation_records(app)[0]["actor"]["id"] == "HQ-ADMIN"
    app.close()


def test_the_cli_finishes_a_rotation_interrupted_before_the_file_moved(
    store: Path, tmp_path: Path
) -> None:
    """The store committed under the `.next` key, then the process died before the rename."""
    assert K2.kek is not None
    create_key_file(next_key_path(store), K2.kek)
    app = Ledger(f"sqlite:///{tmp_path / 'lvyue.db'}", vault_key=K1)
    app.rotate_vault_key(operator_context(), K2, "interrupted")
    app.close()

    code, out = run("vault", "rotate", "--reason", "again")

    assert code == 0, out
    assert "finished an interrupted rotation" in out
    assert read_key_file(store) == K2.kek
    assert not next_key_path(store).exists()
    app = Ledger(f"sqlite:///{tmp_path / 'lvyue.db'}", vault_key=K2)
    assert len(rotation_records(app)) == 1  # recorded once, by the transaction that rotated
    app.close()


def test_the_cli_refuses_without_a_key_file_or_with_a_key_the_store_is_not_under(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LVYUE_VAULT_KEY", str(tmp_path / "missing.key"))
    code, out = run("vault", "rotate", "--reason", "x")
    assert code == 2
    assert "nothing to rotate" in out

    other = tmp_path / "other.key"
    assert K3.kek is not None
    create_key_file(other, K3.kek)
    monkeypatch.setenv("LVYUE_VAULT_KEY", str(other))
    code, out = run("vault", "rotate", "--reason", "x")
    assert code == 1
    assert "拒绝 refused" in out
    assert read_key_file(other) == K3.kek  # the key file stays as it was
