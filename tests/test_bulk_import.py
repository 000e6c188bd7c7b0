"""Bulk import (ledger/bulk.py, `lvyue import`): per-line validation, one commit per batch."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger.bulk import MAX_LINE_BYTES, Importer, ImportReport, read_lines
from ledger.domain.staff import Staff
from ledger.ids import stream_id
from ledger.ledger import Ledger
from ledger.store.postgres import PostgresSealCursor
from ledger.store.sqlite import SQLiteSealCursor
from ledger.trail import SealedLog, audit
from lvyue.cli import app as cli
from tests.conftest import make_ledger
from tests.test_trail import signing_key

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
SOURCE = "5e" * 32


def line(command: str, command_id: str, args: dict[str, Any], **ctx: Any) -> str:
    envelope = {
        "actor_id": "ops",
        "actor_kind": "admin",
        "occurred_at": "2026-08-01T08:00:00+08:00",
        "command_id": command_id,
        **ctx,
    }
    return json.dumps({"command": command, "ctx": envelope, "args": args}, ensure_ascii=False)


def onboard(i: int, command_id: str | None = None) -> str:
    args = {"person_id": f"P{i}", "employee_no": f"E{i}", "job_family": "engineering"}
    return line("onboard_staff", command_id or f"imp-{i}", args)


def as_bytes(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def entropy() -> Any:
    counter = iter(range(1, 1_000_000))
    return lambda n: bytes([next(counter) % 256]) * n


def run_import(
    app: Ledger, data: bytes, batch: int = 100, dry_run: bool = False, **kw: Any
) -> ImportReport:
    importer = Importer(
        app,
        lambda: NOW,
        operator="ops-li",
        source_sha256=SOURCE,
        allowed_kinds=kw.pop("allowed_kinds", ("admin",)),
        batch_size=batch,
        dry_run=dry_run,
        **kw,
    )
    return importer.run(read_lines(io.BytesIO(data)))


def records(app: Ledger) -> list[dict[str, Any]]:
    return [json.loads(n.state) for n in app.recorder.select_notifications(1, 100_000)]


def sealed(app: Ledger) -> SealedLog:
    log = app.recorder
    assert isinstance(log, SealedLog)
    return log


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    schema = request.getfixturevalue("pg_schema") if request.param == "postgres" else None
    app = make_ledger(request.param, tmp_path, schema)
    app.entropy = entropy()
    yield app
    app.close()


def count_commits(app: Ledger, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the size of every insert transaction the store runs."""
    sizes: list[int] = []
    original = app.recorder.insert_events

    def counting(stored_events: Any, **kwargs: Any) -> Any:
        sizes.append(len(stored_events))
        return original(stored_events, **kwargs)

    monkeypatch.setattr(app.recorder, "insert_events", counting)
    return sizes


def test_a_good_file_is_one_commit_per_batch(
    store: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = count_commits(store, monkeypatch)
    report = run_import(store, as_bytes([onboard(i) for i in range(250)]))
    assert (report.imported, report.events, report.batches, report.refused) == (250, 250, 3, 0)
    assert commits == [100, 100, 50]
    assert store.recorder.max_notification_id() is not None
    assert len(records(store)) == 250
    assert audit(sealed(store), signing_key()).ok


def test_a_failing_batch_writes_nothing_and_the_next_goes_on(
    store: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batch 2 fails inside its transaction, after its events were inserted (a receipt written
    twice violates the database's primary key): none of the batch stays."""
    for cursor in (SQLiteSealCursor, PostgresSealCursor):
        original = cursor.insert_receipt

        def failing(self: Any, receipt: Any, original: Any = original) -> None:
            original(self, receipt)
            if receipt.command_id == "imp-150":
                original(self, receipt)

        monkeypatch.setattr(cursor, "insert_receipt", failing)
    report = run_import(store, as_bytes([onboard(i) for i in range(250)]))
    assert (report.imported, report.batches, report.refused) == (150, 2, 100)
    assert {e.line for e in report.errors} == set(range(101, 201))
    assert all("not written" in e.reason for e in report.errors)
    persons = {r["data"]["person_id"] for r in records(store)}
    assert persons == {f"P{i}" for i in [*range(100), *range(200, 250)]}
    assert store.stored_receipt("imp-150") is None
    assert audit(sealed(store), signing_key()).ok  # seq 1..150, no gap
    assert sealed(store).sealed_size() == 150


def test_bad_lines_are_reported_with_numbers_and_never_written() -> None:
    app = Ledger("memory://")
    staff = {"person_id": "P9", "employee_no": "E9", "job_family": "engineering"}
    lines = [
        onboard(1),  # 1 good
        '{"command": "onboard_staff"',  # 2 bad JSON
        line("fire_everyone", "x3", {}),  # 3 unknown command
        line("onboard_staff", "x4", {"person_id": "P4"}),  # 4 missing args
        line("onboard_staff", "x5", {**staff, "salary": "1"}),  # 5 extra arg
        line("onboard_staff", "x6", {**staff, "employee_no": 6}),  # 6 wrong type
        line("assign_position", "x7", {"person_id": "P404", "position": "technician",
                                       "property_id": "P1"}),  # 7 domain refusal
        line("onboard_staff", "x8", staff, recorded_at="2026-08-01T00:00:00Z"),  # 8 recorded_at
        line("onboard_staff", "x9", staff, actor_kind="staff", actor_id="S1"),  # 9 kind not allowed
        line("onboard_staff", "x10", staff, occurred_at="yesterday"),  # 10 bad time
        line("erase_subject", "x11", {"subject_id": "staff/P1", "reason": "r"}),  # 11 no batch
        line("onboard_staff", "x12", {**staff, "certificates": ["a", 1]}),  # 12 bad tuple
        onboard(1, "imp-1b"),  # 13 refused: P1 already exists (staged in the same batch)
        "",  # 14 blank: ignored
        onboard(2),  # 15 good
    ]
    report = run_import(app, as_bytes(lines))
    reasons = {e.line: e.reason for e in report.errors}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]
    assert reasons[2].startswith("bad JSON")
    assert "unknown or non-importable command 'fire_everyone'" in reasons[3]
    assert "missing" in reasons[4]
    assert "job_family" in reasons[4]
    assert "unexpected 'salary'" in reasons[5]
    assert "employee_no must be a string" in reasons[6]
    assert reasons[7].startswith("refused (not_found)")
    assert "recorded_at is the importer's clock" in reasons[8]
    assert "may not act as actor kind 'staff'" in reasons[9]
    assert "RFC 3339" in reasons[10]
    assert "non-importable" in reasons[11]
    assert "array of strings" in reasons[12]
    assert reasons[13].startswith("refused (already_exists)")
    assert (report.imported, report.refused, report.lines) == (2, 12, 15)
    assert [r["data"]["person_id"] for r in records(app)] == ["P1", "P2"]
    for command_id in ("x4", "x5", "x6", "x7", "x8", "x9", "imp-1b"):
        assert app.stored_receipt(command_id) is None


HOSTILE = [
    b"\x00\xff\xfe binary \x80\x81 garbage",
    b"[" * 200_000,  # nested far beyond the parser's recursion limit (and too long)
    b"[" * 20_000 + b"]" * 20_000,  # deeply nested, within the size limit
    b"x" * (MAX_LINE_BYTES * 3),  # a huge line: skipped, never held whole
    b"[1, 2, 3]",
    b'"a string"',
    b"42",
    b"null",
    b'{"command": NaN, "ctx": {}, "args": {}}',
    b'{"command": "onboard_staff", "ctx": {}, "args": {"x": ' + b"9" * 5000 + b"}}",
    b'{"command": "onboard_staff", "ctx": [], "args": {}}',
    b'{"command": ["onboard_staff"], "ctx": {}, "args": {}}',
    b'{"command": "onboard_staff", "ctx": {"actor_id": 1, "actor_kind": "admin", '
    b'"occurred_at": "2026-08-01T08:00:00+08:00", "command_id": "h"}, "args": {}}',
    '{"command": "onboard_staff", "ctx": {}, "args": {}, "命令": 1}'.encode(),
    b"\xef\xbb\xbf{}",  # a byte-order mark
]


def test_hostile_input_gets_clear_errors_never_a_crash() -> None:
    app = Ledger("memory://")
    data = b"\n".join(HOSTILE) + b"\r\n" + onboard(1).encode() + b"\r\n"
    report = run_import(app, data)
    assert report.refused == len(HOSTILE)
    assert report.imported == 1  # the CRLF-terminated good line still imports
    reasons = {e.line: e.reason for e in report.errors}
    assert reasons[1].startswith("not UTF-8")
    assert "longer than" in reasons[2]
    assert reasons[3] == "JSON nested too deeply"
    assert "longer than" in reasons[4]
    assert reasons[5] == "a line must be a JSON object, not an array"
    assert "not a string" in reasons[6] or "not a" in reasons[6]
    assert reasons[9].startswith("bad JSON")  # NaN is not JSON
    assert reasons[10].startswith("bad JSON")  # an integer too long to convert
    assert reasons[11] == "ctx must be an object"
    assert reasons[12].startswith("command must be a string")
    assert reasons[13] == "ctx.actor_id must be a string"
    assert "unexpected '命令'" in reasons[14]
    assert reasons[15].startswith("bad JSON")
    assert all(len(e.reason) < 400 for e in report.errors)
    assert len(records(app)) == 1


def test_a_batch_sees_what_it_staged_and_a_refusal_leaves_it_untouched() -> None:
    app = Ledger("memory://")
    assign = {"person_id": "P1", "position": "technician", "property_id": "PR1"}
    lines = [
        onboard(1),
        line("assign_position", "a1", assign),  # sees P1 staged in this batch
        line("assign_position", "a2", {**assign, "supervisor_id": "nobody"}),  # refused
        line("revoke_position", "a3", {"person_id": "P1", "reason": "test"}),
    ]
    report = run_import(app, as_bytes(lines), batch=10)
    assert [e.line for e in report.errors] == [3]
    assert (report.imported, report.batches, report.events) == (3, 1, 3)
    staff: object = app.repository.get(stream_id("staff", "P1"))
    assert isinstance(staff, Staff)
    assert staff.version == 3
    assert staff.position is None
    assert [r["type"] for r in records(app)] == [
        "StaffOnboarded", "PositionAssigned", "PositionRevoked"
    ]


def test_envelope_actor_recorded_at_and_the_import_correlation() -> None:
    app = Ledger("memory://")
    own = line("onboard_staff", "c2", {"person_id": "P2", "employee_no": "E2",
                                       "job_family": "engineering"}, correlation_id="case-7")
    report = run_import(app, as_bytes([onboard(1), own]))
    assert report.ok
    first, second = records(app)
    assert first["actor"] == {"id": "ops", "kind": "admin", "role": "admin"}
    assert first["recorded_at"] == "2026-09-01T12:00:00+00:00"
    assert first["occurred_at"] == "2026-08-01T00:00:00+00:00"
    assert first["correlation_id"] == f"import/ops-li/{SOURCE[:16]}"
    assert second["correlation_id"] == "case-7"
    assert first["evidence"] == []  # the importer never adds evidence


def test_the_actor_is_judged_as_the_actor_it_names() -> None:
    """Allowing staff lines does not let a file speak for someone who is not active staff."""
    app = Ledger("memory://")
    lines = [line("onboard_staff", "g1", {"person_id": "P1", "employee_no": "E1",
                                          "job_family": "engineering"},
                  actor_kind="staff", actor_id="ghost")]
    report = run_import(app, as_bytes(lines), allowed_kinds=("staff",))
    assert report.errors[0].reason.startswith("refused (actor_not_active)")
    assert records(app) == []


def test_rerunning_a_file_repeats_nothing_and_a_dry_run_writes_nothing() -> None:
    app = Ledger("memory://")
    data = as_bytes([onboard(i) for i in range(5)] + [onboard(0, "imp-0")])  # same id twice
    dry = run_import(app, data, dry_run=True)
    assert (dry.imported, dry.repeated, dry.batches, dry.dry_run) == (5, 1, 0, True)
    assert app.recorder.max_notification_id() in (None, 0)
    first = run_import(app, data)
    again = run_import(app, data)
    assert (first.imported, first.repeated, first.batches) == (5, 1, 1)
    assert (again.imported, again.repeated, again.batches, again.events) == (0, 6, 0, 0)
    assert len(records(app)) == 5


def test_a_reused_command_id_in_one_batch_is_refused() -> None:
    app = Ledger("memory://")
    report = run_import(app, as_bytes([onboard(1, "same"), onboard(2, "same")]))
    assert [e.line for e in report.errors] == [2]
    assert report.errors[0].reason.startswith("refused (command_id_reused)")


def test_personal_data_in_a_batch_shares_one_key_per_subject() -> None:
    app = Ledger("memory://", entropy=entropy())
    staff = {"person_id": "P1", "employee_no": "E1", "job_family": "engineering", "name": "王五"}
    comment = line("onboard_staff", "p2", {**staff, "person_id": "P2", "name": "赵六"})
    report = run_import(app, as_bytes([line("onboard_staff", "p1", staff), comment]))
    assert report.ok
    assert report.batches == 1
    assert app.vault.personal_count("staff/P1") == 1
    assert app.vault.personal_count("staff/P2") == 1


def test_the_cli(tmp_path: Path) -> None:
    env = {"LVYUE_DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}"}
    good, mixed = tmp_path / "good.jsonl", tmp_path / "mixed.jsonl"
    good.write_bytes(as_bytes([onboard(i) for i in range(3)]))
    mixed.write_bytes(as_bytes([onboard(10), "not json"]))
    runner = CliRunner()
    ok = runner.invoke(cli, ["import", str(good), "--operator", "ops", "--as", "admin"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "imported 3 commands" in ok.output
    bad = runner.invoke(
        cli, ["import", str(mixed), "--operator", "ops", "--as", "admin", "--batch", "1"], env=env
    )
    assert bad.exit_code == 1
    assert "line 2: bad JSON" in bad.output
    kinds = runner.invoke(cli, ["import", str(good), "--operator", "ops", "--as", "robot"], env=env)
    assert kinds.exit_code == 2
    default = runner.invoke(cli, ["import", str(good), "--operator", "ops", "--dry-run"], env=env)
    assert default.exit_code == 1
    assert "may not act as actor kind 'admin'" in default.output
