"""Service contracts, versioned service-level clauses and business calendars."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.domain.contracts import BusinessCalendar, Contract, calendar_key, parse_duration
from ledger.errors import (
    ActorNotActive,
    AlreadyExists,
    CommandIdReused,
    InvalidValue,
    NotFound,
)
from ledger.ledger import Ledger
from tests.clock import Clock
from tests.test_organisation import DOC, LEVELS, get, last_record, onboard, refused, topics

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2029, 1, 1, tzinfo=UTC)
CONTRACT: dict[str, Any] = {
    "contract_no": "HT-2026-01",
    "kind": "selected",
    "company": "某物业服务有限公司",
    "counterparty": "业主委员会 owners' committee",
    "property_ids": ("P1", "P2"),
    "term_start": START,
    "term_end": END,
    "fee_model": "lump_sum",
    "fee_standard": "2.80",
    "document_sha256": DOC,
}
EMERGENCY: dict[str, Any] = {
    "service_line": "emergency",
    "metric": "arrival",
    "target": "PT30M",
    "calendar_id": "CAL-24x7",
    "escalation_chain_id": "CH1",
    "penalty_rule": "RULE-7 §3",
    "source_ref": "合同 §5.2",
    "match_kinds": ("emergency",),
    "match_emergency_only": True,
    "penalty_points": 2,
    "penalty_amount": "200.00",
    "pause_on": ("owner_hold",),
}
WORKDAYS: dict[str, Any] = {
    "mode": "working_hours",
    "weekly_hours": "09:00-12:00,13:30-18:00",
    "holidays": ("2026-10-02", "2026-10-01"),
    "makeup_workdays": ("2026-09-27",),
    "source": "chinese-calendar 1.11.0",
}


@pytest.fixture
def app(ledger: Ledger) -> Ledger:
    """Staff, escalation chain CH1 (P1), calendars CAL-24x7 and CAL-WD, contract HT-2026-01."""
    clock = Clock(prefix="setup", now=datetime(2026, 1, 5, tzinfo=UTC))
    onboard(ledger, clock)
    ledger.define_escalation_chain(clock.admin(), "CH1", "P1", LEVELS)
    ledger.define_escalation_chain(clock.admin(), "CH3", "P3", LEVELS)
    ledger.publish_calendar(clock.admin(), "CAL-24x7", "24x7", "", (), (), "contract §5")
    ledger.publish_calendar(clock.admin(), "CAL-WD", **WORKDAYS)
    ledger.register_contract(clock.admin(), **CONTRACT)
    return ledger


def contract(app: Ledger) -> Contract:
    found: Contract = get(app, Contract, "contract", "HT-2026-01")
    return found


def calendar(app: Ledger, calendar_id: str) -> BusinessCalendar:
    found: BusinessCalendar = get(app, BusinessCalendar, "contract", calendar_key(calendar_id))
    return found


def later() -> Clock:
    """A clock a month into the contract term."""
    return Clock(now=datetime(2026, 2, 1, tzinfo=UTC))


# -- contracts -------------------------------------------------------------------------------


def test_register_contract(app: Ledger) -> None:
    registered = contract(app)
    assert (registered.kind, registered.property_ids, registered.term_end) == (
        "selected", ("P1", "P2"), END,
    )  # fmt: skip
    assert registered.clauses == {}
    assert topics(app)[-1] == "ServiceContractRegistered"
    assert last_record(app)["property_id"] == "P1"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({}, AlreadyExists),
        ({"contract_no": "calendar/X"}, InvalidValue),
        ({"kind": "temporary"}, InvalidValue),
        ({"fee_model": "per_visit"}, InvalidValue),
        ({"fee_standard": "2.8"}, InvalidValue),
        ({"fee_standard": "-2.80"}, InvalidValue),
        ({"document_sha256": "not-a-hash"}, InvalidValue),
        ({"property_ids": ()}, InvalidValue),
        ({"property_ids": ("P1", "P1")}, InvalidValue),
        ({"term_end": START}, InvalidValue),
        ({"term_start": datetime(2026, 1, 1)}, InvalidValue),
        ({"company": ""}, InvalidValue),
    ],
)
def test_register_contract_refusals(app: Ledger, change: dict[str, Any], error: type) -> None:
    fresh = {} if not change else {"contract_no": "HT-2026-02"}
    refused(app, error, app.register_contract, later().admin(), **{**CONTRACT, **fresh, **change})


def test_only_staff_or_admin_register_contracts(app: Ledger) -> None:
    owner = later().ctx("O1", "owner")
    refused(app, ActorNotActive, app.register_contract, owner, **{**CONTRACT, "contract_no": "X"})


# -- calendars -------------------------------------------------------------------------------


def test_calendar_is_republished_as_a_new_version(app: Ledger) -> None:
    working = calendar(app, "CAL-WD")
    assert (working.calendar_version, working.mode) == (1, "working_hours")
    assert working.tz == "Asia/Shanghai"
    assert working.holidays == ("2026-10-01", "2026-10-02")
    assert working.makeup_workdays == ("2026-09-27",)
    moved = {**WORKDAYS, "makeup_workdays": ("2026-10-10",)}
    app.publish_calendar(later().admin(), "CAL-WD", **moved)
    assert topics(app)[-1] == "BusinessCalendarPublished"
    assert last_record(app)["data"]["version"] == 2
    republished = calendar(app, "CAL-WD")
    assert (republished.calendar_version, republished.makeup_workdays) == (2, ("2026-10-10",))
    assert calendar(app, "CAL-24x7").weekly_hours == ""


@pytest.mark.parametrize(
    "change",
    [
        {},  # unchanged republication
        {"tz": "Mars/Olympus"},
        {"mode": "sometimes"},
        {"weekly_hours": "9-18"},
        {"weekly_hours": "18:00-09:00"},
        {"weekly_hours": "09:00-12:00,11:00-13:00"},
        {"weekly_hours": ""},
        {"mode": "24x7"},  # a 24x7 calendar has no working hours
        {"holidays": ("2026-13-01",)},
        {"holidays": ("2026/10/01",)},
        {"holidays": ("2026-10-01", "2026-10-01")},
        {"makeup_workdays": ("2026-09-28",)},  # a Monday
        {"holidays": ("2026-09-27",)},  # also a make-up day
        {"source": " "},
    ],
)
def test_calendar_refusals(app: Ledger, change: dict[str, Any]) -> None:
    body = {**WORKDAYS, **change}
    refused(app, InvalidValue, app.publish_calendar, later().admin(), "CAL-WD", **body)


def test_only_staff_or_admin_publish_calendars(app: Ledger) -> None:
    device = later().ctx("IOT-1", "device")
    refused(app, ActorNotActive, app.publish_calendar, device, "CAL-X", **WORKDAYS)


# -- clauses ---------------------------------------------------------------------------------


def test_define_clauses(app: Ledger) -> None:
    clock = later()
    app.define_clause(clock.admin(), "HT-2026-01", "CL-EMG", **EMERGENCY)
    app.define_clause(
        clock.ctx("S1"), "HT-2026-01", "CL-ELV", "elevator", "frequency", "P15D", "CAL-24x7",
        "CH1", "RULE-7 §5", "潍坊电梯条例 art. 23", requires_signer_position="safety_manager",
    )  # fmt: skip
    assert topics(app)[-2:] == ["ServiceLevelClauseDefined"] * 2
    assert last_record(app)["property_id"] == "P1"
    emergency = contract(app).clause_at("CL-EMG", START)
    assert emergency is not None
    assert (emergency["version"], emergency["effective_from"]) == (1, START)
    assert (emergency["target"], emergency["penalty_amount"]) == ("PT30M", "200.00")
    assert (emergency["warn_at"], emergency["pause_on"]) == (("50", "75"), ("owner_hold",))
    assert contract(app).clause_at("CL-EMG", START - timedelta(seconds=1)) is None
    elevator = contract(app).clause_at("CL-ELV", START + timedelta(days=1))
    assert elevator is not None
    assert (elevator["requires_signer_position"], elevator["match_kinds"]) == ("safety_manager", ())


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"calendar_id": "CAL-NONE"}, NotFound),
        ({"escalation_chain_id": "CH-NONE"}, NotFound),
        ({"escalation_chain_id": "CH3"}, InvalidValue),  # CH3 serves P3, not this contract
        ({"service_line": "parking"}, InvalidValue),
        ({"metric": "satisfaction"}, InvalidValue),
        ({"target": "P1W"}, InvalidValue),
        ({"target": "P1M"}, InvalidValue),
        ({"target": "PT0M"}, InvalidValue),
        ({"target": "30 minutes"}, InvalidValue),
        ({"warn_at": ("75", "50")}, InvalidValue),
        ({"warn_at": ("50", "50")}, InvalidValue),
        ({"warn_at": ("0",)}, InvalidValue),
        ({"warn_at": ("100",)}, InvalidValue),
        ({"warn_at": ("5O",)}, InvalidValue),
        ({"match_kinds": ("parking",)}, InvalidValue),
        ({"match_kinds": ("repair", "repair")}, InvalidValue),
        ({"match_emergency_only": "yes"}, InvalidValue),
        ({"pause_on": ("lunch",)}, InvalidValue),
        ({"penalty_points": -1}, InvalidValue),
        ({"penalty_points": True}, InvalidValue),
        ({"penalty_amount": "200"}, InvalidValue),
        ({"penalty_amount": "-1.00"}, InvalidValue),
        ({"requires_signer_position": "boss"}, InvalidValue),
        ({"source_ref": ""}, InvalidValue),
        ({"penalty_rule": " "}, InvalidValue),
        ({"effective_from": START - timedelta(days=1)}, InvalidValue),
        ({"effective_from": END}, InvalidValue),
    ],
)
def test_define_clause_refusals(app: Ledger, change: dict[str, Any], error: type) -> None:
    call = app.define_clause
    refused(app, error, call, later().admin(), "HT-2026-01", "CL-EMG", **{**EMERGENCY, **change})


def test_clause_ids_are_unique_and_contracts_must_exist(app: Ledger) -> None:
    clock = later()
    define = app.define_clause
    refused(app, NotFound, define, clock.admin(), "HT-NONE", "CL-EMG", **EMERGENCY)
    app.define_clause(clock.admin(), "HT-2026-01", "CL-EMG", **EMERGENCY)
    refused(app, AlreadyExists, define, clock.admin(), "HT-2026-01", "CL-EMG", **EMERGENCY)
    owner = clock.ctx("O1", "owner")
    refused(app, ActorNotActive, define, owner, "HT-2026-01", "CL-2", **EMERGENCY)


def test_revised_clause_is_read_by_effective_time(app: Ledger) -> None:
    clock = later()
    app.define_clause(clock.admin(), "HT-2026-01", "CL-EMG", **EMERGENCY)
    first, second = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    clause = ("HT-2026-01", "CL-EMG")
    app.revise_clause(clock.admin(), *clause, first, **{**EMERGENCY, "target": "PT20M"})
    assert topics(app)[-1] == "ServiceLevelClauseRevised"
    assert last_record(app)["data"]["version"] == 2
    app.revise_clause(clock.admin(), *clause, second, **{**EMERGENCY, "target": "PT15M"})
    revised = contract(app)

    def target_at(at: datetime) -> tuple[int, str]:
        version = revised.clause_at("CL-EMG", at)
        assert version is not None
        return version["version"], version["target"]

    assert target_at(first - timedelta(seconds=1)) == (1, "PT30M")
    assert target_at(first) == (2, "PT20M")
    assert target_at(second - timedelta(seconds=1)) == (2, "PT20M")
    assert target_at(second) == (3, "PT15M")
    assert target_at(END) == (3, "PT15M")
    with pytest.raises(NotFound):
        revised.clause_at("CL-NONE", first)


def test_revise_clause_refusals(app: Ledger) -> None:
    clock = later()
    revise = app.revise_clause
    app.define_clause(clock.admin(), "HT-2026-01", "CL-EMG", **EMERGENCY)
    faster = {**EMERGENCY, "target": "PT20M"}
    march = datetime(2026, 3, 1, tzinfo=UTC)
    refused(app, NotFound, revise, clock.admin(), "HT-2026-01", "CL-NONE", march, **faster)
    refused(app, NotFound, revise, clock.admin(), "HT-NONE", "CL-EMG", march, **faster)
    refused(app, InvalidValue, revise, clock.admin(), "HT-2026-01", "CL-EMG", START, **faster)
    refused(app, InvalidValue, revise, clock.admin(), "HT-2026-01", "CL-EMG",
            datetime(2026, 1, 15, tzinfo=UTC), **faster)  # fmt: skip  # retroactive
    refused(app, InvalidValue, revise, clock.admin(), "HT-2026-01", "CL-EMG", END, **faster)
    refused(app, InvalidValue, revise, clock.admin(), "HT-2026-01", "CL-EMG", march, **EMERGENCY)
    refused(app, InvalidValue, revise, clock.admin(), "HT-2026-01", "CL-EMG", march,
            **{**faster, "metric": "speed"})  # fmt: skip
    refused(app, NotFound, revise, clock.admin(), "HT-2026-01", "CL-EMG", march,
            **{**faster, "calendar_id": "CAL-NONE"})  # fmt: skip
    refused(app, ActorNotActive, revise, clock.ctx("O1", "owner"), "HT-2026-01", "CL-EMG", march,
            **faster)  # fmt: skip


# -- durations and idempotency ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT0M", timedelta(0)),
        ("PT30M", timedelta(minutes=30)),
        ("PT2H", timedelta(hours=2)),
        ("P1D", timedelta(days=1)),
        ("P15D", timedelta(days=15)),
        ("P1DT2H30M10S", timedelta(days=1, hours=2, minutes=30, seconds=10)),
    ],
)
def test_durations_in_the_pndtnhnmns_form(text: str, expected: timedelta) -> None:
    assert parse_duration("target", text) == expected


@pytest.mark.parametrize("text", ["P", "PT", "P1DT", "P1W", "P1Y", "PT1.5H", "pt1h", "PT1M2H", ""])
def test_other_durations_are_refused(text: str) -> None:
    with pytest.raises(InvalidValue):
        parse_duration("target", text)


def test_a_repeated_command_returns_the_first_result_and_writes_nothing(app: Ledger) -> None:
    clock = later()
    args = ("HT-2026-01", "CL-EMG")
    first = app.define_clause(clock.admin(command_id="clause-1"), *args, **EMERGENCY)
    before = app.recorder.max_notification_id()
    again = app.define_clause(clock.admin(command_id="clause-1"), *args, **EMERGENCY)
    assert (again.repeated, again.events) == (True, first.events)
    assert app.recorder.max_notification_id() == before
    refused(app, CommandIdReused, app.define_clause, clock.admin(command_id="clause-1"), *args,
            **{**EMERGENCY, "target": "PT10M"})  # fmt: skip
