"""Staff, organisation and contract commands over HTTP: each route's happy path."""

from __future__ import annotations

from tests.api.conftest import DOC, LEVELS, Api

EMERGENCY = {
    "service_line": "emergency",
    "metric": "arrival",
    "target": "PT30M",
    "calendar_id": "CAL-24x7",
    "escalation_chain_id": "CH1",
    "penalty_rule": "RULE-7 §3",
    "source_ref": "合同 §5.2",
    "match_kinds": ["emergency"],
    "match_emergency_only": True,
    "penalty_points": 2,
    "penalty_amount": "200.00",
    "pause_on": ["owner_hold"],
}


def test_staff_are_onboarded_appointed_revoked_and_offboarded(api: Api) -> None:
    api.ok(
        "admin",
        "/staff",
        {
            "person_id": "N1",
            "employee_no": "E-N1",
            "job_family": "cleaning",
            "certificates": ["C-1"],
        },
    )
    api.ok(
        "pm",
        "/staff/N1/position",
        {"position": "cleaner", "property_id": "P1", "supervisor_id": "SUP1"},
    )
    api.ok("pm", "/staff/N1/position/revoke", {"reason": "调岗 transfer"})
    api.ok("pm", "/staff/N1/offboard", {"reason": "离职 left"})

    assert api.topics()[-4:] == [
        "StaffOnboarded", "PositionAssigned", "PositionRevoked", "StaffOffboarded",
    ]  # fmt: skip


def test_organisation_units_areas_responsibility_chains_and_rules(api: Api) -> None:
    before = len(api.topics())
    api.ok("admin", "/org-units", {"unit_id": "OU1", "name": "工程部", "kind": "department"})
    api.ok(
        "pm",
        "/areas",
        {
            "area_id": "A2",
            "property_id": "P1",
            "name": "大堂 lobby",
            "kind": "public_area",
            "service_lines": ["cleaning", "repair"],
        },
    )
    api.ok(
        "sup",
        "/areas/A2/responsibility/assign",
        {"service_line": "repair", "responsible_id": "S2", "deputy_id": "S3"},
    )
    api.ok("tech", "/areas/A2/responsibility/accept", {"service_line": "repair"})
    api.ok(
        "sup",
        "/areas/A2/responsibility/hand-over",
        {"service_line": "repair", "successor_id": "S3", "reason": "轮岗 rotation"},
    )
    api.ok(
        "sup",
        "/areas/A2/responsibility/release",
        {"service_line": "repair", "reason": "区域合并 merged"},
    )
    api.ok(
        "pm", "/escalation-chains", {"chain_id": "CH1", "property_id": "P1", "levels": list(LEVELS)}
    )
    api.ok("pm", "/escalation-chains/CH1/revise", {"levels": list(LEVELS[:2])})
    rule = {
        "title": "维修规范",
        "document_sha256": DOC,
        "procedure_ref": "WI-7",
        "effective_from": "2026-07-01T00:00:00+08:00",
    }
    api.ok("po", "/work-rules", {"rule_id": "WR1", **rule})
    api.ok(
        "po",
        "/work-rules/WR1/revise",
        {**rule, "title": "维修规范 v2", "document_sha256": "ef" * 32},
    )
    api.ok("tech", "/work-rules/WR1/acknowledge", {"person_id": "S2", "version": 2})

    assert api.topics()[before:] == [
        "OrgUnitCreated", "ResponsibilityAreaDefined", "ResponsibilityAssigned",
        "ResponsibilityAccepted", "ResponsibilityReleased", "ResponsibilityAssigned",
        "ResponsibilityReleased", "EscalationChainDefined", "EscalationChainRevised",
        "WorkRulePublished", "WorkRulePublished", "WorkRuleAcknowledged",
    ]  # fmt: skip


def test_contracts_clauses_and_calendars(api: Api) -> None:
    api.ok(
        "pm", "/escalation-chains", {"chain_id": "CH1", "property_id": "P1", "levels": list(LEVELS)}
    )
    api.ok(
        "admin",
        "/calendars/CAL-24x7",
        {
            "mode": "24x7",
            "weekly_hours": "",
            "holidays": [],
            "makeup_workdays": [],
            "source": "contract §5",
        },
    )
    api.ok(
        "pm",
        "/contracts",
        {
            "contract_no": "HT-1",
            "kind": "selected",
            "company": "某物业",
            "counterparty": "业委会",
            "property_ids": ["P1"],
            "term_start": "2026-01-01T00:00:00Z",
            "term_end": "2029-01-01T00:00:00Z",
            "fee_model": "lump_sum",
            "fee_standard": "2.80",
            "document_sha256": DOC,
        },
    )
    api.ok("pm", "/contracts/HT-1/clauses", {"clause_id": "C-EM", **EMERGENCY})
    api.ok(
        "po",
        "/contracts/HT-1/clauses/C-EM/revise",
        {**EMERGENCY, "target": "PT20M", "effective_from": "2026-08-01T00:00:00Z"},
    )

    assert api.topics()[-4:] == [
        "BusinessCalendarPublished", "ServiceContractRegistered",
        "ServiceLevelClauseDefined", "ServiceLevelClauseRevised",
    ]  # fmt: skip
