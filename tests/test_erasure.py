"""Crypto-shredding erasure with legal holds: atomic, unrecoverable, and every proof still holds."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import PersistenceError
from eventsourcing.sqlite import SQLiteCursor
from psycopg import sql
from typer.testing import CliRunner

import ledger.store.sqlite as sqlite_store
from ledger.domain.subjects import Subject
from ledger.domain.tasks import Task
from ledger.errors import (
    AlreadyExists,
    ConcurrentModification,
    IllegalTransition,
    InvalidValue,
    NotFound,
)
from ledger.ids import stream_id
from ledger.ledger import Ledger
from ledger.personal import PersonalRef, VaultKey, VaultWrites
from ledger.store.postgres import PostgresVaultCursor
from ledger.trail import audit, sign_checkpoint
from lvyue.cli import app as cli
from lvyue.demo import write_demo
from lvyue.demo.roster import name_of, phone_of
from lvyue_verify import verify_bundle
from tests.clock import Clock
from tests.conftest import PG_URL, make_ledger
from tests.test_export import export
from tests.test_personal import (
    NAME,
    NOTE,
    PHONE,
    STAFF_NAME,
    counter_entropy,
    max_id,
    register,
    staff,
)
from tests.test_trail import ORIGIN, sealed, signing_key

OTHER_PHONE = "13987654321"
O1 = "owner/O1"


@pytest.fixture
def app(any_ledger: Ledger) -> Ledger:
    any_ledger.entropy = counter_entropy()
    return any_ledger


@pytest.fixture
def mem() -> Iterator[Ledger]:
    ledger = Ledger("memory://", entropy=counter_entropy())
    yield ledger
    ledger.close()


def history(app: Ledger, clock: Clock) -> dict[str, PersonalRef]:
    """D1 (named); O1's task with name, phone and a personal comment; O2's task with a phone."""
    staff(app, clock)
    register(app, clock, "T1", reporter_name=NAME, reporter_phone=PHONE)
    register(app, clock, "T2", reporter_id="O2", reporter_phone=OTHER_PHONE)
    app.comment_on_task(clock.ctx("D1"), "T1", NOTE, personal=True)
    task: Task = app.repository.get(stream_id("task", "T1"))
    assert task.reporter_contact is not None
    comment = next(
        json.loads(n.state)["data"]["text_ref"]
        for n in app.recorder.select_notifications(1, 1000)
        if n.topic == "TaskCommentAdded"
    )
    return {**task.reporter_contact, "comment": comment}


def ref_of(app: Ledger, kind: str, key: str, path: Callable[[Any], PersonalRef]) -> PersonalRef:
    return path(app.repository.get(stream_id(kind, key)))


def topics(app: Ledger) -> list[str]:
    return [n.topic for n in app.recorder.select_notifications(1, 10_000)]


def secrets_of(app: Ledger, subject: str, refs: dict[str, PersonalRef]) -> list[bytes]:
    """The subject's key and its ciphertexts, as the store holds them now."""
    key = app.vault.read_vault(subject, None).slot.key
    assert key is not None
    found = [key]
    for ref in refs.values():
        ciphertext = app.vault.read_vault(subject, ref["digest"]).ciphertext
        assert ciphertext is not None
        found.append(ciphertext[13:])  # past version and nonce: the sealed salt and value
    return found


# -- holds, erasure and their refusals (the Subject aggregate) -----------------------------


def test_a_legal_hold_blocks_erasure_until_every_hold_is_released(mem: Ledger) -> None:
    clock = Clock()
    refs = history(mem, clock)
    mem.place_legal_hold(clock.admin(), O1, "H1", "漏水赔偿诉讼 lawsuit", "(2026)粤0304民初1号")
    mem.place_legal_hold(clock.admin(), O1, "H2", "监管调查 regulator inquiry", "RQ-7")
    before = max_id(mem)
    with pytest.raises(IllegalTransition, match="H1, H2"):
        mem.erase_subject(clock.admin(), O1, "PIPL art. 47 request")
    assert max_id(mem) == before
    assert mem.reveal(refs["phone"]) == PHONE
    mem.release_legal_hold(clock.admin(), O1, "H1", "结案 case closed")
    with pytest.raises(IllegalTransition, match="H2"):
        mem.erase_subject(clock.admin(), O1, "PIPL art. 47 request")
    mem.release_legal_hold(clock.admin(), O1, "H2", "inquiry closed")
    mem.erase_subject(clock.admin(), O1, "PIPL art. 47 request")
    assert topics(mem)[-5:] == [
        "LegalHoldPlaced",
        "LegalHoldPlaced",
        "LegalHoldReleased",
        "LegalHoldReleased",
        "SubjectErased",
    ]
    subject = mem.data_subject(O1)
    assert subject is not None
    assert (subject.erased, subject.fields_erased, subject.version) == (True, 3, 5)
    assert subject.released_holds == ("H1", "H2")
    assert all(mem.reveal(ref) is None for ref in refs.values())


def test_a_recorded_reveal_logs_the_reader_first_and_survives_erasure(mem: Ledger) -> None:
    clock = Clock()
    refs = history(mem, clock)
    task = str(stream_id("task", "T1"))
    assert mem.reveal_recorded(clock.ctx("D1"), refs["phone"], task) == PHONE
    mem.erase_subject(clock.admin(), O1, "PIPL art. 47 request")
    assert mem.reveal_recorded(clock.admin(), refs["name"], task) is None
    assert topics(mem)[-3:] == ["PersonalDataRevealed", "SubjectErased", "PersonalDataRevealed"]
    subject = mem.data_subject(O1)
    assert subject is not None
    assert (subject.reveals, subject.erased, subject.last_read_from) == (2, True, task)
    before = max_id(mem)
    with pytest.raises(InvalidValue, match="read_from"):
        mem.reveal_recorded(clock.ctx("D1"), refs["phone"], "")
    assert max_id(mem) == before


def test_every_refusal_is_named_and_writes_nothing(mem: Ledger) -> None:
    clock = Clock()
    refs = history(mem, clock)
    mem.place_legal_hold(clock.admin(), O1, "H1", "dispute", "CASE-1")

    def refused(error: type[Exception], call: Callable[[], object]) -> None:
        before = max_id(mem)
        with pytest.raises(error):
            call()
        assert max_id(mem) == before

    refused(NotFound, lambda: mem.release_legal_hold(clock.admin(), "owner/O9", "H1", "x"))
    refused(NotFound, lambda: mem.release_legal_hold(clock.admin(), O1, "H7", "x"))
    refused(AlreadyExists, lambda: mem.place_legal_hold(clock.admin(), O1, "H1", "again", "C"))
    refused(InvalidValue, lambda: mem.place_legal_hold(clock.admin(), "O1", "H2", "r", "C"))
    refused(InvalidValue, lambda: mem.place_legal_hold(clock.admin(), O1, "H2", " ", "C"))
    refused(InvalidValue, lambda: mem.place_legal_hold(clock.admin(), O1, "H2", "r", ""))
    refused(InvalidValue, lambda: mem.erase_subject(clock.admin(), "nobody", "r"))
    mem.release_legal_hold(clock.admin(), O1, "H1", "settled")
    refused(IllegalTransition, lambda: mem.release_legal_hold(clock.admin(), O1, "H1", "x"))
    refused(AlreadyExists, lambda: mem.place_legal_hold(clock.admin(), O1, "H1", "reuse", "C"))
    refused(InvalidValue, lambda: mem.erase_subject(clock.admin(), O1, ""))
    assert mem.reveal(refs["phone"]) == PHONE
    ctx = clock.admin(command_id="erase-O1")
    first = mem.erase_subject(ctx, O1, "PIPL art. 47 request")
    before = max_id(mem)
    again = mem.erase_subject(ctx, O1, "PIPL art. 47 request")
    assert again.repeated
    assert again.events == first.events
    assert max_id(mem) == before
    refused(IllegalTransition, lambda: mem.erase_subject(clock.admin(), O1, "again"))
    refused(IllegalTransition, lambda: mem.place_legal_hold(clock.admin(), O1, "H3", "r", "C"))
    refused(IllegalTransition, lambda: register(mem, clock, "T3", reporter_phone=PHONE))
    refused(
        IllegalTransition, lambda: mem.comment_on_task(clock.ctx("D1"), "T1", "x", personal=True)
    )


def test_a_subject_never_seen_can_be_erased_and_takes_no_data_afterwards(mem: Ledger) -> None:
    clock = Clock()
    staff(mem, clock)
    mem.erase_subject(clock.admin(), "owner/O5", "moved out, asked for erasure")
    subject = mem.data_subject("owner/O5")
    assert subject is not None
    assert (subject.erased, subject.fields_erased, subject.version) == (True, 0, 1)
    assert mem.data_subject("owner/O6") is None
    with pytest.raises(IllegalTransition):
        register(mem, clock, "T1", reporter_id="O5", reporter_phone=PHONE)
    register(mem, clock, "T1", reporter_id="O5")  # without personal data: fine
    mem.place_legal_hold(clock.admin(), "staff/D1", "H1", "labour arbitration", "LA-3")
    held = mem.data_subject("staff/D1")
    assert held is not None
    assert held.active_holds == {"H1": "LA-3"}


# -- after erasure: gone from the store, the proofs and bundles still hold -------------------


def test_erasure_then_audit_export_and_verify_on_every_store(app: Ledger, tmp_path: Path) -> None:
    clock, key = Clock(), signing_key()
    refs = history(app, clock)
    other = ref_of(app, "task", "T2", lambda t: t.reporter_contact["phone"])
    staff_name = ref_of(app, "staff", "D1", lambda s: s.name)
    gone = secrets_of(app, O1, refs)
    assert app.reveal(refs["phone"]) == PHONE
    earlier = sign_checkpoint(sealed(app), key, ORIGIN)

    app.erase_subject(clock.admin(), O1, "PIPL art. 47 request")

    assert all(app.reveal(ref) is None for ref in refs.values())
    assert app.reveal(other) == OTHER_PHONE
    assert app.reveal(staff_name) == STAFF_NAME
    entry = app.vault.read_vault(O1, refs["phone"]["digest"])
    assert entry.slot.erased
    assert entry.slot.key is None
    assert entry.ciphertext is None
    assert app.vault.personal_count(O1) == 0
    erased = json.loads(app.recorder.select_notifications(max_id(app), 1)[0].state)
    assert erased["type"] == "SubjectErased"
    assert erased["data"] == {
        "subject": O1,
        "reason": "PIPL art. 47 request",
        "fields_erased": 3,
        "key_destroyed": True,
    }
    report = audit(sealed(app), key.verifier_key_text())
    assert report.ok, report.findings
    summary = export(sealed(app), tmp_path / "bundle", since=earlier)
    checked = verify_bundle(tmp_path / "bundle", earlier, trusted_key=key.verifier_key_text())
    assert checked.tree_size == summary.tree_size == max_id(app)
    assert checked.consistent_from is not None
    bundle = b"".join(p.read_bytes() for p in sorted((tmp_path / "bundle").iterdir()))
    for plain in (PHONE, NAME, NOTE, OTHER_PHONE, STAFF_NAME):
        assert plain.encode() not in bundle
    assert refs["phone"]["digest"].encode() in bundle  # the commitment stays in the record
    assert not any(secret in bundle for secret in gone)


def test_sqlite_keeps_no_copy_of_an_erased_key_in_the_file_or_the_wal(tmp_path: Path) -> None:
    """Enough subjects that the vault's b-trees split and rebalance before the erasure."""
    app, clock = make_ledger("sqlite", tmp_path), Clock()
    app.entropy = counter_entropy()
    staff(app, clock)
    for n in range(80):
        register(app, clock, f"T{n}", reporter_id=f"O{n}", reporter_phone=f"139{n:08d}")
    victims = {f"owner/O{n}": f"139{n:08d}" for n in (0, 17, 40, 79)}
    gone: list[bytes] = []
    for victim in victims:
        digest = app.vault.read_vault(victim, None)
        assert digest.slot.key is not None
        gone.append(digest.slot.key)
    for victim in victims:
        app.erase_subject(clock.admin(), victim, "PIPL art. 47 request")
    db = tmp_path / "lvyue.db"
    wal = Path(f"{db}-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed and truncated
    files = b"".join(p.read_bytes() for p in tmp_path.glob("lvyue.db*"))
    for secret in gone:
        assert secret not in files
    for phone in victims.values():
        assert phone.encode() not in files
    assert (
        app.reveal(ref_of(app, "task", "T1", lambda t: t.reporter_contact["phone"]))
        == "139" + f"{1:08d}"
    )
    app.close()


def test_the_erasure_zeroes_the_key_even_where_sqlite_would_not(tmp_path: Path) -> None:
    """The recorder turns secure_delete on itself: some builds default it off."""
    key = bytes(range(100, 132))
    for name, erase_with_recorder in (("plain.db", False), ("vault.db", True)):
        path = tmp_path / name
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA secure_delete=OFF")
        for statement in sqlite_store.SEAL_TABLES[-2:]:
            conn.execute(statement.format(t="ev"))
        rows = [(f"owner/O{n}", bytes([n]) * 32) for n in range(60)]
        conn.executemany("INSERT INTO ev_subject_keys VALUES (?,?)", [*rows, ("owner/X", key)])
        conn.execute("BEGIN")
        if erase_with_recorder:
            sqlite_store.write_vault(
                SQLiteCursor(conn.cursor()), "ev", VaultWrites(erase="owner/X")
            )
        else:
            conn.execute("DELETE FROM ev_subject_keys WHERE subject_id='owner/X'")
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        assert (key in path.read_bytes()) is not erase_with_recorder


def test_postgres_keeps_no_erased_key_in_the_tables_or_their_files(
    pg_schema: str, tmp_path: Path
) -> None:
    """VACUUM cannot drop a dead row an older snapshot may read: compaction waits for it."""
    app, clock = make_ledger("postgres", tmp_path, pg_schema), Clock()
    app.entropy = counter_entropy()
    refs = history(app, clock)
    gone = secrets_of(app, O1, refs)
    keys = sql.Identifier(pg_schema, "ledger_events_subject_keys")
    values = sql.Identifier(pg_schema, "ledger_events_personal")
    select_key = sql.SQL("SELECT key FROM {0} WHERE subject_id = %s").format(keys)
    with psycopg.connect(PG_URL) as old, psycopg.connect(PG_URL, autocommit=True) as conn:
        old.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        old.execute("SELECT 1")  # a snapshot from before the erasure, e.g. a long report
        app.erase_subject(clock.admin(), O1, "PIPL art. 47 request")
        assert conn.execute(select_key, (O1,)).fetchall() == [(None,)]  # the tombstone
        count = sql.SQL("SELECT COUNT(*) FROM {0} WHERE subject_id = %s").format(values)
        assert conn.execute(count, (O1,)).fetchone() == (0,)
        assert old.execute(select_key, (O1,)).fetchone() == (gone[0],)  # still visible to it
        assert app.vault.compact_vault() is False  # so not compacted, and it says so
        old.rollback()
        compacted = _compact_soon(app)
        app.close()
        if not compacted:
            pytest.skip("another session of the test database holds an old snapshot")
        superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if superuser.fetchone() == (True,):
            assert gone[0] not in _relation_bytes(conn, f"{pg_schema}.ledger_events_subject_keys")


def _compact_soon(app: Ledger) -> bool:
    for _attempt in range(30):
        if app.vault.compact_vault():
            return True
        time.sleep(0.1)
    return False


def _relation_bytes(conn: psycopg.Connection[Any], table: str) -> bytes:
    """The table's heap file as on disk (superuser only), after a checkpoint flushed it."""
    conn.execute("CHECKPOINT")
    path = conn.execute("SELECT pg_relation_filepath(%s::regclass)", (table,)).fetchone()
    assert path is not None
    data = conn.execute("SELECT pg_read_binary_file(%s)", (path[0],)).fetchone()
    assert data is not None
    return bytes(data[0])


# -- atomicity: the event and the shredding happen together or not at all -------------------


def test_an_erasure_that_loses_a_race_to_a_hold_changes_nothing(
    app: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    refs = history(app, clock)
    app.place_legal_hold(clock.admin(), O1, "H1", "dispute", "CASE-1")
    app.release_legal_hold(clock.admin(), O1, "H1", "settled")
    erase = Subject.erase

    def racing(self: Subject, *args: Any) -> None:
        rival: Subject = app.repository.get(self.id)  # another process holds it meanwhile
        rival.place_hold(args[0], "H2", "court order", "CASE-2")
        app.save(rival)
        erase(self, *args)

    monkeypatch.setattr(Subject, "erase", racing)
    with pytest.raises(ConcurrentModification):
        app.erase_subject(clock.admin(), O1, "PIPL art. 47 request")
    assert "SubjectErased" not in topics(app)
    assert app.reveal(refs["phone"]) == PHONE
    assert app.vault.personal_count(O1) == 3
    held = app.data_subject(O1)
    assert held is not None
    assert held.active_holds == {"H2": "CASE-2"}


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_failure_after_the_key_is_deleted_undoes_the_event_too(
    store: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = request.getfixturevalue("pg_schema") if store == "postgres" else None
    app, clock = make_ledger(store, tmp_path, schema), Clock()
    app.entropy = counter_entropy()
    refs = history(app, clock)
    before = max_id(app)

    def shred_then_fail(write: Callable[..., object]) -> Callable[..., None]:
        def failing(*args: Any) -> None:
            write(*args)
            raise RuntimeError("disk full")

        return failing

    if store == "sqlite":
        monkeypatch.setattr(sqlite_store, "write_vault", shred_then_fail(sqlite_store.write_vault))
    else:
        monkeypatch.setattr(
            PostgresVaultCursor, "write", shred_then_fail(PostgresVaultCursor.write)
        )
    with pytest.raises((RuntimeError, PersistenceError)):
        app.erase_subject(clock.admin(), O1, "PIPL art. 47 request")
    monkeypatch.undo()
    assert max_id(app) == before
    assert "SubjectErased" not in topics(app)
    assert app.reveal(refs["phone"]) == PHONE
    assert app.reveal(refs["comment"]) == NOTE
    assert not app.exists("subject", O1)
    app.close()


# -- the command line -----------------------------------------------------------------------


def test_cli_hold_erase_release_replay_audit_export_verify(tmp_path: Path) -> None:
    app, clock = make_ledger("sqlite", tmp_path), Clock()
    app.entropy = counter_entropy()
    vault_key = tmp_path / "vault.key"
    app.vault_key = VaultKey.load_or_create(vault_key, lambda: bytes(range(32)))  # as the CLI's
    history(app, clock)
    app.close()
    env = {
        "LVYUE_DATABASE_URL": f"sqlite:///{tmp_path / 'lvyue.db'}",
        "LVYUE_SIGNING_KEY": str(tmp_path / "signing.key"),
        "LVYUE_VAULT_KEY": str(vault_key),
        "LVYUE_ORIGIN": ORIGIN,
        "LVYUE_OPERATOR": "dpo-zhang",
    }
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, list(args), env=env)
        return result.exit_code, result.output

    code, out = run("replay", "task/T1")
    assert code == 0
    assert PHONE in out
    code, out = run("hold", O1, "--reason", "漏水赔偿诉讼", "--case", "(2026)粤0304民初1号")
    assert code == 0
    assert "H1" in out
    code, out = run("erase", O1, "--reason", "PIPL art. 47 request")
    assert code == 1
    assert "legal hold (H1)" in out
    assert run("release-hold", O1, "H9", "--reason", "x")[0] == 1
    code, out = run("release-hold", O1, "H1", "--reason", "结案 case closed")
    assert code == 0
    code, out = run("erase", O1, "--reason", "PIPL art. 47 request")
    assert code == 0
    assert "3 personal values" in out
    assert run("erase", O1, "--reason", "again")[0] == 1
    assert run("erase", "O1", "--reason", "no kind")[0] == 1
    assert run("erase", O1)[0] == 2  # --reason is required

    code, out = run("replay", "task/T1")
    assert code == 0
    assert "[已删除 erased]" in out
    assert PHONE not in out
    code, out = run("replay", "task/T1", "--json")
    assert json.loads(out)["state"]["reporter_contact"] == {
        "name": "[已删除 erased]",
        "phone": "[已删除 erased]",
    }
    code, out = run("replay", "staff/D1", "--json")
    assert json.loads(out)["state"]["name"] == STAFF_NAME
    code, out = run("replay", f"subject/{O1}", "--json")
    erased = json.loads(out)["events"][-1]
    assert (erased["type"], erased["actor"]["id"], erased["actor"]["kind"]) == (
        "SubjectErased",
        "dpo-zhang",
        "admin",
    )
    code, out = run("audit")
    assert code == 0, out
    assert run("export", str(tmp_path / "bundle"))[0] == 0
    code, out = run("verify", str(tmp_path / "bundle"))
    assert code == 0, out
    bundle = b"".join(p.read_bytes() for p in (tmp_path / "bundle").iterdir())
    assert PHONE.encode() not in bundle
    assert NAME.encode() not in bundle


# -- the demo exercises the vault ------------------------------------------------------------


def test_the_demo_names_staff_and_owners_phones_through_the_vault() -> None:
    app = Ledger("memory://")  # write_demo brings its own (seeded, not secret) entropy
    write_demo(app, seed=5, days=1)
    names = [json.loads(n.state) for n in app.recorder.select_notifications(1, 100)]
    onboarded = [r for r in names if r["type"] == "StaffOnboarded"]
    assert app.reveal(onboarded[0]["data"]["name"]) == name_of(1)
    task = next(
        json.loads(n.state)
        for n in app.recorder.select_notifications(1, 100_000)
        if n.topic == "TaskRegistered"
    )
    reporter = task["data"]["reporter_id"]
    assert app.reveal(task["data"]["reporter_contact"]["phone"]) == phone_of(reporter)
    assert "LegalHoldPlaced" in topics(app)
    for row in app.recorder.select_notifications(1, 100_000):
        assert phone_of(reporter).encode() not in row.state
    with pytest.raises(Exception, match="entropy"):  # the demo's source was handed back
        app.onboard_staff(Clock().admin(), "X1", "E-X1", "cleaning", name="测试")
