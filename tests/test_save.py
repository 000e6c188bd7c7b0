"""`LedgerCore.save`: the library's save, our aggregates and events recognised by class."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest
from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate

from ledger.domain.staff import Staff
from ledger.envelope import Actor, Meta
from ledger.ledger import Ledger

T = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def meta() -> Meta:
    return Meta(Actor("admin", "admin", "admin"), T, T, "cmd-1")


def test_aggregates_events_and_none_are_saved_like_the_library_does(ledger: Ledger) -> None:
    first = Staff.onboard(meta(), "S1", "E1", "engineering", (), None)
    second = Staff.onboard(meta(), "S2", "E2", "engineering", (), None)
    (event,) = second.collect_events()
    recordings = ledger.save(first, event, None)
    assert [r.notification.originator_version for r in recordings] == [1, 1]
    assert first.pending_events == []  # collected, as the library collects them
    assert ledger.load(Staff, "staff", "S2").employee_no == "E2"


def test_anything_else_is_collected_the_library_way(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A foreign aggregate goes through the library's protocol checks (our mapper would then
    refuse its uncatalogued event, so the processing event is looked at before recording)."""

    class Plain(Aggregate):
        pass

    seen: list[ProcessingEvent[UUID]] = []

    def record(processing: ProcessingEvent[UUID]) -> list[object]:
        seen.append(processing)
        return []

    monkeypatch.setattr(ledger, "_record", record)
    plain = Plain()
    ledger.save(plain)
    assert [e.originator_id for e in seen[0].events] == [plain.id]
    assert seen[0].aggregates == {plain.id: plain}
    assert plain.pending_events == []
