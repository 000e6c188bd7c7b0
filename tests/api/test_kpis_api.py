"""KPI and ranking reads over HTTP: the breakdown, the event ids behind it, scope and errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from ledger.ids import event_id, stream_id
from projections import kpi_queries
from tests.api.conftest import Api
from tests.api.test_sla_api import sla_world_api
from tests.clock import T0, Clock

EMG = "EMG-ACK"


@pytest.fixture
def kpi_api(tmp_path: Path) -> Iterator[Api]:
    """The SLA world: three emergency acknowledgements, one on time, two breached (ES held)."""
    yield from sla_world_api(tmp_path)


def breach_id(task_no: str, version: int) -> str:
    return str(event_id(stream_id("sla_clock", f"{task_no}/{EMG}"), version))


def test_a_persons_kpis_carry_the_breakdown_and_its_event_ids(kpi_api: Api) -> None:
    response = kpi_api.get("sup", "/kpis/people/ES", period="2026Q3")
    assert response.status_code == 200, response.text
    [k] = response.json()["items"]
    assert (k["subject"], k["period"], k["response"]) == ("ES", "2026Q3", {"n": 2, "ok": 0})
    assert {breach_id("E-1", 3), breach_id("E-3", 2)} <= set(k["sources"]["response"])
    monthly = kpi_api.get("qi", "/kpis/people/ES").json()["items"]
    assert [m["period"] for m in monthly] == ["2026-07"]


def test_property_and_team_kpis(kpi_api: Api) -> None:
    [p] = kpi_api.get("pm", "/kpis/properties/P1", period="2026-07").json()["items"]
    assert (p["subject"], p["response"]) == ("P1", {"n": 3, "ok": 1})
    [t] = kpi_api.get("auditor", "/kpis/teams/PM", period="2026Q3").json()["items"]
    assert (t["subject"], t["response"]) == ("team:PM", {"n": 2, "ok": 0})
    empty = kpi_api.get("admin", "/kpis/properties/P9", period="2026Q3").json()
    assert [e["response"] for e in empty["items"]] == [{"n": 0, "ok": 0}]


def test_kpi_pages(kpi_api: Api) -> None:
    first = kpi_api.get("pm", "/kpis/properties/P1", limit=1).json()
    assert (len(first["items"]), first["next_cursor"]) == (1, None)
    assert kpi_api.get("pm", "/kpis/properties/P1", limit=501).status_code == 422


def test_the_ranking_with_its_terms_and_the_published_record(kpi_api: Api) -> None:
    response = kpi_api.get("po", "/rankings/2026Q3", property_id="P1", limit=2)
    assert response.status_code == 200, response.text
    ranking = response.json()
    assert (ranking["period"], ranking["property_id"], ranking["published"]) == (
        "2026Q3",
        "P1",
        None,
    )
    assert len(ranking["entries"]["items"]) == 2
    entry = ranking["entries"]["items"][0]
    assert entry["terms"]
    assert all("event_ids" in t for t in entry["terms"])
    rest = kpi_api.get(
        "po", "/rankings/2026Q3", property_id="P1", cursor=ranking["entries"]["next_cursor"]
    ).json()
    everyone = kpi_api.get("po", "/rankings/2026Q3", property_id="P1").json()["entries"]["items"]
    assert ranking["entries"]["items"] + rest["entries"]["items"] == everyone

    computed = kpi_queries.ranking(kpi_api.app.state.services.engine, "2026Q3", "P1")
    ctx = Clock(now=T0 + timedelta(days=95), prefix="close").ctx("PO", "staff")
    kpi_api.ledger.close_performance_period(
        ctx, "P1", "2026Q3", computed.formula_version, computed.log_position,
        computed.inputs_sha256, computed.scores(),
    )  # fmt: skip
    published = kpi_api.get("po", "/rankings/2026Q3", property_id="P1").json()["published"]
    assert published["inputs_sha256"] == ranking["inputs_sha256"]
    assert published["scores"] == list(computed.scores())
    assert kpi_api.get("admin", "/rankings/2026Q3").json()["property_id"] is None


def test_kpi_reads_map_their_errors_and_scope(kpi_api: Api) -> None:
    assert kpi_api.get("pm", "/kpis/people/NOBODY").json()["code"] == "not_found"
    assert kpi_api.get("pm", "/kpis/teams/NOBODY").json()["code"] == "not_found"
    bad = kpi_api.get("pm", "/kpis/people/ES", period="2026-13")
    assert (bad.status_code, bad.json()["code"]) == (422, "validation_failed")
    month = kpi_api.get("pm", "/rankings/2026-07", property_id="P1")
    assert (month.status_code, month.json()["code"]) == (422, "validation_failed")
    for who in ("desk", "owner"):
        denied = kpi_api.get(who, "/kpis/properties/P1")
        assert (denied.status_code, denied.json()["code"]) == (403, "forbidden"), who
    assert kpi_api.get("p2desk", "/kpis/people/ES").json()["code"] == "forbidden"
    assert kpi_api.get("pm", "/rankings/2026Q3").json()["code"] == "forbidden"  # company-wide
    assert kpi_api.get(None, "/rankings/2026Q3").status_code == 401
