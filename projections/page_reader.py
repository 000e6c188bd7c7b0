"""Reading the log's pages for the projector: notification ids and decoded records.

The projector decodes each record itself, once per page, so it needs only (id, state) pairs;
the ledger's recorders serve those straight from their tables (`select_states`) instead of
building a notification object, with its UUID, per event. A recorder without that method
(a plain eventsourcing one) is read through its notifications.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from uuid import UUID

from eventsourcing.application import Application

from projections.record_json import loads
from projections.schema import Record

Page = tuple[list[int], list[Record]]
StateRead = Callable[[int, int], Sequence[tuple[int, bytes]]]


def state_reader(app: Application[UUID]) -> StateRead:
    """The recorder's raw page read, or one built from its notifications."""
    recorder = app.recorder
    select_states: StateRead | None = getattr(recorder, "select_states", None)
    if select_states is not None:
        return select_states

    def from_notifications(after: int, limit: int) -> list[tuple[int, bytes]]:
        found = recorder.select_notifications(after, limit, inclusive_of_start=False)
        return [(n.id, n.state) for n in found]

    return from_notifications


def read_page(select: StateRead, after: int, limit: int) -> Page:
    """The ids and decoded records of at most `limit` events after position `after`."""
    rows = select(after, limit)
    return [row[0] for row in rows], [loads(row[1]) for row in rows]
