"""Penalty, reward and period commands over HTTP: each route's happy path."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.api.conftest import T0, Api

BASIS = ["6c1b7a52-2d63-5d0f-9d7e-0c1f3a4b5c6d"]


def propose(api: Api, case_id: str) -> None:
    api.ok(
        "po",
        "/penalties",
        {
            "case_id": case_id,
            "property_id": "P1",
            "subject_id": "S2",
            "rule_id": "WR-1",
            "rule_version": 2,
            "clause": "§4.2 late arrival",
            "points": 3,
            "amount": "200.00",
            "monthly_wage": "3000.00",
            "minimum_wage": "2000.00",
            "basis_event_ids": BASIS,
            "reason": "arrived 50 minutes late to an emergency",
        },
    )


def notify(api: Api, case_id: str) -> dict[str, Any]:
    deadline = {"method": "paper", "acknowledged": True, "appeal_deadline": "2026-07-04T08:00:00Z"}
    answer: dict[str, Any] = api.ok("po", f"/penalties/{case_id}/notify", deadline)
    return answer


def test_a_penalty_is_proposed_notified_appealed_and_ruled(api: Api) -> None:
    propose(api, "C1")
    notify(api, "C1")
    api.ok("tech", "/penalties/C1/appeal", {"grounds": "电梯故障 the lift was broken"})
    api.ok(
        "po2",
        "/penalties/C1/ruling",
        {
            "decision": "reduced",
            "reasoning": "情有可原",
            "panel_ids": ["PO2"],
            "reduced_points": 1,
            "reduced_amount": "50.00",
        },
    )

    assert api.topics()[-5:] == [
        "PenaltyProposed", "PenaltyNotified", "AppealFiled", "AppealRuled", "PenaltyReduced",
    ]  # fmt: skip


def test_penalties_confirmed_after_the_deadline_or_revoked(api: Api) -> None:
    propose(api, "C2")
    notify(api, "C2")
    api.clock.now = T0 + timedelta(days=4)
    api.ok("po2", "/penalties/C2/confirm")
    propose(api, "C3")
    api.ok("po2", "/penalties/C3/revoke", {"reason": "认错人 wrong person"})

    assert api.topics()[-5:] == [
        "PenaltyProposed", "PenaltyNotified", "PenaltyConfirmed", "PenaltyProposed",
        "PenaltyRevoked",
    ]  # fmt: skip


def test_rewards_and_period_closure(api: Api) -> None:
    api.ok(
        "pm",
        "/rewards",
        {
            "reward_id": "R1",
            "property_id": "P1",
            "person_id": "S2",
            "kind": "praise_letter",
            "basis_event_ids": BASIS,
            "points": 1,
            "amount": "0.00",
            "reason": "业主表扬信",
        },
    )
    api.ok(
        "po",
        "/performance-periods",
        {
            "property_id": "P1",
            "period": "2026-09",
            "formula_version": "star-v1",
            "log_position": 1234,
            "inputs_sha256": "cd" * 32,
            "scores": ["S1:85.6:B", "S2:91:A", "S3:-4.5:D"],
        },
    )

    assert api.topics()[-2:] == ["RewardGranted", "PerformancePeriodClosed"]
