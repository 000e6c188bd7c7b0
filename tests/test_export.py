"""Audit bundles: export, then check with the standalone verifier; CSV, OCEL 2.0 and the CLI."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from ledger.ledger import Ledger
from ledger.trail import SealedLog, read_checkpoint, sign_checkpoint
from lvyue.cli import app as cli
from lvyue_verify import BundleError, verify_bundle
from projections.bundle import (
    CSV_COLUMNS,
    FORMULA_TRIGGERS,
    EarlierCheckpointRejected,
    ExportSummary,
    TamperedStore,
    TargetNotEmpty,
    csv_row,
    export_bundle,
    spreadsheet_safe,
)
from tests.clock import Clock
from tests.conftest import make_ledger
from tests.test_trail import (
    ORIGIN,
    SQLiteDb,
    rewrite_event,
    sealed,
    signing_key,
    write_history,
)

CREATED = datetime(2026, 7, 3, 9, 30, tzinfo=UTC)
FILES = {"manifest.json", "checkpoint", "events.jsonl", "events.csv", "ocel.json"}


def export(
    log: SealedLog, out: Path, property_id: str | None = None, since: str | None = None
) -> ExportSummary:
    return export_bundle(
        log,
        out,
        signing_key(),
        ORIGIN,
        property_id=property_id,
        since_checkpoint_text=since,
        created_at=CREATED,
        display_zone="Asia/Shanghai",
    )


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Ledger:
    app = make_ledger("sqlite", tmp_path)
    write_history(app, Clock(), tasks=3)
    return app


def test_full_export_verifies(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    log = sealed(sqlite_ledger)
    summary = export(log, tmp_path / "bundle")
    assert {p.name for p in (tmp_path / "bundle").iterdir()} == FILES
    checked = verify_bundle(tmp_path / "bundle", trusted_key=signing_key().verifier_key_text())
    assert checked.tree_size == summary.tree_size == log.sealed_size() == 29
    assert (checked.full_records, checked.redacted_records) == (29, 0)
    assert checked.root_hash == summary.root_hash
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["scope"]["property"] is None
    assert manifest["scope"]["created_at"] == "2026-07-03T09:30:00+00:00"
    assert log.latest_checkpoint() is not None
    assert (tmp_path / "bundle" / "checkpoint").read_text(encoding="utf-8") == summary.checkpoint


def test_export_on_postgres_verifies(pg_schema: str, tmp_path: Path) -> None:
    app = make_ledger("postgres", tmp_path, pg_schema)
    write_history(app, Clock(), tasks=2)
    summary = export(sealed(app), tmp_path / "bundle", property_id="P1")
    checked = verify_bundle(tmp_path / "bundle")
    assert checked.tree_size == summary.tree_size == 22
    assert checked.redacted_records == summary.redacted > 0
    app.close()


def test_scoped_export_has_stubs_and_still_accounts_for_every_leaf(
    sqlite_ledger: Ledger, tmp_path: Path
) -> None:
    log = sealed(sqlite_ledger)
    summary = export(log, tmp_path / "p2", property_id="P2")
    checked = verify_bundle(tmp_path / "p2", trusted_key=signing_key().verifier_key_text())
    assert checked.full_records == summary.in_scope == 7  # one work order in P2
    assert checked.full_records + checked.redacted_records == checked.tree_size == 29
    stored = {row.seq: row.leaf_hash.hex() for row in log.iter_leaves(0, 100)}
    for n, line in enumerate(lines(tmp_path / "p2" / "events.jsonl"), start=1):
        assert line["seq"] == n
        if line.get("redacted"):
            assert set(line) == {"seq", "redacted", "leaf_hash"}
            assert line["leaf_hash"] == stored[n]
        else:
            assert line["property_id"] == "P2"


def test_since_checkpoint_adds_a_consistency_proof_that_verifies(
    sqlite_ledger: Ledger, tmp_path: Path
) -> None:
    log = sealed(sqlite_ledger)
    earlier = sign_checkpoint(log, signing_key(), ORIGIN)
    write_history(sqlite_ledger, Clock(counter=1000), tasks=1, first=4)
    summary = export(log, tmp_path / "bundle", since=earlier)
    doc = json.loads((tmp_path / "bundle" / "consistency.json").read_text(encoding="utf-8"))
    assert set(doc) == {"old_checkpoint", "old_size", "old_root_hash", "new_size", "proof"}
    assert (doc["old_size"], doc["new_size"]) == (29, 36) == (29, summary.tree_size)
    checked = verify_bundle(tmp_path / "bundle", earlier)
    assert checked.consistent_from == summary.consistent_from == 29


def test_since_checkpoint_must_be_ours(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    other = signing_key(99).sign_checkpoint(ORIGIN, 3, bytes(32))
    with pytest.raises(EarlierCheckpointRejected):
        export(sealed(sqlite_ledger), tmp_path / "bundle", since=other)
    forked = signing_key().sign_checkpoint(ORIGIN, 3, bytes(32))  # our key, another history
    with pytest.raises(EarlierCheckpointRejected, match="not a prefix"):
        export(sealed(sqlite_ledger), tmp_path / "bundle", since=forked)
    assert not (tmp_path / "bundle").exists()


def test_export_refuses_a_tampered_store(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    rewrite_event(SQLiteDb(tmp_path / "lvyue.db"), 12, {"note": "tampered"})
    with pytest.raises(TamperedStore) as refused:
        export(sealed(sqlite_ledger), tmp_path / "bundle")
    assert (refused.value.finding.kind, refused.value.finding.seq) == ("changed", 12)
    assert not (tmp_path / "bundle").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".bundle")] == []


def test_export_needs_a_new_or_empty_directory(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(TargetNotEmpty):
        export(sealed(sqlite_ledger), tmp_path / "full")
    (tmp_path / "empty").mkdir()
    export(sealed(sqlite_ledger), tmp_path / "empty")
    verify_bundle(tmp_path / "empty")


def test_tampered_bundle_fails_verification(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    export(sealed(sqlite_ledger), tmp_path / "bundle")
    events = tmp_path / "bundle" / "events.jsonl"
    events.write_text(events.read_text(encoding="utf-8").replace("S2", "S3", 1), encoding="utf-8")
    with pytest.raises(BundleError) as failed:
        verify_bundle(tmp_path / "bundle")
    assert failed.value.file == "events.jsonl"


def test_csv_has_a_bom_and_round_trips_chinese_text(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    summary = export(sealed(sqlite_ledger), tmp_path / "bundle")
    raw = (tmp_path / "bundle" / "events.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == summary.in_scope == 29
    registered = next(r for r in rows if r["type"] == "TaskRegistered")
    assert json.loads(registered["data"])["description"] == "卫生间漏水 leaking pipe"
    assert registered["occurred_at"].endswith("+08:00")
    completed = next(r for r in rows if r["type"] == "WorkCompleted")
    assert "换了阀门" in completed["data"]
    assert [r["seq"] for r in rows] == [str(n) for n in range(1, 30)]


def test_ocel_imports_into_pm4py_with_our_counts(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    pm4py = pytest.importorskip("pm4py", reason="pm4py (test-only, AGPL) is not installed")
    summary = export(sealed(sqlite_ledger), tmp_path / "bundle", property_id="P1")
    path = tmp_path / "bundle" / "ocel.json"
    ours = json.loads(path.read_text(encoding="utf-8"))
    assert len(ours["events"]) == summary.in_scope
    assert len(ours["objects"]) == summary.objects
    referenced = {r["objectId"] for e in ours["events"] for r in e["relationships"]}
    assert referenced == {o["id"] for o in ours["objects"]}
    ocel = pm4py.read_ocel2_json(str(path))
    assert len(ocel.events) == summary.in_scope
    assert len(ocel.objects) == summary.objects
    assert len(ocel.relations) == sum(len(e["relationships"]) for e in ours["events"])
    types = set(ocel.objects["ocel:type"])
    assert {"person", "Task"} <= types
    assert "person:S2" in set(ocel.objects["ocel:oid"])


# --------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------


def test_cli_exit_codes(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    sqlite_ledger.close()
    env = {
        "LVYUE_DATABASE_URL": f"sqlite:///{tmp_path / 'lvyue.db'}",
        "LVYUE_SIGNING_KEY": str(tmp_path / "signing.key"),
        "LVYUE_ORIGIN": ORIGIN,
    }
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, list(args), env=env)
        return result.exit_code, result.output

    code, out = run("audit")
    assert code == 0
    assert "audit ok: 29 events" in out
    mode = stat.S_IMODE(os.stat(tmp_path / "signing.key").st_mode)
    assert mode == 0o600
    code, key = run("verifier-key")
    assert code == 0
    assert key.startswith(ORIGIN + "+")
    code, note = run("checkpoint")
    assert code == 0
    assert note.startswith(f"{ORIGIN}\n29\n")
    (tmp_path / "cp").write_text(note, encoding="utf-8")

    assert run("export", str(tmp_path / "b1"))[0] == 0
    code, out = run(
        "verify", str(tmp_path / "b1"), "--key", key.strip(), "--checkpoint", str(tmp_path / "cp")
    )
    assert code == 0
    assert "verified: 29 events" in out
    code, out = run(
        "export",
        str(tmp_path / "b2"),
        "--property",
        "P2",
        "--since-checkpoint",
        str(tmp_path / "cp"),
    )
    assert code == 0
    assert "7 in scope" in out
    assert run("verify", str(tmp_path / "b2"))[0] == 0

    assert run("verify", str(tmp_path / "nowhere"))[0] == 2
    assert run("export", str(tmp_path / "b1"))[0] == 2  # not empty
    assert run("export")[0] == 2  # missing argument
    assert run("verify", str(tmp_path / "b1"), "--checkpoint", str(tmp_path / "none"))[0] == 2

    (tmp_path / "b1" / "checkpoint").write_text(note.replace("29", "28"), encoding="utf-8")
    code, out = run("verify", str(tmp_path / "b1"))
    assert code == 1
    assert "checkpoint" in out

    rewrite_event(SQLiteDb(tmp_path / "lvyue.db"), 5, {"position": "leadership"})
    code, out = run("audit")
    assert code == 1
    assert "seq 5 changed" in out
    assert run("export", str(tmp_path / "b3"))[0] == 1
    assert run("checkpoint")[0] == 0  # the nodes still prove consistency; the audit does not
    assert not (tmp_path / "b3").exists()


def test_cli_refuses_a_key_file_others_can_read(tmp_path: Path) -> None:
    key = tmp_path / "signing.key"
    key.write_bytes(bytes(32))
    key.chmod(0o644)
    env = {"LVYUE_DATABASE_URL": "memory://", "LVYUE_SIGNING_KEY": str(key)}
    result = CliRunner().invoke(cli, ["verifier-key"], env=env)
    assert result.exit_code == 2
    assert "chmod 600" in result.output


def test_checkpoint_from_cli_matches_the_library(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    note = sign_checkpoint(sealed(sqlite_ledger), signing_key(), ORIGIN)
    assert read_checkpoint(note, signing_key().verifier_key_text()).size == 29


@pytest.mark.parametrize(
    "hostile", ['=HYPERLINK("http://x","点我")', "+1+2", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
)
def test_csv_cells_never_start_a_formula(hostile: str) -> None:
    record = {
        "seq": 7,
        "stream_version": 1,
        "command_id": hostile,
        "property_id": hostile,
        "evidence": [hostile],
        "actor": {"id": hostile, "kind": "person", "role": "manager"},
        "data": {"note": hostile},
    }
    row = csv_row(record, b"\x00" * 32, ZoneInfo("Asia/Shanghai"))
    cells = dict(zip(CSV_COLUMNS, row, strict=True))
    for column in ("command_id", "property_id", "evidence", "actor_id"):
        assert cells[column] == "'" + hostile
    assert cells["seq"] == 7
    assert cells["stream_version"] == 1
    assert str(cells["data"]).startswith("{")


@given(st.text())
def test_spreadsheet_safe_only_ever_prefixes(text: str) -> None:
    safe = spreadsheet_safe(text)
    assert isinstance(safe, str)
    assert not safe.startswith(FORMULA_TRIGGERS)
    assert safe in (text, "'" + text)
