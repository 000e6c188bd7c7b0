"""Every refusal is one 4xx problem+json with a stable code; nothing a client sends is a 500."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import timedelta

import httpx2
import pytest

import ledger.errors
from api.problems import DOMAIN_STATUS, PROBLEM_JSON
from ledger.envelope import CommandContext
from ledger.errors import ConcurrentModification, DomainError
from tests.api.conftest import T0, Api, register, to_completed


def codes_of(module: object) -> set[str]:
    return {
        cls.code
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, DomainError)
    }


def problem(response: httpx2.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, object] = response.json()
    assert (body["status"], body["code"], body["type"]) == (
        status,
        code,
        f"urn:lvyue:problem:{code}",
    )
    return body


def test_every_domain_error_code_has_exactly_one_4xx() -> None:
    assert codes_of(ledger.errors) == set(DOMAIN_STATUS)
    assert all(400 <= status < 500 for status in DOMAIN_STATUS.values())


def test_not_found_is_404_and_writes_nothing(api: Api) -> None:
    before = api.max_id()

    problem(api.post("desk", "/tasks/NOPE/accept"), 404, "not_found")
    assert api.max_id() == before


def test_already_exists_is_409(api: Api) -> None:
    register(api)

    problem(
        api.post(
            "desk",
            "/tasks",
            {
                "task_no": "T1",
                "property_id": "P1",
                "area_id": "A1",
                "kind": "repair",
                "service_line": "repair",
                "priority": "normal",
                "channel": "app",
                "location": "x",
                "description": "y",
            },
        ),
        409,
        "already_exists",
    )


def test_illegal_transition_is_409(api: Api) -> None:
    register(api)

    problem(api.post("tech", "/tasks/T1/start"), 409, "illegal_transition")


def test_not_responsible_is_403(api: Api) -> None:
    to_completed(api)

    body = problem(api.post("tech", "/tasks/T1/sign-off"), 403, "not_responsible")
    assert "SUP1" in str(body["detail"])


def test_separation_of_duties_is_403(api: Api) -> None:
    api.ok(
        "po",
        "/penalties",
        {
            "case_id": "C1",
            "property_id": "P1",
            "subject_id": "S2",
            "rule_id": "WR-1",
            "rule_version": 1,
            "clause": "§1",
            "points": 1,
            "amount": "10.00",
            "monthly_wage": "3000.00",
            "minimum_wage": "2000.00",
            "basis_event_ids": ["E-1"],
            "reason": "late",
        },
    )

    problem(api.post("po", "/penalties/C1/revoke", {"reason": "mine"}), 403, "separation_of_duties")


def test_actor_not_active_is_403(api: Api) -> None:
    api.ledger.offboard_staff(api.admin_ctx(), "D1", "离职 left")

    register_body = {
        "task_no": "T9",
        "property_id": "P1",
        "area_id": "A1",
        "kind": "repair",
        "service_line": "repair",
        "priority": "normal",
        "channel": "app",
        "location": "x",
        "description": "y",
    }
    problem(api.post("desk", "/tasks", register_body), 403, "actor_not_active")


def test_invalid_value_is_422(api: Api) -> None:
    body = problem(
        api.post(
            "desk",
            "/tasks",
            {
                "task_no": "T1",
                "property_id": "P1",
                "area_id": "A1",
                "kind": "repair",
                "service_line": "repair",
                "priority": "whenever",
                "channel": "app",
                "location": "x",
                "description": "y",
            },
        ),
        422,
        "invalid_value",
    )
    assert "priority" in str(body["detail"])


def test_occurred_at_more_than_five_minutes_ahead_is_422(api: Api) -> None:
    register(api)
    ahead = (api.clock.now + timedelta(minutes=10)).isoformat()

    problem(
        api.post("desk", "/tasks/T1/comments", {"text": "x", "occurred_at": ahead}),
        422,
        "invalid_value",
    )


def test_late_entries_keep_their_occurred_at(api: Api) -> None:
    register(api)
    earlier = (T0 - timedelta(days=1)).isoformat()

    api.ok("desk", "/tasks/T1/comments", {"text": "补录 late entry", "occurred_at": earlier})
    record = api.get("sup", "/replay/task/T1").json()["events"]["items"][-1]
    assert record["occurred_at"] == earlier
    assert record["recorded_at"] > record["occurred_at"]


def test_validation_errors_are_422_with_field_paths(api: Api) -> None:
    body = problem(
        api.post("desk", "/tasks", {"task_no": "", "priority": 3}), 422, "validation_failed"
    )

    locs = {error["loc"] for error in body["errors"]}  # type: ignore[attr-defined]
    assert {"body.task_no", "body.priority", "body.property_id"} <= locs


def test_naive_times_are_refused(api: Api) -> None:
    register(api)

    body = problem(
        api.post("tech", "/tasks/T1/comments", {"text": "x", "occurred_at": "2026-07-01T08:00:00"}),
        422,
        "validation_failed",
    )
    assert body["errors"][0]["loc"] == "body.occurred_at"  # type: ignore[index]


def test_a_missing_idempotency_key_is_422(api: Api) -> None:
    response = api.client.post(
        "/api/tasks/T1/start", json={}, headers={"Authorization": f"Bearer {api.tokens['tech']}"}
    )

    body = problem(response, 422, "validation_failed")
    assert body["errors"][0]["loc"] == "header.Idempotency-Key"  # type: ignore[index]


def test_unauthenticated_is_401(api: Api) -> None:
    problem(api.post(None, "/tasks/T1/start"), 401, "unauthenticated")
    response = api.client.post(
        "/api/tasks/T1/start",
        json={},
        headers={"Authorization": "Bearer lvy_forged", "Idempotency-Key": "k"},
    )
    problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_body_over_the_limit_is_413(api: Api) -> None:
    response = api.client.post(
        "/api/tasks/T1/comments",
        content=b'{"text": "' + b"x" * 70_000 + b'"}',
        headers={**api.headers("desk"), "content-type": "application/json"},
    )

    problem(response, 413, "payload_too_large")


def test_a_chunked_body_over_the_limit_is_413(api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"x" * 1024

    response = api.client.post(
        "/api/tasks/T1/comments", content=chunks(), headers=api.headers("desk")
    )

    problem(response, 413, "payload_too_large")


def test_unknown_routes_and_methods_are_problems(api: Api) -> None:
    problem(api.client.get("/api/nowhere"), 404, "not_found")
    problem(api.client.delete("/api/tasks"), 405, "method_not_allowed")


def test_if_match_on_a_stale_version_is_409_with_the_current_version(api: Api) -> None:
    register(api)
    before = api.max_id()

    body = problem(
        api.post("desk", "/tasks/T1/comments", {"text": "x"}, **{"If-Match": '"7"'}),
        409,
        "concurrent_modification",
    )
    assert body["current_version"] == 1
    assert api.max_id() == before
    api.ok("desk", "/tasks/T1/comments", {"text": "x"}, **{"If-Match": '"1"'})


def test_a_concurrent_write_is_409_with_the_current_version(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger's lost-update guard reaches the client as a 409, never a 500."""
    register(api)

    def collide(ctx: CommandContext, task_no: str, text: str, visibility: str) -> None:
        raise ConcurrentModification("another command changed this record first")

    monkeypatch.setattr(api.ledger, "comment_on_task", collide)

    body = problem(
        api.post("desk", "/tasks/T1/comments", {"text": "x"}), 409, "concurrent_modification"
    )
    assert body["current_version"] == 1


def test_a_reused_command_id_is_409(api: Api) -> None:
    """A command id the ledger already holds for another command is refused by the ledger."""
    register(api)
    ctx = api.admin_ctx()
    api.ledger.comment_on_task(
        CommandContext("D1", "staff", ctx.occurred_at, ctx.recorded_at, "staff:D1/taken"),
        "T1",
        "first",
    )

    problem(
        api.post("desk", "/tasks/T1/close", {"reason": "accepted"}, key="taken"),
        409,
        "command_id_reused",
    )
