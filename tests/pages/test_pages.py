"""The server-rendered pages: login, each page for an authorised user, 403 out of scope,
redirects when logged out, both languages on every page and nothing loaded from elsewhere."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.pages.access import csrf_token
from ledger.replay import replay
from ledger.trail import SealedLog
from projections import kpi_queries
from projections.views.signatures import signatures
from tests.pages.conftest import PASSWORD, Site, csrf_of, log_in

EXTERNAL = re.compile(r"(https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}|https?://")
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def pages(site: Site) -> dict[str, str]:
    """Every page, by name; each carries a Chinese and an English word of its own."""
    ranking = kpi_queries.ranking(site.engine, "2026Q3", "P-GARDEN")
    person = ranking.entries[0].person_id
    with site.engine.connect() as conn:
        event_id = conn.execute(select(signatures.c.event_id).limit(1)).scalar_one()
    return {
        "home": "/",
        "task": f"/tasks/{site.task_no}",
        "task_step": f"/tasks/{site.task_no}?version=1",
        "signatures": "/people/GD-CS/signatures?month=2026-07",
        "area": f"/areas/{site.area_id}",
        "audit": "/audit",
        "ranking": "/ranking?period=2026Q3&property=P-GARDEN",
        "breakdown": f"/ranking/2026Q3/{person}?property=P-GARDEN",
        "charts": "/charts?property=P-GARDEN",
        "event": f"/events/{event_id}",
        "notices": "/notices?property=P-GARDEN",
    }


LABELS = {
    "home": ("最近工单", "Recent tasks"),
    "task": ("责任链", "Responsibility chain"),
    "task_step": ("当时状态", "State at step 1"),
    "signatures": ("签字记录", "Signature record"),
    "area": ("区域责任史", "Area responsibility"),
    "audit": ("最新检查点", "Latest checkpoint"),
    "ranking": ("履约之星", "Leaderboard"),
    "breakdown": ("得分明细", "Score breakdown"),
    "charts": ("指标趋势", "KPI trends"),
    "event": ("包含证明", "Inclusion proof"),
    "notices": ("责任人公示", "responsible persons"),
}


@pytest.fixture(scope="module")
def manager(site: Site) -> TestClient:
    return site.client("manager")


@pytest.fixture(scope="module")
def towerpm(site: Site) -> TestClient:
    return site.client("towerpm")


def test_every_page_renders_for_an_authorised_user_in_both_languages(
    site: Site, manager: TestClient
) -> None:
    for name, path in pages(site).items():
        response = manager.get(path)

        assert response.status_code == 200, (name, response.text[:500])
        assert response.headers["content-type"].startswith("text/html")
        chinese, english = LABELS[name]
        assert chinese in response.text, name
        assert english in response.text, name


def test_no_page_loads_or_links_anything_from_another_site(site: Site, manager: TestClient) -> None:
    for name, path in pages(site).items():
        response = manager.get(path)

        assert EXTERNAL.findall(response.text) == [], name
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "script-src 'self'" in policy


def test_logged_out_visitors_are_sent_to_the_login_page_and_back(site: Site) -> None:
    client = site.client()
    for path in pages(site).values():
        response = client.get(path, follow_redirects=False)

        assert response.status_code == 303, path
        assert response.headers["location"] == f"/login?next={quote(path, safe='')}"


def test_logging_in_sets_an_http_only_strict_cookie_and_returns_to_the_page(site: Site) -> None:
    client = site.client()
    target = f"/tasks/{site.task_no}"

    response = log_in(client, "manager", PASSWORD, target)

    assert response.status_code == 303
    assert response.headers["location"] == target
    cookie = response.headers["set-cookie"]
    assert "lvyue_session=lvs_" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert client.get(target).status_code == 200


def test_a_wrong_password_is_refused_with_the_form_again(site: Site) -> None:
    client = site.client()

    response = log_in(client, "manager", "not the password")

    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert "wrong username or password" in response.text
    assert "lvyue_session" not in client.cookies


def test_a_login_without_the_form_token_is_refused(site: Site) -> None:
    client = site.client()
    client.get("/login")
    form = {"username": "manager", "password": PASSWORD, "csrf": "forged", "next": "/"}

    response = client.post("/login", data=form, follow_redirects=False)

    assert response.status_code == 403
    assert "lvyue_session" not in client.cookies


def test_login_only_returns_to_paths_on_this_site(site: Site) -> None:
    for target in (
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
    ):
        response = log_in(site.client(), "manager", PASSWORD, target)

        assert response.headers["location"] == "/"


def test_logout_needs_the_session_token_and_ends_the_session(site: Site) -> None:
    client = site.client("manager")
    session = client.cookies["lvyue_session"]

    refused = client.post("/logout", data={"csrf": "nope"}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200

    done = client.post("/logout", data={"csrf": csrf_token(session)}, follow_redirects=False)
    assert done.status_code == 303
    client.cookies.set("lvyue_session", session)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_out_of_scope_pages_are_403_with_the_reason_and_are_recorded(
    site: Site, towerpm: TestClient
) -> None:
    denials = site.app.state.services.denials
    before = len(denials.page(after=0, limit=10_000))
    event = pages(site)["event"]
    refused = {
        f"/tasks/{site.task_no}": "replay_stream",
        f"/areas/{site.area_id}": "read_area",
        "/people/GD-CS/signatures?property=P-GARDEN": "read_signatures",
        "/ranking?period=2026Q3&property=P-GARDEN": "read_kpis",
        "/charts?property=P-GARDEN": "read_kpis",
        event: "read_audit_trail",
        "/notices?property=P-GARDEN": "read_notices",
    }

    for path, _action in refused.items():
        response = towerpm.get(path)

        assert response.status_code == 403, path
        assert "P-GARDEN is outside your scope" in response.text, path
        assert "无权查看" in response.text
        assert "Forbidden" in response.text

    recorded = denials.page(after=0, limit=10_000)[before:]
    assert [(d.subject, d.action) for d in recorded] == [
        ("user:towerpm", action) for action in refused.values()
    ]


def test_a_role_without_the_action_gets_a_403_naming_the_roles(site: Site) -> None:
    tech = site.client("tech")

    response = tech.get(f"/tasks/{site.task_no}")

    assert response.status_code == 403
    assert "none of your roles may replay_stream" in response.text
    assert tech.get("/people/GD-T1/signatures").status_code == 200


def test_the_slider_shows_the_state_at_each_version(site: Site, manager: TestClient) -> None:
    whole = replay(site.ledger, f"task/{site.task_no}")
    first = manager.get(f"/tasks/{site.task_no}?version=1").text
    last = manager.get(f"/tasks/{site.task_no}").text

    assert 'id="status" class="status status-registered"' in first
    assert f'class="status status-{whole.state["status"]}"' in last
    assert f'max="{whole.latest_version}"' in last
    assert f'value="{whole.latest_version}"' in last
    for version in range(1, whole.latest_version + 1):
        assert f"/tasks/{site.task_no}?version={version}" in last


def test_every_event_id_links_to_its_page_and_its_inclusion_proof(
    site: Site, manager: TestClient
) -> None:
    page = manager.get(f"/tasks/{site.task_no}").text
    event_ids = re.findall(r'href="/events/([0-9a-f-]{36})"', page)
    assert event_ids

    event = manager.get(f"/events/{event_ids[0]}").text
    proof = re.search(r'href="(/api/trail/proofs/inclusion\?[^"]+)"', event)
    assert proof is not None
    response = manager.get(proof.group(1).replace("&amp;", "&"))
    assert response.status_code == 200
    assert response.json()["proof"]


def test_unknown_things_are_404_pages(manager: TestClient) -> None:
    assert manager.get("/tasks/NO-SUCH-TASK").status_code == 404
    assert manager.get("/areas/NO-SUCH-AREA").status_code == 404
    assert manager.get("/events/00000000-0000-0000-0000-000000000000").status_code == 404
    assert manager.get("/ranking/2026Q3/NOBODY?property=P-GARDEN").status_code == 404


def test_the_audit_runs_only_for_roles_that_may_and_only_with_the_form_token(
    site: Site, manager: TestClient
) -> None:
    auditor = site.client("auditor")
    page = auditor.get("/audit").text
    assert "/api/trail/export" in page

    forged = auditor.post("/audit", data={"csrf": "x"})
    ran = auditor.post("/audit", data={"csrf": csrf_of(page)})
    not_allowed = manager.post("/audit", data={"csrf": csrf_of(manager.get("/audit").text)})

    assert forged.status_code == 403
    assert ran.status_code == 200
    assert "通过 OK" in ran.text
    assert not_allowed.status_code == 403
    assert "none of your roles may run_audit" in not_allowed.text


def test_signatures_are_filtered_by_month_and_kind_and_paged(
    site: Site, manager: TestClient
) -> None:
    path = "/people/GD-CS/signatures"
    july = manager.get(path, params={"month": "2026-07"}).text
    august = manager.get(path, params={"month": "2026-08"}).text
    kinds = manager.get(path, params={"kind": "ResponsibilityAccepted"}).text

    assert "2026-07-0" in july
    assert "没有符合条件的签字" in august
    assert "接受责任 responsibility accepted" in kinds
    assert "责任人签字 signed off</td>" not in kinds


def test_search_forms_go_to_the_pages(manager: TestClient, site: Site) -> None:
    found = manager.get("/tasks", params={"no": site.task_no}, follow_redirects=False)
    assert found.headers["location"] == f"/tasks/{site.task_no}"
    found = manager.get("/people", params={"id": "GD-CS"}, follow_redirects=False)
    assert found.headers["location"] == "/people/GD-CS/signatures"
    found = manager.get("/areas", params={"id": "GD-B1"}, follow_redirects=False)
    assert found.headers["location"] == "/areas/GD-B1"


def test_the_pages_are_not_part_of_the_api_schema(site: Site) -> None:
    paths = site.client().get("/openapi.json").json()["paths"]

    assert all(path.startswith("/api/") for path in paths)


def test_static_files_are_served(site: Site) -> None:
    client = site.client()

    assert client.get("/static/pages.css").status_code == 200
    assert "form.submit()" in client.get("/static/slider.js").text


def test_the_notices_page_shows_what_was_in_force_at_a_moment(
    site: Site, manager: TestClient
) -> None:
    """The demo posts each property's notices when operations start: none were in force the
    year before, both are in force a month in."""
    def at(moment: str) -> Any:
        return manager.get("/notices", params={"property": "P-GARDEN", "as_of": moment})

    before = at("2025-01-01T00:00:00+08:00")
    later = at("2026-08-01T00:00:00+08:00")

    assert before.status_code == later.status_code == 200
    assert "暂无公示 No notices in force then" in before.text
    assert "责任人公示 responsible persons" in later.text
    assert "收费标准 fees" in later.text
    assert re.search(r'href="/events/[0-9a-f-]{36}"', later.text)
    assert at("soon").status_code == 422


def test_the_audit_page_lists_checkpoints_and_their_anchors(
    site: Site, manager: TestClient
) -> None:
    log = site.ledger.recorder
    assert isinstance(log, SealedLog)
    latest = log.latest_checkpoint()
    assert latest is not None
    page = manager.get("/audit").text

    assert "存证 Anchors outside the company" in page
    assert f"{latest.size} 个事件 events" in page
    assert "未存证 not anchored" in page
