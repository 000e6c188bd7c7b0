"""Inspection and corrective-action commands over HTTP: each route's happy path."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import PHOTO, T0, Api

ITEMS = [
    "A|地面无垃圾 floor clean|pass_fail|10",
    "B|标识完好 signage intact|pass_flag_fail|7",
    "C|水箱温度 tank temperature|number|4",
    "D|设备间照片 plant room photo|photo|5",
    "E|备注 remarks|text|2",
]
WINDOW = "2026-07-01T08:00:00Z"
ROUND = f"/inspection-rounds/PL1/{WINDOW}"


def plan(api: Api) -> None:
    api.ok(
        "admin",
        "/checklists",
        {
            "checklist_id": "CL1",
            "title": "保洁巡检",
            "service_line": "cleaning",
            "items": ITEMS[:4],
        },
    )
    api.ok("admin", "/checklists/CL1/revise", {"title": "保洁巡检 v2", "items": ITEMS})
    api.ok(
        "qi",
        "/inspection-plans",
        {
            "plan_id": "PL1",
            "property_id": "P1",
            "area_id": "A1",
            "checklist_id": "CL1",
            "checklist_version": 2,
            "checkpoints": ["G1"],
            "frequency": "PT2H",
            "window_start": WINDOW,
            "assignee_ids": ["QI1"],
        },
    )


def test_a_round_is_walked_and_its_finding_opens_a_corrective_action(api: Api) -> None:
    before = len(api.topics())
    plan(api)
    api.ok("qi", "/inspection-plans/PL1/rounds", {"window_start": WINDOW})
    api.ok("qi", f"{ROUND}/visits", {"checkpoint": "G1", "method": "qr"})
    for code, value in (("A", ""), ("B", ""), ("C", "21.5"), ("E", "ok")):
        api.ok("qi", f"{ROUND}/items", {"item_code": code, "result": "pass", "value": value})
    api.ok("qi", f"{ROUND}/items", {"item_code": "D", "result": "pass", "evidence": [PHOTO]})
    api.ok(
        "qi",
        f"{ROUND}/findings",
        {
            "finding_id": "F1",
            "severity": "minor",
            "description": "门口积水",
            "evidence": [PHOTO],
            "open_action_id": "CA1",
            "action_owner_id": "S2",
            "action_due": "2026-07-03T08:00:00Z",
        },
    )
    api.ok("qi", f"{ROUND}/complete")
    api.ok(
        "tech",
        "/corrective-actions/CA1/plan",
        {"root_cause": "排水堵塞", "actions": "疏通", "due": "2026-07-02T08:00:00Z"},
    )
    api.ok("tech", "/corrective-actions/CA1/implement", {"result": "已疏通", "evidence": [PHOTO]})
    api.ok("qi", "/corrective-actions/CA1/verify", {"passed": True, "note": "ok"})
    api.ok("qi", "/corrective-actions/CA1/close")
    api.ok("po", "/corrective-actions/CA1/reopen", {"reason": "复发 recurred"})

    topics = api.topics()[before:]
    assert topics[:4] == [
        "ChecklistTemplatePublished", "ChecklistTemplateRevised", "InspectionPlanScheduled",
        "InspectionRoundStarted",
    ]  # fmt: skip
    assert topics[4:] == [
        "CheckpointVisited", *["ChecklistItemRecorded"] * 5, "FindingRaised",
        "CorrectiveActionOpened", "InspectionRoundCompleted", "CorrectiveActionPlanned",
        "CorrectiveActionImplemented", "CorrectiveActionVerified", "CorrectiveActionClosed",
        "CorrectiveActionReopened",
    ]  # fmt: skip


def test_missed_round_by_the_watcher_and_a_standalone_corrective_action(api: Api) -> None:
    plan(api)
    api.clock.now = T0 + timedelta(hours=5)
    api.ok(
        "watcher", "/inspection-plans/PL1/missed-rounds", {"window_start": "2026-07-01T10:00:00Z"}
    )
    api.ok(
        "qi",
        "/corrective-actions",
        {
            "action_id": "CA2",
            "property_id": "P1",
            "source": "complaint",
            "source_ref": "T-9",
            "problem": "电梯异响",
            "owner_id": "S2",
            "due": "2026-07-08T00:00:00Z",
        },
    )

    assert api.topics()[-2:] == ["InspectionRoundMissed", "CorrectiveActionOpened"]
