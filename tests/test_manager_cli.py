"""The manager's command line over the views: chain, signed, trail, area and notices.

#4's "done when" is these questions answered from the CLI and traced to event ids; each is run
here on a SQLite store as a user would, in its table and its --json form, with its refusals.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger.ledger import Ledger
from lvyue.cli import app as cli
from tests.clock import PHOTO, Clock
from tests.test_tasks import run_to_signed_off, staff

DOC = hashlib.sha256(b"2026 responsible persons").hexdigest()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A store with a task signed off and closed, an area held by S3, a notice on the board."""
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'lvyue.db'}"
    app, clock = Ledger(url), Clock()
    staff(app, clock)
    app.define_area(clock.admin(), "A1", "P1", "1号楼 Building 1", "building", ("repair",))
    app.assign_responsibility(clock.ctx("S1"), "A1", "repair", "S3")
    run_to_signed_off(app, clock)
    app.owner_accept(clock.ctx("O1", "owner"), "T1", 5)
    clock.advance(hours=3)  # entered three hours after it happened: a late entry
    app.close_task(clock.ctx("D1", occurred_at=clock.now - timedelta(hours=3)), "T1", "accepted")
    app.publish_notice(
        clock.ctx("S1", evidence=(PHOTO,)), "N1", "P1", "responsible_persons", "责任人公示",
        (), ("board", "app"), clock.now, None, DOC,
    )  # fmt: skip
    app.close()
    return {"LVYUE_DATABASE_URL": url, "LVYUE_TIMEZONE": "Asia/Shanghai", "COLUMNS": "250"}


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def as_json(env: dict[str, str], *args: str) -> Any:
    code, out = run(env, *args, "--json")
    assert code == 0, out
    return json.loads(out)


def test_the_chain_of_a_task_links_every_step_to_its_event(env: dict[str, str]) -> None:
    links = as_json(env, "chain", "T1")["links"]

    assert [link["kind"] for link in links] == [
        "registered", "dispatched", "accepted", "arrived", "started", "completed",
        "signed_off", "owner_accepted", "closed",
    ]  # fmt: skip
    signed = links[6]
    assert (signed["actor_id"], signed["responsible_id"], signed["executor_id"]) == (
        "S1", "S1", "S2",
    )  # fmt: skip
    code, table = run(env, "chain", "T1")
    assert code == 0
    assert "责任链 responsibility chain" in table
    assert signed["event_id"][:8] in table
    code, out = run(env, "chain", "NOPE")
    assert (code, "no task 'NOPE'" in out) == (1, True)


def test_what_one_person_signed_in_a_month(env: dict[str, str]) -> None:
    found = as_json(env, "signed", "--by", "S1", "--month", "2026-07")["signatures"]

    assert "CompletionSignedOff" in {s["kind"] for s in found}
    assert {s["signer_id"] for s in found} == {"S1"}
    assert as_json(env, "signed", "--by", "S1", "--month", "2026-08")["signatures"] == []
    assert run(env, "signed", "--month", "2026-13")[0] == 2


def test_the_audit_trail_of_a_property_flags_the_late_entry(env: dict[str, str]) -> None:
    events = as_json(env, "trail", "--property", "P1")["events"]

    closed = [e for e in events if e["type"] == "TaskClosed"]
    assert len(closed) == 1
    assert closed[0]["late"] is True
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)
    code, table = run(env, "trail", "--property", "P1")
    assert code == 0
    assert "审计轨迹 audit trail" in table
    assert run(env, "trail", "--property", "P1", "--actor", "S1")[0] == 2


def test_who_answers_for_an_area(env: dict[str, str]) -> None:
    terms = as_json(env, "area", "A1")["terms"]

    assert [(t["service_line"], t["responsible_id"]) for t in terms] == [("repair", "S3")]
    assert as_json(env, "area", "A1", "--at", "2026-07-01T18:00:00+08:00")["terms"]
    assert run(env, "area", "NOPE")[0] == 1


def test_a_propertys_notices_and_those_in_force_at_a_moment(env: dict[str, str]) -> None:
    found = as_json(env, "notices", "--property", "P1")["notices"]

    assert [(n["notice_id"], n["kind"], n["doc_sha256"]) for n in found] == [
        ("N1", "responsible_persons", DOC)
    ]
    earlier = as_json(env, "notices", "--property", "P1", "--as-of", "2026-06-30T00:00:00Z")
    assert earlier["notices"] == []
    code, table = run(env, "notices", "--property", "P1")
    assert code == 0
    assert "公示 notices P1" in table
    assert run(env, "notices", "--property", "P1", "--as-of", "yesterday")[0] == 2
