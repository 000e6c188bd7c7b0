"""Work-order commands over HTTP: every route's happy path writes the catalogue's events."""

from __future__ import annotations

from datetime import timedelta

from ledger.domain.tasks import Task
from ledger.ids import stream_id
from tests.api.conftest import PHOTO, Api, register, to_completed


def task(api: Api, task_no: str = "T1") -> Task:
    found: object = api.ledger.repository.get(stream_id("task", task_no))
    assert isinstance(found, Task)
    return found


def test_a_task_runs_its_whole_life_over_http(api: Api) -> None:
    """Register → dispatch → accept → arrive → start → hold → resume → complete → sign off
    → owner accepts → close → follow-up, each a 201 with one event."""
    before = len(api.topics())
    register(api)
    api.ok("desk", "/tasks/T1/dispatch", {"responsible_id": "SUP1", "executor_id": "S2"})
    api.ok("tech", "/tasks/T1/accept", {"eta": "2026-07-01T10:00:00+08:00"})
    api.ok("tech", "/tasks/T1/arrive", {"method": "gps"})
    api.ok("tech", "/tasks/T1/start")
    api.ok(
        "tech", "/tasks/T1/hold", {"cause": "owner", "reason": "业主不在家", "evidence": [PHOTO]}
    )
    api.ok("tech", "/tasks/T1/resume")
    api.ok("tech", "/tasks/T1/complete", {"result": "换了阀门", "evidence": [PHOTO]})
    api.ok("sup", "/tasks/T1/sign-off", {"quality": "good"})
    api.ok("owner", "/tasks/T1/owner-accept", {"rating": 5, "comment": "很好"})
    api.ok("desk", "/tasks/T1/close", {"reason": "accepted"})
    out = api.ok("desk", "/tasks/T1/follow-ups", {"channel": "phone", "satisfied": True})

    assert api.topics()[before:] == [
        "TaskRegistered", "TaskDispatched", "TaskAccepted", "ArrivedOnSite", "WorkStarted",
        "TaskPutOnHold", "TaskResumed", "WorkCompleted", "CompletionSignedOff",
        "OwnerAccepted", "TaskClosed", "FollowUpVisitRecorded",
    ]  # fmt: skip
    assert task(api).status == "closed"
    assert out["repeated"] is False
    assert out["events"] == [{"stream_id": str(stream_id("task", "T1")), "version": 12}]


def test_decline_reassign_comment_correct_and_cancel(api: Api) -> None:
    register(api)
    api.ok("desk", "/tasks/T1/dispatch", {"responsible_id": "SUP1", "executor_id": "S2"})
    api.ok("tech", "/tasks/T1/decline", {"reason": "不是我的专业"})
    api.ok("desk", "/tasks/T1/dispatch", {"responsible_id": "SUP1", "executor_id": "S2"})
    api.ok(
        "desk",
        "/tasks/T1/reassign",
        {"to_responsible_id": "SUP1", "to_executor_id": "S3", "note": "换人"},
    )
    api.ok("owner", "/tasks/T1/comments", {"text": "请尽快", "visibility": "owner"})
    api.ok(
        "sup",
        "/tasks/T1/corrections",
        {"field": "location", "new": "1-1204", "justification": "登记错误"},
    )
    api.ok("sup", "/tasks/T1/cancel", {"reason": "业主撤单"})

    assert api.topics()[-7:] == [
        "TaskDispatched", "TaskDeclined", "TaskDispatched", "TaskReassigned", "TaskCommentAdded",
        "TaskFieldCorrected", "TaskCancelled",
    ]  # fmt: skip
    assert task(api).status == "cancelled"


def test_owner_return_on_behalf_and_reopen(api: Api) -> None:
    """Front-desk staff record the owner's word with on_behalf_of; the actor stays theirs."""
    to_completed(api)
    api.ok("sup", "/tasks/T1/sign-off")
    api.ok("desk", "/tasks/T1/owner-return", {"reason": "还在漏", "on_behalf_of": "O1"})
    api.ok("desk", "/tasks/T1/reopen", {"cause": "返修 rework"})

    record = api.get("sup", "/replay/task/T1").json()["events"]["items"][-2]
    assert (record["type"], record["actor"]["id"], record["on_behalf_of"]) == (
        "OwnerReturned", "D1", "O1",
    )  # fmt: skip
    assert api.topics()[-1] == "TaskReopened"


def test_an_unanswered_task_is_auto_closed_under_its_policy_over_http(api: Api) -> None:
    """Refused (409, nothing written) while the owner's window runs; a 201 once it is over."""
    to_completed(api)
    api.ok("sup", "/tasks/T1/sign-off")
    body = {"policy_ref": "合同 §6.4 三日未答复视为验收", "window_days": 3}
    before = api.max_id()

    early = api.post("pm", "/tasks/T1/auto-close", body)
    assert (early.status_code, early.json()["code"]) == (409, "illegal_transition")
    assert "window" in early.json()["detail"]
    assert api.max_id() == before

    api.clock.now += timedelta(days=3)
    api.ok("pm", "/tasks/T1/auto-close", body)
    assert api.topics()[-1] == "TaskAutoClosed"
    assert (task(api).status, task(api).close_reason) == ("closed", "auto")
    link = api.get("pm", "/tasks/T1/chain", limit=100).json()["items"][-1]
    assert (link["kind"], link["detail"], link["note"]) == ("auto_closed", "3", body["policy_ref"])
