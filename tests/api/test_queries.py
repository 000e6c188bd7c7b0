"""Queries over HTTP: chains, area responsibility at T, signatures, trail, replay, diff, paging."""

from __future__ import annotations

from tests.api.conftest import Api, to_completed


def completed(api: Api) -> Api:
    to_completed(api)
    api.ok("sup", "/tasks/T1/sign-off")
    return api


def test_the_responsibility_chain_is_paged(api: Api) -> None:
    completed(api)

    first = api.get("sup", "/tasks/T1/chain", limit=2).json()
    second = api.get("sup", "/tasks/T1/chain", limit=2, cursor=first["next_cursor"]).json()

    assert [link["link_no"] for link in first["items"] + second["items"]] == [1, 2, 3, 4]
    assert first["next_cursor"] == "2"
    assert first["items"][1]["responsible_id"] == "SUP1"


def test_holders_at_a_moment(api: Api) -> None:
    completed(api)
    chain = api.get("sup", "/tasks/T1/chain").json()["items"]

    at = api.get("owner", "/tasks/T1/holders", at=chain[1]["occurred_at"]).json()

    assert (at["responsible_id"], at["executor_id"]) == ("SUP1", "S2")
    early = api.get("owner", "/tasks/T1/holders", at="2020-01-01T00:00:00Z")
    assert early.status_code == 404


def test_area_history_and_who_was_responsible_then(api: Api) -> None:
    history = api.get("qi", "/areas/A1/history").json()["items"]
    since = history[0]["valid_from"]

    now = api.get("qi", "/areas/A1/responsible", service_line="repair", at=since).json()
    before = api.get(
        "qi", "/areas/A1/responsible", service_line="repair", at="2020-01-01T00:00:00Z"
    )

    assert now["responsible_id"] == "SUP1"
    assert before.status_code == 404


def test_who_signed_what(api: Api) -> None:
    completed(api)

    page = api.get("po", "/signatures", property_id="P1", signer_id="SUP1").json()

    assert page["items"]
    assert {s["signer_id"] for s in page["items"]} == {"SUP1"}


def test_the_audit_trail_is_keyset_paged(api: Api) -> None:
    completed(api)

    first = api.get("auditor", "/audit-trail", stream="task/T1", limit=3).json()
    rest = api.get("auditor", "/audit-trail", stream="task/T1", cursor=first["next_cursor"]).json()

    types = [e["type"] for e in first["items"] + rest["items"]]
    assert (types[0], types[-1]) == ("TaskRegistered", "CompletionSignedOff")
    assert rest["next_cursor"] is None


def test_replay_by_version_and_as_of_on_both_axes(api: Api) -> None:
    completed(api)
    events = api.get("sup", "/replay/task/T1").json()["events"]["items"]

    v2 = api.get("sup", "/replay/task/T1", version=2).json()
    then = api.get("sup", "/replay/task/T1", as_of=events[2]["occurred_at"]).json()
    known = api.get(
        "sup", "/replay/task/T1", as_of=events[2]["recorded_at"], axis="recorded"
    ).json()

    assert (v2["version"], v2["state"]["status"], v2["latest_version"]) == (2, "dispatched", 7)
    assert (then["version"], known["version"]) == (3, 3)
    assert len(v2["events"]["items"]) == 2


def test_diff_between_versions(api: Api) -> None:
    completed(api)

    changes = api.get("sup", "/diff/task/T1", from_version=1, to_version=2).json()["changes"]

    assert {"field": "status", "before": "registered", "after": "dispatched"} in changes


def test_replay_refusals(api: Api) -> None:
    completed(api)

    assert api.get("sup", "/replay/nonsense/T1").json()["code"] == "invalid_value"
    assert api.get("sup", "/replay/task/T404").status_code == 404
    assert api.get("sup", "/replay/task/T1", version=99).status_code == 422
    assert (
        api.get("sup", "/replay/task/T1", version=1, as_of="2026-07-01T00:00:00Z").status_code
        == 422
    )
    assert api.get("sup", "/diff/task/T1").status_code == 422
    assert api.get("sup", "/replay/task/T1", limit=501).status_code == 422


def test_denials_are_listed_for_auditors(api: Api) -> None:
    to_completed(api)
    api.post("tech", "/tasks/T1/cancel", {"reason": "x"})

    denial = api.get("auditor", "/access-denials", property_id="P1").json()["items"][-1]

    assert (denial["principal_id"], denial["action"], denial["method"]) == (
        "S2", "cancel_task", "POST",
    )  # fmt: skip
    assert (denial["roles"], denial["properties"]) == (["staff"], ["P1"])
