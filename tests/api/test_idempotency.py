"""Idempotency keys: a retry returns the first result; another request under the key is 409."""

from __future__ import annotations

from tests.api.conftest import TASK, Api, register


def test_a_retry_returns_the_first_result_and_writes_nothing(api: Api) -> None:
    first = api.post("desk", "/tasks", TASK, key="reg-T1")
    before = api.max_id()

    again = api.post("desk", "/tasks", TASK, key="reg-T1")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {**first.json(), "repeated": True}
    assert first.json()["idempotency_key"] == "reg-T1"
    assert api.max_id() == before


def test_the_same_key_with_a_different_body_is_409(api: Api) -> None:
    api.ok("desk", "/tasks", TASK, key="reg")
    before = api.max_id()

    changed = api.post("desk", "/tasks", {**TASK, "description": "另一件事"}, key="reg")

    assert (changed.status_code, changed.json()["code"]) == (409, "command_id_reused")
    assert api.max_id() == before


def test_a_different_envelope_under_the_same_key_is_409(api: Api) -> None:
    """The ledger fingerprints only arguments; the API also fingerprints occurred_at etc."""
    register(api)
    api.ok("desk", "/tasks/T1/comments", {"text": "x"}, key="c1")

    late = api.post(
        "desk", "/tasks/T1/comments", {"text": "x", "occurred_at": "2026-06-30T00:00:00Z"}, key="c1"
    )

    assert (late.status_code, late.json()["code"]) == (409, "command_id_reused")


def test_the_same_key_on_another_route_is_409(api: Api) -> None:
    register(api)
    api.ok("desk", "/tasks/T1/comments", {"text": "x"}, key="k")

    response = api.post("desk", "/tasks/T1/close", {"reason": "accepted"}, key="k")

    assert response.status_code == 409


def test_keys_are_per_caller(api: Api) -> None:
    """Two clients choosing the same key never see each other's result."""
    register(api)

    mine = api.post("desk", "/tasks/T1/comments", {"text": "x"}, key="same")
    theirs = api.post("sup", "/tasks/T1/comments", {"text": "x"}, key="same")

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["command_id"] != theirs.json()["command_id"]


def test_a_refused_command_frees_its_key(api: Api) -> None:
    """Nothing was written, so the corrected request may reuse the key."""
    refused = api.post("desk", "/tasks", {**TASK, "priority": "whenever"}, key="fix-me")

    corrected = api.post("desk", "/tasks", TASK, key="fix-me")

    assert (refused.status_code, corrected.status_code) == (422, 201)
