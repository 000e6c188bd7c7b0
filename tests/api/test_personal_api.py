"""Personal data over HTTP: vaulted fields, masked request fingerprints, reveal, holds, erasure."""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

import pytest

from api.idempotency import request_fingerprint
from ledger.envelope import CommandContext
from ledger.ids import stream_id
from ledger.personal import Entropy, is_personal_ref
from tests.api.conftest import TASK, Api, register

PHONE = "138 0013 8000"
NAME = "张三 Zhang San"


@pytest.fixture
def papi(api: Api) -> Api:
    """The API on a ledger that can store personal data (a deterministic test entropy)."""
    api.ledger.entropy = counter_entropy()
    return api


def counter_entropy() -> Entropy:
    counter = itertools.count()
    return lambda n: hashlib.shake_256(f"api-test-entropy-{next(counter)}".encode()).digest(n)


def refs(api: Api, stream: str) -> list[dict[str, str]]:
    """Every personal reference in the stream's events, in order."""
    kind, _, key = stream.partition("/")
    found: list[dict[str, str]] = []

    def walk(value: Any) -> None:
        if is_personal_ref(value):
            found.append(value)
        elif isinstance(value, dict):
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    for stored in api.ledger.recorder.select_events(stream_id(kind, key)):
        walk(json.loads(stored.state)["data"])
    return found


def log_text(api: Api) -> str:
    return "".join(n.state.decode() for n in api.ledger.recorder.select_notifications(1, 10**6))


def reveal(api: Api, who: str, ref: dict[str, str], stream: str) -> Any:
    return api.get(who, f"/personal/{ref['subject']}/{ref['digest']}", stream=stream)


def request_digests(api: Api, monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Every request digest the API hands the ledger from now on (it lands in the receipt)."""
    seen: list[str | None] = []
    run = api.ledger.run

    def spy(ctx: CommandContext, *args: Any) -> Any:
        seen.append(ctx.request_digest)
        return run(ctx, *args)

    monkeypatch.setattr(api.ledger, "run", spy)
    return seen


# -- personal fields on commands -------------------------------------------------------------


def test_reporter_contact_goes_to_the_vault_and_is_revealed_to_a_manager(papi: Api) -> None:
    register(papi, reporter_name=NAME, reporter_phone=PHONE)

    assert PHONE not in log_text(papi)
    assert NAME not in log_text(papi)
    by_field = {r["field"]: r for r in refs(papi, "task/T1")}
    assert set(by_field) == {"name", "phone"}
    answer = reveal(papi, "pm", by_field["phone"], "task/T1")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {**by_field["phone"], "value": PHONE}
    assert answer.headers["cache-control"] == "no-store"
    assert reveal(papi, "admin", by_field["name"], "task/T1").json()["value"] == NAME


def test_the_request_fingerprint_never_hashes_a_personal_value_in_clear(
    papi: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    digests = request_digests(papi, monkeypatch)
    body = {**TASK, "reporter_name": NAME, "reporter_phone": PHONE}
    papi.ok("desk", "/tasks", body, key="reg-1")

    clear = request_fingerprint("POST", "/api/tasks", {**body, "occurred_at": None})
    [stored] = digests
    assert stored != clear
    masked = {**body, "reporter_name": "<personal>", "reporter_phone": "<personal>"}
    envelope: dict[str, Any] = {"occurred_at": None, "on_behalf_of": None, "causation_id": None,
                "correlation_id": None, "evidence": []}  # fmt: skip
    assert stored == request_fingerprint("POST", "/api/tasks", {**envelope, **masked})
    # a retry that changes only a personal value is the same request: the first result
    retry = papi.post("desk", "/tasks", {**body, "reporter_phone": "139 0000 0000"}, key="reg-1")
    assert (retry.status_code, retry.json()["repeated"]) == (200, True)


def test_onboarding_with_a_name_vaults_it_as_the_staff_members_data(papi: Api) -> None:
    before = papi.max_id()
    papi.ok("admin", "/staff", {"person_id": "N1", "employee_no": "E-N1",
                                "job_family": "engineering", "name": NAME})  # fmt: skip

    assert papi.topics()[before:] == ["StaffOnboarded"]
    assert NAME not in log_text(papi)
    [ref] = refs(papi, "staff/N1")
    assert ref["subject"] == "staff/N1"
    assert reveal(papi, "admin", ref, "staff/N1").json()["value"] == NAME


def test_a_personal_comment_is_vaulted_and_a_plain_one_is_not(papi: Api) -> None:
    register(papi)
    papi.ok("desk", "/tasks/T1/comments", {"text": "业主手机 138 0013 8000", "personal": True})
    papi.ok("desk", "/tasks/T1/comments", {"text": "plain note"})

    assert "138 0013 8000" not in log_text(papi)
    assert "plain note" in log_text(papi)
    [ref] = refs(papi, "task/T1")
    assert (ref["subject"], ref["field"]) == ("owner/O1", "comment")
    assert reveal(papi, "pm", ref, "task/T1").json()["value"] == "业主手机 138 0013 8000"


def test_personal_fields_are_refused_without_whose_data_they_are(papi: Api) -> None:
    before = papi.max_id()
    response = papi.post("desk", "/tasks", {**TASK, "reporter_id": None, "reporter_phone": PHONE})
    assert (response.status_code, response.json()["code"]) == (422, "invalid_value")
    bad = papi.post("desk", "/tasks", {**TASK, "reporter_phone": "call me"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_value")
    assert papi.max_id() == before


# -- reveal ------------------------------------------------------------------------------


def test_reveal_is_refused_to_other_roles_and_recorded(papi: Api) -> None:
    register(papi, reporter_phone=PHONE)
    [ref] = refs(papi, "task/T1")
    before = len(papi.denials())

    for who in ("desk", "sup", "auditor", "owner"):
        response = reveal(papi, who, ref, "task/T1")
        assert (response.status_code, response.json()["code"]) == (403, "forbidden"), who
        assert PHONE not in response.text
    denied = papi.denials()[before:]
    assert [d["action"] for d in denied] == ["reveal_personal"] * 4


def test_every_reveal_is_recorded_on_the_subject_as_the_caller(papi: Api) -> None:
    register(papi, reporter_phone=PHONE)
    [ref] = refs(papi, "task/T1")

    before = papi.max_id()
    assert reveal(papi, "pm", ref, "task/T1").json()["value"] == PHONE
    assert reveal(papi, "admin", ref, "task/T1").json()["value"] == PHONE
    assert papi.topics()[before:] == ["PersonalDataRevealed"] * 2
    log = [json.loads(e.state) for e in papi.ledger.recorder.select_events(
        stream_id("subject", "owner/O1"))]  # fmt: skip
    assert [(e["actor"]["id"], e["data"]["field"]) for e in log] == [
        ("PM1", "phone"),
        ("admin", "phone"),
    ]
    assert {e["data"]["read_from"] for e in log} == {str(stream_id("task", "T1"))}
    assert PHONE not in log_text(papi)


def test_a_refused_reveal_records_no_access(papi: Api) -> None:
    register(papi, reporter_phone=PHONE)
    [ref] = refs(papi, "task/T1")
    before = papi.max_id()
    assert reveal(papi, "desk", ref, "task/T1").status_code == 403
    assert reveal(papi, "pm", {**ref, "digest": "0" * 64}, "task/T1").status_code == 404
    assert papi.max_id() == before


def test_reveal_maps_its_errors(papi: Api) -> None:
    register(papi, reporter_phone=PHONE)
    [ref] = refs(papi, "task/T1")
    path = f"/personal/{ref['subject']}/{ref['digest']}"

    assert papi.get("admin", path, stream="task/NOPE").status_code == 404
    assert papi.get("admin", path, stream="area/A1").json()["code"] == "not_found"
    assert papi.get("admin", path, stream="nonsense").json()["code"] == "invalid_value"
    assert papi.get("admin", path).json()["code"] == "validation_failed"  # stream is required
    other = f"/personal/owner/O2/{ref['digest']}"
    assert papi.get("admin", other, stream="task/T1").status_code == 404
    bad = papi.get("admin", f"/personal/robot/X/{ref['digest']}", stream="task/T1")
    assert (bad.status_code, bad.json()["code"]) == (422, "validation_failed")
    assert papi.get(None, path, stream="task/T1").status_code == 401


# -- legal holds and erasure ---------------------------------------------------------------


def test_hold_blocks_erasure_until_released_then_the_value_is_gone(papi: Api) -> None:
    register(papi, reporter_phone=PHONE)
    [ref] = refs(papi, "task/T1")
    hold = {"hold_id": "H1", "reason": "投诉纠纷 dispute", "case_ref": "2026-民-17"}

    before = papi.max_id()
    papi.ok("admin", "/subjects/owner/O1/holds", hold)
    assert papi.topics()[before:] == ["LegalHoldPlaced"]
    again = papi.post("admin", "/subjects/owner/O1/holds", hold)
    assert (again.status_code, again.json()["code"]) == (409, "already_exists")

    before = papi.max_id()
    held = papi.post("admin", "/subjects/owner/O1/erase", {"reason": "业主要求 owner asked"})
    assert (held.status_code, held.json()["code"]) == (409, "illegal_transition")
    assert papi.max_id() == before
    assert reveal(papi, "pm", ref, "task/T1").json()["value"] == PHONE

    papi.ok("admin", "/subjects/owner/O1/holds/H1/release", {"reason": "结案 closed"})
    gone = papi.post("admin", "/subjects/owner/O1/holds/H1/release", {"reason": "again"})
    assert (gone.status_code, gone.json()["code"]) == (409, "illegal_transition")
    missing = papi.post("admin", "/subjects/owner/O1/holds/H9/release", {"reason": "x"})
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")

    before = papi.max_id()
    erased = papi.ok("admin", "/subjects/owner/O1/erase", {"reason": "业主要求 owner asked"})
    assert papi.topics()[before:] == ["SubjectErased"]
    assert isinstance(erased["compacted"], bool)
    response = reveal(papi, "pm", ref, "task/T1")
    assert (response.status_code, response.json()["code"]) == (410, "erased")
    twice = papi.post("admin", "/subjects/owner/O1/erase", {"reason": "again"})
    assert (twice.status_code, twice.json()["code"]) == (409, "illegal_transition")
    refused = papi.post("desk", "/tasks", {**TASK, "task_no": "T2", "reporter_phone": PHONE})
    assert (refused.status_code, refused.json()["code"]) == (409, "illegal_transition")


def test_erasure_retried_with_its_key_returns_the_first_result(papi: Api) -> None:
    register(papi, reporter_phone=PHONE)
    first = papi.ok("admin", "/subjects/owner/O1/erase", {"reason": "asked"}, key="erase-1")
    before = papi.max_id()
    retry = papi.post("admin", "/subjects/owner/O1/erase", {"reason": "asked"}, key="erase-1")
    assert retry.status_code == 200
    assert retry.json()["repeated"] is True
    assert retry.json()["events"] == first["events"]
    assert papi.max_id() == before


def test_holds_and_erasure_are_the_admins_alone(papi: Api) -> None:
    before = papi.max_id()
    for who in ("pm", "po", "auditor"):
        response = papi.post(who, "/subjects/owner/O1/erase", {"reason": "x"})
        assert (response.status_code, response.json()["code"]) == (403, "forbidden"), who
        hold = papi.post(who, "/subjects/owner/O1/holds",
                         {"hold_id": "H1", "reason": "x", "case_ref": "c"})  # fmt: skip
        assert hold.status_code == 403, who
    assert papi.max_id() == before
    bad = papi.post("admin", "/subjects/owner/O1/holds", {"hold_id": "H1", "reason": "x"})
    assert (bad.status_code, bad.json()["code"]) == (422, "validation_failed")
