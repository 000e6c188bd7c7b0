"""Loading aggregates: the ledger's repository folds events exactly as the library does."""

from __future__ import annotations

from eventsourcing.application import Repository, project_aggregate
from eventsourcing.utils import get_topic

from ledger.domain.tasks import Task
from ledger.ids import stream_id
from ledger.ledger import Ledger
from ledger.repository import LedgerRepository, fold
from tests.clock import Clock
from tests.test_projector import scenario


def test_loading_folds_like_the_library_at_every_version() -> None:
    app = Ledger("memory://")
    scenario(app, Clock())
    sid = stream_id("task", "T1")
    events = list(app.events.get(sid))
    assert len(events) > 3
    for version in range(1, len(events) + 1):
        ours: object = app.repository.get(sid, version=version)
        library = project_aggregate(None, events[:version])
        assert isinstance(ours, Task)
        assert vars(ours) == vars(library)
        assert vars(fold(None, events[:version])) == vars(library)
    app.close()


def test_the_repository_keeps_the_library_configuration() -> None:
    app = Ledger("memory://", env={"AGGREGATE_CACHE_MAXSIZE": "10"})
    assert isinstance(app.repository, LedgerRepository)
    assert isinstance(app.repository, Repository)
    assert app.repository.cache is not None
    assert app.repository.event_store is app.events
    assert get_topic(type(app.repository)) == "ledger.repository:LedgerRepository"
    app.close()
