"""The event's actor is always the authenticated principal; a client cannot claim another."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.api.conftest import TASK, Api, register


@pytest.mark.parametrize(
    "field", ["actor", "actor_id", "actor_kind", "actor_role", "recorded_at", "command_id"]
)
def test_a_client_supplied_actor_or_server_field_is_refused(api: Api, field: str) -> None:
    before = api.max_id()

    response = api.post("desk", "/tasks", {**TASK, field: "PM1"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == f"body.{field}"
    assert api.max_id() == before


def test_the_recorded_actor_is_the_token_holder_whatever_the_headers_say(api: Api) -> None:
    api.post("desk", "/tasks", TASK, **{"X-Actor": "PM1", "X-User": "admin"})

    record = api.get("sup", "/replay/task/T1").json()["events"]["items"][0]
    assert record["actor"] == {"id": "D1", "kind": "staff", "role": "dispatcher"}


def test_recorded_at_is_the_server_clock(api: Api) -> None:
    """Even a late entry is recorded at the server's time of receipt."""
    api.clock.now = datetime(2030, 1, 1, tzinfo=UTC)
    register(api, occurred_at="2029-12-31T00:00:00Z")

    record = api.get("sup", "/replay/task/T1").json()["events"]["items"][0]
    assert "2030-01-01T00:00:00+00:00" < record["recorded_at"] <= api.clock.now.isoformat()
    assert record["occurred_at"] == "2029-12-31T00:00:00+00:00"


def test_only_front_desk_roles_may_act_on_behalf_of_an_owner(api: Api) -> None:
    register(api)

    response = api.post("qi", "/tasks/T1/comments", {"text": "x", "on_behalf_of": "O1"})

    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    assert "front-desk" in response.json()["reason"]
    assert api.denials()[-1]["action"] == "comment_on_task"


def test_an_owner_cannot_act_on_behalf_of_another_owner(api: Api) -> None:
    register(api)

    response = api.post("owner", "/tasks/T1/comments", {"text": "x", "on_behalf_of": "O2"})

    assert response.status_code == 403


def test_staff_record_the_owners_word_only_on_their_behalf(api: Api) -> None:
    """Without on_behalf_of a front-desk user may not speak as the owner."""
    register(api)

    response = api.post("desk", "/tasks/T1/owner-accept", {"rating": 5})

    assert response.status_code == 403
    assert "on_behalf_of" in response.json()["reason"]
