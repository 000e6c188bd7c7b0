"""The public record: how one event is written, hashed and exported.

The stored state of an event IS its public record minus `seq` and `prev_hash` (the sealer adds
those inside the write transaction). Keeping one representation means the audit, the export and
the replay all read the same bytes, and nothing the library adds (type tags, class paths) ever
reaches a regulator's bundle.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import typing
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import CanMutateAggregate
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

from ledger.domain.base import LedgerAggregate
from ledger.envelope import Actor, Meta
from ledger.ids import event_id

BASE_FIELDS = frozenset(
    {"originator_id", "originator_version", "timestamp", "meta", "originator_topic"}
)

FieldKinds = dict[str, str]
T = TypeVar("T")


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC; naive datetimes are a programming error here."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime in an event")
    return moment.astimezone(UTC).isoformat()


def dumps(record: dict[str, Any]) -> bytes:
    """Compact, sorted, UTF-8 JSON: byte-stable for the same record."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Catalogue:
    """Maps event type names and stream types to classes, independent of module paths."""

    def __init__(self, aggregates: Iterable[type[LedgerAggregate]]) -> None:
        self.events: dict[str, type[Any]] = {}
        self.stream_of_event: dict[type[Any], str] = {}
        self.aggregates: dict[str, type[LedgerAggregate]] = {}
        self.field_kinds: dict[type[Any], FieldKinds] = {}
        for aggregate in aggregates:
            self._add(aggregate)

    def _add(self, aggregate: type[LedgerAggregate]) -> None:
        self.aggregates[aggregate.__name__] = aggregate
        for value in vars(aggregate).values():
            if isinstance(value, type) and issubclass(value, CanMutateAggregate):
                if value.__name__ in ("Event", "Created"):
                    continue
                if value.__name__ in self.events:
                    raise ValueError(f"event type {value.__name__} is defined twice")
                self.events[value.__name__] = value
                self.stream_of_event[value] = aggregate.__name__
                self.field_kinds[value] = _field_kinds(value)


def _field_kinds(event_class: type[Any]) -> FieldKinds:
    hints = typing.get_type_hints(event_class)
    kinds: FieldKinds = {}
    for name in (f.name for f in dataclasses.fields(event_class)):
        if name in BASE_FIELDS:
            continue
        hint = hints[name]
        args = typing.get_args(hint)
        if hint is datetime or datetime in args:
            kinds[name] = "datetime"
        elif typing.get_origin(hint) is tuple:
            kinds[name] = "tuple"
        else:
            kinds[name] = "plain"
    return kinds


def _encode_value(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return iso(value)
    if kind == "tuple":
        return [_plain(v) for v in value]
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _decode_value(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "tuple":
        return tuple(_freeze(v) for v in value)
    return _freeze(value)


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def meta_record(meta: Meta) -> dict[str, Any]:
    """The envelope as public-record fields."""
    return {
        "recorded_at": iso(meta.recorded_at),
        "occurred_at": iso(meta.occurred_at),
        "actor": {"id": meta.actor.id, "kind": meta.actor.kind, "role": meta.actor.role},
        "on_behalf_of": meta.on_behalf_of,
        "command_id": meta.command_id,
        "causation_id": meta.causation_id,
        "correlation_id": meta.correlation_id,
        "evidence": list(meta.evidence),
        "property_id": meta.property_id,
    }


def meta_from_record(record: dict[str, Any]) -> Meta:
    """The envelope back from a public record."""
    actor = record["actor"]
    return _stored(
        Meta,
        actor=_actor(actor["id"], actor["kind"], actor["role"]),
        occurred_at=datetime.fromisoformat(record["occurred_at"]),
        recorded_at=datetime.fromisoformat(record["recorded_at"]),
        command_id=record["command_id"],
        on_behalf_of=record.get("on_behalf_of"),
        causation_id=record.get("causation_id"),
        correlation_id=record.get("correlation_id"),
        evidence=tuple(record.get("evidence") or ()),
        property_id=record.get("property_id"),
    )


@functools.lru_cache(maxsize=4096)
def _actor(actor_id: str, kind: str, role: str) -> Actor:
    """Actors repeat across a stream; the instance is frozen, so replays can share it."""
    return _stored(Actor, id=actor_id, kind=kind, role=role)


def _stored(cls: type[T], **fields: Any) -> T:
    """A frozen dataclass from stored fields, bypassing __init__ as the library does for events.

    Its per-field object.__setattr__ made building the envelope the largest cost of decoding
    an event on replay. Every field must be given: defaults are not applied.
    """
    instance = object.__new__(cls)
    instance.__dict__.update(fields)
    return instance


class RecordMapper(Mapper[UUID]):
    """Stores each event as its public record; the topic column holds the event type name."""

    def __init__(self, transcoder: Transcoder, catalogue: Catalogue) -> None:
        super().__init__(transcoder)
        self.catalogue = catalogue

    def to_record(self, domain_event: Any) -> dict[str, Any]:
        """The public record of an event, without `seq` and `prev_hash`."""
        cls = type(domain_event)
        state = vars(domain_event)
        kinds = self.catalogue.field_kinds[cls]
        record = meta_record(state["meta"])
        record.update(
            event_id=str(event_id(state["originator_id"], state["originator_version"])),
            stream_type=self.catalogue.stream_of_event[cls],
            stream_id=str(state["originator_id"]),
            stream_version=state["originator_version"],
            type=cls.__name__,
            data={name: _encode_value(kind, state[name]) for name, kind in kinds.items()},
        )
        return record

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        record = self.to_record(domain_event)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=record["type"],
            state=dumps(record),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        record = json.loads(stored_event.state)
        return self.from_record(record, stored_event.originator_id)

    def from_record(self, record: dict[str, Any], originator_id: Any) -> Any:
        """Rebuild the domain event, bypassing __init__ as the library does on replay."""
        cls = self.catalogue.events[record["type"]]
        kinds = self.catalogue.field_kinds[cls]
        data = record["data"]
        meta = meta_from_record(record)
        state: dict[str, Any] = {
            "originator_id": originator_id
            if isinstance(originator_id, UUID)
            else UUID(str(originator_id)),
            "originator_version": record["stream_version"],
            "timestamp": meta.recorded_at,
            "meta": meta,
        }
        if issubclass(cls, LedgerAggregate.Created):
            state["originator_topic"] = get_topic(self.catalogue.aggregates[record["stream_type"]])
        for name, kind in kinds.items():
            state[name] = _decode_value(kind, data.get(name))
        domain_event = object.__new__(cls)
        domain_event.__dict__.update(state)
        return domain_event
