"""Notices over HTTP: publishing (who may, what is refused) and reading them back in scope."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import DOC, PHOTO, Api
from tests.api.test_problems import problem

NOTICE: dict[str, Any] = {
    "notice_id": "N1",
    "property_id": "P1",
    "kind": "responsible_persons",
    "title": "服务事项与责任人公示 service items and responsible persons",
    "scope": ["A1"],
    "channels": ["board", "app"],
    "valid_from": "2026-07-01T00:00:00+08:00",
    "doc_sha256": DOC,
    "evidence": [PHOTO],
}


def publish(api: Api, who: str = "pm", **changes: Any) -> Any:
    return api.post(who, "/notices", {**NOTICE, **changes})


def test_the_project_manager_and_the_front_desk_publish(api: Api) -> None:
    assert publish(api).status_code == 201
    fees = publish(api, "desk", notice_id="N2", kind="fees", valid_to="2027-07-01T00:00:00Z")
    assert fees.status_code == 201, fees.text
    assert api.topics()[-2:] == ["NoticePublished", "NoticePublished"]


def test_a_role_without_the_permission_is_forbidden_and_nothing_is_written(api: Api) -> None:
    before = api.max_id()
    for who in ("qi", "owner", "auditor"):
        problem(publish(api, who, notice_id=f"N-{who}"), 403, "forbidden")
    problem(publish(api, "p2desk"), 403, "forbidden")  # a P2 clerk posting in P1
    assert api.max_id() == before


def test_the_publisher_is_the_authenticated_principal(api: Api) -> None:
    body = problem(publish(api, published_by="S2"), 422, "validation_failed")
    assert {e["loc"] for e in body["errors"]} == {"body.published_by"}  # type: ignore[attr-defined]
    publish(api, "desk")
    rows = api.get("desk", "/notices", property_id="P1").json()["items"]
    assert [(n["publisher_id"], n["publisher_role"]) for n in rows] == [("D1", "dispatcher")]


def test_malformed_bodies_are_validation_failures(api: Api) -> None:
    for changes in (
        {"valid_from": "2026-07-01T00:00:00"},  # naive
        {"channels": "board"},
        {"scope": ["no spaces allowed"]},
        {"notice_id": ""},
    ):
        problem(publish(api, **changes), 422, "validation_failed")
    assert "NoticePublished" not in api.topics()


def test_domain_refusals_are_named(api: Api) -> None:
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"kind": "gossip"}, 422, "invalid_value"),
        ({"title": "x" * 201}, 422, "invalid_value"),
        ({"channels": []}, 422, "invalid_value"),
        ({"channels": ["board", "fax"]}, 422, "invalid_value"),
        ({"evidence": []}, 422, "invalid_value"),  # the board photo is missing
        ({"valid_to": "2026-06-30T00:00:00Z"}, 422, "invalid_value"),
        ({"doc_sha256": "EF" * 32}, 422, "invalid_value"),
    ]
    for changes, status, code in cases:
        problem(publish(api, **changes), status, code)
    assert "NoticePublished" not in api.topics()
    assert publish(api).status_code == 201
    problem(publish(api, title="again"), 409, "already_exists")


def test_notices_are_read_per_property_in_the_callers_scope(api: Api) -> None:
    publish(api)
    publish(api, notice_id="N2", kind="fees", valid_from="2026-08-01T00:00:00Z")
    api.ok("p2desk", "/notices", {**NOTICE, "notice_id": "N3", "property_id": "P2"})

    every = api.get("owner", "/notices", property_id="P1").json()
    fees = api.get("auditor", "/notices", property_id="P1", kind="fees").json()
    july = api.get("desk", "/notices", property_id="P1", as_of="2026-07-15T00:00:00Z").json()

    assert [n["notice_id"] for n in every["items"]] == ["N1", "N2"]
    assert every["items"][0]["scope"] == ["A1"]
    assert every["items"][0]["event_id"]
    assert [n["notice_id"] for n in fees["items"]] == ["N2"]
    assert [n["notice_id"] for n in july["items"]] == ["N1"]
    problem(api.get("desk", "/notices", property_id="P2"), 403, "forbidden")
    assert [n["notice_id"] for n in api.get("po", "/notices", property_id="P2").json()["items"]] \
        == ["N3"]
    problem(api.get("desk", "/notices"), 422, "validation_failed")  # property_id is required


def test_notices_are_paged(api: Api) -> None:
    for n in range(3):
        publish(api, notice_id=f"N{n}")

    first = api.get("pm", "/notices", property_id="P1", limit=2).json()
    second = api.get("pm", "/notices", property_id="P1", limit=2, cursor=first["next_cursor"])

    assert [n["notice_id"] for n in first["items"] + second.json()["items"]] == ["N0", "N1", "N2"]
    assert second.json()["next_cursor"] is None
