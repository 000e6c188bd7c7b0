"""Commands do not project; every read catches the views up first (read-your-writes)."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, register


def positions(api: Api) -> set[int]:
    return set(api.app.state.services.views.projector.positions().values())


def test_a_command_leaves_the_views_to_the_next_read(api: Api) -> None:
    before = positions(api)

    register(api)

    assert positions(api) == before  # the command paid only for itself
    chain = api.get("sup", "/tasks/T1/chain")
    assert chain.status_code == 200, chain.text
    assert [link["link_no"] for link in chain.json()["items"]] == [1]
    assert positions(api) == {api.max_id()}


def test_a_read_sees_events_written_outside_this_app(api: Api) -> None:
    """Another process (here: the ledger directly) wrote; the read still sees it."""
    api.get("qi", "/areas/A1/history")  # the views are current
    api.ledger.define_area(api.admin_ctx(), "A2", "P1", "2号楼 building 2", "building", ("repair",))
    api.ledger.assign_responsibility(api.admin_ctx(), "A2", "repair", "S2")

    history = api.get("qi", "/areas/A2/history").json()["items"]

    assert [term["responsible_id"] for term in history] == ["S2"]


def test_reads_with_nothing_new_do_not_run_the_projector(api: Api) -> None:
    register(api)
    api.get("sup", "/tasks/T1/chain")
    calls: list[int] = []
    projector = api.app.state.services.views.projector
    original = projector.catch_up
    def counted(*args: Any, **kwargs: Any) -> int:
        calls.append(1)
        return int(original(*args, **kwargs))

    projector.catch_up = counted

    api.get("sup", "/tasks/T1/chain")
    api.get("qi", "/areas/A1/history")
    register(api, "T2")
    api.get("sup", "/tasks/T2/chain")

    assert calls == [1]
