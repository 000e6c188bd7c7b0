"""The aggregate repository: the library's, applying stored events without a protocol check each.

The library's default projector asserts `isinstance(event, CanMutateProtocol)` before it applies
each event. On Python 3.11 a runtime-protocol check walks the protocol's attributes (20–30 µs
on the bench host), more than applying most of our events, and every command loads its actor
and the aggregates it changes. Every event in a ledger stream is a `LedgerAggregate` event with
the library's own `mutate`, so `fold` applies them in turn exactly as the library would.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.application import ProjectorFunction, Repository


def fold(aggregate: Any, events: Iterable[Any]) -> Any:
    """Each event's `mutate` in turn: the library's `project_aggregate` minus its assert."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class LedgerRepository(Repository[UUID]):
    """`Repository` whose `get` folds with `fold` unless a caller passes its own projector."""

    @classmethod
    def adopting(cls, configured: Repository[UUID]) -> LedgerRepository:
        """This class with the state of a repository the library configured (event store,
        snapshots, cache settings from the environment), so that setup stays the library's."""
        repository = cls.__new__(cls)
        repository.__dict__.update(vars(configured))
        return repository

    def get(
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        projector_func: ProjectorFunction[Any, Any] = fold,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
    ) -> Any:
        return super().get(
            aggregate_id,
            version=version,
            projector_func=projector_func,
            fastforward_skipping=fastforward_skipping,
            deepcopy_from_cache=deepcopy_from_cache,
        )
