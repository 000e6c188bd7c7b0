"""SLA reads over HTTP: a task's clocks with every fact and event id; breaches by property."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledger.ids import event_id, stream_id
from tests.api.conftest import Api, build
from tests.clock import T0, Clock
from tests.sla_world import CONTRACT, build_world, dispatch, last_event_id, moment, register, system

EMG = "EMG-ACK"


def minutes(n: float) -> str:
    return (T0 + timedelta(minutes=n)).isoformat()


def at(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.fixture
def sla_api(tmp_path: Path) -> Iterator[Api]:
    yield from sla_world_api(tmp_path)


def sla_world_api(tmp_path: Path) -> Iterator[Api]:
    """E-1: breached, warned, escalated, stopped late; E-2: stopped in time; E-3: breached."""
    app, ledger, server_clock, tokens = build(tmp_path)
    clock = Clock()
    build_world(ledger, clock)
    for task_no in ("E-1", "E-2", "E-3"):
        register(ledger, clock, task_no, at=at(5))
        ledger.start_sla_clock(system(clock, at(6)), task_no, CONTRACT, EMG)
    ledger.raise_sla_warning(system(clock, at(20)), "E-1", EMG, "50", ("ES",))
    moment(clock, at(21))
    dispatch(ledger, clock, "E-2", "T1")
    ledger.accept_task(clock.ctx("T1"), "E-2")
    ledger.stop_sla_clock(system(clock), "E-2", EMG, last_event_id(ledger, "E-2"))
    for task_no in ("E-1", "E-3"):
        ledger.record_sla_breach(system(clock, at(35)), task_no, EMG)
    ledger.escalate_sla(system(clock, at(36)), "E-1", EMG, 1, "ES")
    moment(clock, at(60))
    dispatch(ledger, clock, "E-1", "T1")
    ledger.accept_task(clock.ctx("T1"), "E-1")
    ledger.stop_sla_clock(system(clock, at(62)), "E-1", EMG, last_event_id(ledger, "E-1"))
    with TestClient(app) as client:
        app.state.services.views.projector.catch_up()
        yield Api(client, app, ledger, server_clock, tokens)
    ledger.close()


def test_a_tasks_clocks_carry_clause_version_course_breach_and_escalations(sla_api: Api) -> None:
    response = sla_api.get("pm", "/tasks/E-1/sla")
    assert response.status_code == 200, response.text
    page = response.json()
    [c] = page["items"]
    sid = str(stream_id("sla_clock", f"E-1/{EMG}"))
    assert (c["task_no"], c["clause_id"], c["clause_version"], c["metric"]) == (
        "E-1",
        EMG,
        1,
        "ack",
    )
    assert (c["stream_id"], c["status"], c["met"]) == (sid, "stopped", False)
    assert c["start_event_id"] == str(event_id(stream_id("task", "E-1"), 1))
    assert c["stop_event_id"] == last_event_id(sla_api.ledger, "E-1")
    assert [e["type"] for e in c["events"]] == [
        "SlaClockStarted",
        "SlaWarningRaised",
        "SlaBreached",
        "SlaEscalated",
        "SlaClockStopped",
    ]
    ids = [str(event_id(stream_id("sla_clock", f"E-1/{EMG}"), v)) for v in range(1, 6)]
    assert [e["event_id"] for e in c["events"]] == ids
    assert c["warnings"] == [
        {
            "event_id": ids[1],
            "threshold": "50",
            "warned_at": c["warnings"][0]["warned_at"],
            "notified_ids": ["ES"],
        }
    ]
    assert c["breach"]["event_id"] == ids[2]
    assert c["breach"]["responsible_at_breach"] == "ES"  # the area's emergency holder then
    assert [(e["level"], e["notified_id"], e["event_id"]) for e in c["escalations"]] == [
        (1, "ES", ids[3])
    ]
    assert page["next_cursor"] is None


def test_a_clock_stopped_in_time_is_met_and_other_tasks_clocks_stay_out(sla_api: Api) -> None:
    [c] = sla_api.get("sup", "/tasks/E-2/sla").json()["items"]
    assert (c["task_no"], c["status"], c["met"], c["breach"]) == ("E-2", "stopped", True, None)
    [running] = sla_api.get("owner", "/tasks/E-3/sla").json()["items"]
    assert (running["status"], running["stopped_at"]) == ("running", None)
    assert running["breach"]["event_id"]


def test_task_sla_maps_its_errors(sla_api: Api) -> None:
    assert sla_api.get("pm", "/tasks/NOPE/sla").json()["code"] == "not_found"
    assert sla_api.get("pm", "/tasks/E-1/sla", limit=0).status_code == 422
    denied = sla_api.get("p2desk", "/tasks/E-1/sla")
    assert (denied.status_code, denied.json()["code"]) == (403, "forbidden")
    assert sla_api.get(None, "/tasks/E-1/sla").status_code == 401


def test_breaches_by_property_in_log_order_with_pages(sla_api: Api) -> None:
    first = sla_api.get("pm", "/sla/breaches", property_id="P1", limit=1)
    assert first.status_code == 200, first.text
    [one] = first.json()["items"]
    assert (one["task_no"], one["clause_id"], one["clause_version"]) == ("E-1", EMG, 1)
    assert one["breach"]["event_id"] == str(event_id(stream_id("sla_clock", f"E-1/{EMG}"), 3))
    assert [e["level"] for e in one["escalations"]] == [1]
    cursor = first.json()["next_cursor"]
    second = sla_api.get("pm", "/sla/breaches", property_id="P1", limit=1, cursor=cursor).json()
    assert [b["task_no"] for b in second["items"]] == ["E-3"]
    assert second["next_cursor"] is None
    everything = sla_api.get("admin", "/sla/breaches").json()["items"]
    assert [b["task_no"] for b in everything] == ["E-1", "E-3"]


def test_breaches_filter_by_time_and_scope(sla_api: Api) -> None:
    assert (
        sla_api.get("pm", "/sla/breaches", property_id="P1", since=minutes(40)).json()["items"]
        == []
    )
    assert (
        sla_api.get("pm", "/sla/breaches", property_id="P1", until=minutes(30)).json()["items"]
        == []
    )
    window = sla_api.get("pm", "/sla/breaches", property_id="P1", since=minutes(30),
                         until=minutes(40)).json()["items"]  # fmt: skip
    assert len(window) == 2
    assert sla_api.get("pm", "/sla/breaches", property_id="P2").json()["code"] == "forbidden"
    assert sla_api.get("pm", "/sla/breaches").json()["code"] == "forbidden"  # company-wide
    assert sla_api.get("owner", "/sla/breaches", property_id="P1").status_code == 403
    naive = sla_api.get("pm", "/sla/breaches", property_id="P1", since="2026-07-01T08:00:00")
    assert naive.json()["code"] == "validation_failed"
