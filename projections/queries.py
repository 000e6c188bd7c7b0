"""Read-side queries: small functions returning plain dataclasses (routes and CLI call these).

Every answer carries the event ids and log positions behind it. Lists are paged by keyset on
the log position: pass `after=page.next_after` for the next page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.application import Application
from sqlalchemy import Column, Engine, Select, func, select

from ledger.errors import InvalidValue, NotFound
from ledger.replay import StreamState, TimeAxis, aggregate_from, parse_stream_ref, public_state
from projections.record_json import loads
from projections.views.areas import area_terms
from projections.views.chain import chain_links
from projections.views.signatures import signatures as signature_rows
from projections.views.trail import trail_events

T = TypeVar("T")
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; `next_after` is None on the last page."""

    items: tuple[T, ...]
    next_after: int | None


@dataclass(frozen=True)
class ChainLink:
    """One link of a task's responsibility chain, with the holders in force after it."""

    task_id: str
    link_no: int
    task_no: str
    kind: str
    event_type: str
    status: str
    responsible_id: str | None
    executor_id: str | None
    responsible_before: str | None
    executor_before: str | None
    signer_id: str | None
    level: int | None
    notified_id: str | None
    detail: str | None
    note: str | None
    actor_id: str
    actor_kind: str
    actor_role: str
    on_behalf_of: str | None
    occurred_at: datetime
    recorded_at: datetime
    stream_type: str
    stream_id: str
    stream_version: int
    event_id: str
    position: int


@dataclass(frozen=True)
class AreaTerm:
    """One term of responsibility for an area × service line: [valid_from, valid_to)."""

    area_id: str
    service_line: str
    term_no: int
    property_id: str | None
    responsible_id: str
    deputy_id: str | None
    valid_from: datetime
    valid_to: datetime | None
    accepted: bool
    assigned_by: str
    assigned_event_id: str
    assigned_position: int
    assigned_recorded_at: datetime
    accepted_event_id: str | None
    accepted_position: int | None
    accepted_at: datetime | None
    released_event_id: str | None
    released_position: int | None
    release_reason: str | None
    successor_id: str | None


@dataclass(frozen=True)
class Signature:
    """A signature: who signed, in which role, what, when, and the event that records it."""

    position: int
    event_id: str
    kind: str
    intent: str
    signer_id: str
    signer_role: str | None
    actor_id: str
    actor_kind: str
    actor_role: str
    on_behalf_of: str | None
    property_id: str | None
    subject: str | None
    stream_type: str
    stream_id: str
    stream_version: int
    occurred_at: datetime
    recorded_at: datetime
    evidence: str


@dataclass(frozen=True)
class TrailEntry:
    """One event in the audit trail, with both clocks and whether it was recorded late."""

    position: int
    event_id: str
    stream_type: str
    stream_id: str
    stream_version: int
    type: str
    actor_id: str
    actor_kind: str
    actor_role: str
    on_behalf_of: str | None
    property_id: str | None
    occurred_at: datetime
    recorded_at: datetime
    delay_seconds: int
    late: bool
    command_id: str
    correlation_id: str | None
    causation_id: str | None
    evidence_count: int


def trail_columns() -> list[Column[Any]]:
    """The trail's columns a `TrailEntry` shows (not the as-of index's running maxima)."""
    return [trail_events.c[field.name] for field in fields(TrailEntry)]


# -- tasks -------------------------------------------------------------------------------


def task_chain(engine: Engine, task_no: str) -> list[ChainLink]:
    """The task's links in order (empty when the task is unknown)."""
    c = chain_links.c
    query = select(chain_links).where(c.task_no == task_no).order_by(c.link_no)
    with engine.connect() as conn:
        return [ChainLink(**row._mapping) for row in conn.execute(query)]


def holders_at(
    engine: Engine, task_no: str, at: datetime, axis: TimeAxis = "occurred"
) -> ChainLink | None:
    """The last link in force at `at` (its responsible_id / executor_id answer "who then")."""
    require_aware(at)
    current = None
    for link in task_chain(engine, task_no):
        if (link.occurred_at if axis == "occurred" else link.recorded_at) > at:
            break  # the same prefix rule as ledger.replay: a late entry never leaks backwards
        current = link
    return current


# -- areas -------------------------------------------------------------------------------


def area_history(engine: Engine, area_id: str, service_line: str | None = None) -> list[AreaTerm]:
    """Every term of responsibility for the area (one service line, or all)."""
    c = area_terms.c
    query = select(area_terms).where(c.area_id == area_id)
    if service_line is not None:
        query = query.where(c.service_line == service_line)
    query = query.order_by(c.service_line, c.term_no)
    with engine.connect() as conn:
        return [AreaTerm(**row._mapping) for row in conn.execute(query)]


def responsible_at(
    engine: Engine, area_id: str, service_line: str, at: datetime
) -> AreaTerm | None:
    """The term in force at `at` for area × service line (terms are [valid_from, valid_to))."""
    require_aware(at)
    c = area_terms.c
    query = (
        select(area_terms)
        .where(c.area_id == area_id, c.service_line == service_line, c.valid_from <= at)
        .where((c.valid_to.is_(None)) | (c.valid_to > at))
        .order_by(c.term_no.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else AreaTerm(**row._mapping)


# -- signatures and trail ----------------------------------------------------------------


def signatures(
    engine: Engine,
    *,
    signer_id: str | None = None,
    property_id: str | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int | None = None,
    limit: int = 100,
) -> Page[Signature]:
    """Signatures filtered by signer, property, kind and occurred_at ∈ [since, until)."""
    c = signature_rows.c
    query = select(signature_rows)
    for column, value in ((c.signer_id, signer_id), (c.property_id, property_id), (c.kind, kind)):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(c.occurred_at >= require_aware(since))
    if until is not None:
        query = query.where(c.occurred_at < require_aware(until))
    return keyset_page(engine, query, c.position, after, limit, Signature)


def trail(
    engine: Engine,
    *,
    stream: str | None = None,
    actor_id: str | None = None,
    property_id: str | None = None,
    after: int | None = None,
    limit: int = 100,
) -> Page[TrailEntry]:
    """Events in log order, for one stream (UUID or kind/key), actor or property, or all."""
    c = trail_events.c
    query = select(*trail_columns())
    if stream is not None:
        query = query.where(c.stream_id == str(parse_stream_ref(stream)))
    if actor_id is not None:
        query = query.where(c.actor_id == actor_id)
    if property_id is not None:
        query = query.where(c.property_id == property_id)
    return keyset_page(engine, query, c.position, after, limit, TrailEntry)


def keyset_page(
    engine: Engine,
    query: Select[Any],
    key: Any,
    after: int | None,
    limit: int,
    make: Callable[..., T],
) -> Page[T]:
    """The rows of `query` after position `after` by `key`, at most `limit`, each made into an
    item by `make(**row)`; the page's `next_after` is the last item's position if more remain."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidValue(f"limit must be between 1 and {MAX_LIMIT}")
    if after is not None:
        query = query.where(key > after)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(key).limit(limit + 1)).all()
    items = tuple(make(**row._mapping) for row in rows[:limit])
    more = len(rows) > limit
    return Page(items, getattr(items[-1], "position", None) if more and items else None)


# -- as-of replay through the index --------------------------------------------------------


def version_as_of(engine: Engine, stream: UUID, at: datetime, axis: TimeAxis) -> tuple[int, int]:
    """(target version, latest indexed version) of a stream at `at`, by two index seeks."""
    require_aware(at)
    c = trail_events.c
    running = c.max_occurred_at if axis == "occurred" else c.max_recorded_at
    target = (
        select(c.stream_version)
        .where(c.stream_id == str(stream), running <= at)
        .order_by(running.desc(), c.stream_version.desc())
        .limit(1)
    )
    latest = select(func.max(c.stream_version)).where(c.stream_id == str(stream))
    with engine.connect() as conn:
        found = conn.execute(target).scalar()
        top = conn.execute(latest).scalar()
    return int(found or 0), int(top or 0)


def replay_as_of(
    app: Application[UUID],
    engine: Engine,
    stream_ref: str,
    at: datetime,
    axis: TimeAxis = "occurred",
) -> StreamState:
    """The stream as of `at` (same answer as ledger.replay.replay), found through the index.

    The cost depends on the stream's length, never on the log's: two index seeks, then one
    read of the stream up to the target version, decoded once for both the event list and the
    aggregate. Catch the views up first.
    """
    sid = parse_stream_ref(stream_ref)
    target, latest = version_as_of(engine, sid, at, axis)
    if latest == 0:
        raise NotFound(f"no stream {stream_ref!r} in the index")
    stored = app.recorder.select_events(sid, lte=target) if target else []
    events = [loads(s.state) for s in stored]
    state = public_state(aggregate_from(app, sid, events)) if target else {}
    first = events[0] if events else loads(app.recorder.select_events(sid, limit=1)[0].state)
    return StreamState(str(sid), first["stream_type"], target, latest, state, events)


def require_aware(moment: datetime) -> datetime:
    """Query times are compared across zones, so a naive one is refused."""
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise InvalidValue("times must carry a UTC offset")
    return moment
