"""The base aggregate: every event carries the envelope and takes its timestamp from it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self
from uuid import UUID

from eventsourcing.domain import Aggregate, CanInitAggregate, CanMutateAggregate

from ledger.envelope import Meta
from ledger.errors import InvalidValue


class LedgerAggregate(Aggregate):
    """Aggregate whose events' library timestamp is the envelope's `recorded_at`.

    The library would otherwise read the wall clock when an event is triggered.
    """

    class Event(Aggregate.Event):
        meta: Meta

    class Created(Aggregate.Created):
        meta: Meta

    @classmethod
    def _create(
        cls,
        event_class: type[CanInitAggregate[UUID]],
        *,
        id: UUID | None = None,
        **kwargs: Any,
    ) -> Self:
        kwargs["timestamp"] = _timestamp(kwargs)
        return super()._create(event_class, id=id, **kwargs)

    def trigger_event(self, event_class: type[CanMutateAggregate[UUID]], **kwargs: Any) -> None:
        kwargs["timestamp"] = _timestamp(kwargs)
        super().trigger_event(event_class, **kwargs)


class OpensOrFollows(LedgerAggregate.Created):
    """An event type that may open its stream or follow in it (a legal hold, an erasure, a key
    rotation can each come first). The library applies a "created" event only to start a
    stream, so a later occurrence is version-checked and applied here by its own `apply`."""

    def mutate(self, aggregate: Any) -> Any:
        if aggregate is None:
            return super().mutate(None)  # __init__, then apply()
        CanMutateAggregate.mutate(self, aggregate)  # version check, then apply()
        return aggregate


def _timestamp(kwargs: dict[str, Any]) -> datetime:
    meta = kwargs.get("meta")
    if not isinstance(meta, Meta):
        raise TypeError("every ledger event needs a Meta envelope")
    return meta.recorded_at


def require_text(name: str, value: str, max_len: int = 2000) -> str:
    """Reject empty or oversized free text; returns it stripped."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(f"{name} must be a non-empty string")
    if len(value) > max_len:
        raise InvalidValue(f"{name} is longer than {max_len} characters")
    return value.strip()


def require_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    """Reject a value outside a closed vocabulary."""
    if value not in choices:
        raise InvalidValue(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def require_sha256(name: str, values: tuple[str, ...]) -> tuple[str, ...]:
    """Evidence is referenced by lowercase hex SHA-256 of the content-addressed file."""
    for value in values:
        if len(value) != 64 or any(ch not in "0123456789abcdef" for ch in value):
            raise InvalidValue(f"{name} must be lowercase hex SHA-256 digests; got {value!r}")
    return values


def require_digest(name: str, value: str) -> str:
    """One lowercase hex SHA-256: a document or file referenced by its content."""
    if not isinstance(value, str):
        raise InvalidValue(f"{name} must be a lowercase hex SHA-256 digest")
    return require_sha256(name, (value,))[0]


def require_whole(name: str, value: int, low: int, high: int | None = None) -> int:
    """A whole number in [low, high] (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (
        high is not None and value > high
    ):
        bound = f"of at least {low}" if high is None else f"from {low} to {high}"
        raise InvalidValue(f"{name} must be an integer {bound}")
    return value
