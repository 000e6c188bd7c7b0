"""Queries: responsibility chains, area responsibility at T, who signed what, the audit trail,
replay of any stream (as of a time on either axis, or a version) and diffs, access denials.

Every list is paged (`limit` ≤ 500, `cursor` from the previous page's `next_cursor`).
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query
from pydantic import AfterValidator, AwareDatetime, BaseModel

from api.command import properties_of_stream, stream_properties
from api.deps import EngineDep, GuardDep, LedgerDep, ServicesDep
from api.policy import Denial
from api.problems import QUERY_ERRORS
from api.schemas import MAX_LIMIT, KeyPath, Page, offset_page, sane_moment
from ledger.errors import InvalidValue, NotFound
from ledger.replay import StreamState, diff, parse_stream_ref, replay
from projections import queries
from projections.queries import AreaTerm, ChainLink, Signature, TrailEntry

router = APIRouter(tags=["queries"], responses=QUERY_ERRORS)
T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"page size, at most {MAX_LIMIT}")]
Cursor = Annotated[
    str | None, Query(pattern=r"^[0-9]{1,15}$", description="`next_cursor` of the previous page")
]
At = Annotated[AwareDatetime, AfterValidator(sane_moment), Query(description="RFC 3339")]
MaybeAt = Annotated[AwareDatetime | None, AfterValidator(lambda v: v and sane_moment(v)), Query()]
Axis = Annotated[
    Literal["occurred", "recorded"],
    Query(description="occurred: business time; recorded: what the company knew then"),
]
Filter = Annotated[str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")]
Version = Annotated[int | None, Query(ge=0, le=2**31)]
StreamKind = Annotated[str, Path(pattern=r"^[a-z_]{1,40}$")]
StreamKey = Annotated[str, Path(min_length=1, max_length=300)]


class ReplayOut(BaseModel):
    """A stream's state at one version, and (paged) the events that built it."""

    stream_id: str
    stream_type: str
    version: int
    latest_version: int
    state: dict[str, Any]
    events: Page[dict[str, Any]]


class Change(BaseModel):
    field: str
    before: Any
    after: Any


class DiffOut(BaseModel):
    """Fields whose values differ between two states of one stream."""

    stream_id: str
    from_version: int
    to_version: int
    changes: list[Change]


class DenialOut(BaseModel):
    """One refused request: who, what, when and why."""

    id: int
    at: datetime
    subject: str
    principal_id: str | None
    kind: str | None
    roles: list[str]
    action: str
    method: str
    path: str
    properties: list[str] | None
    reason: str

    @classmethod
    def of(cls, denial: Denial) -> DenialOut:
        props = None if denial.properties is None else denial.properties.strip(",").split(",")
        return cls(
            **{**asdict(denial), "roles": (denial.roles or "").split(","), "properties": props}
        )


def keyset_page(page: queries.Page[T], limit: int) -> Page[T]:
    """A keyset page of the read side as the API's page: the cursor is the last position."""
    after = page.next_after
    return Page[T](
        items=list(page.items), next_cursor=None if after is None else str(after), limit=limit
    )


def _require_stream(ledger: LedgerDep, kind: str, key: str) -> tuple[str, ...]:
    properties = stream_properties(ledger, kind, key)
    if properties is None:
        raise NotFound(f"no {kind.replace('_', ' ')} {key!r}")
    return properties


# -- tasks and areas -----------------------------------------------------------------------


@router.get("/tasks/{task_no}/chain")
def task_chain(
    task_no: KeyPath,
    guard: GuardDep,
    ledger: LedgerDep,
    engine: EngineDep,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[ChainLink]:
    """责任链: every link of a task's responsibility chain, with who held it after each."""
    guard.require("read_task", _require_stream(ledger, "task", task_no))
    return offset_page(queries.task_chain(engine, task_no), cursor, limit)


@router.get("/tasks/{task_no}/holders")
def task_holders_at(
    task_no: KeyPath,
    at: At,
    guard: GuardDep,
    ledger: LedgerDep,
    engine: EngineDep,
    axis: Axis = "occurred",
) -> ChainLink:
    """Who was responsible for, and who was executing, the task at `at`."""
    guard.require("read_task", _require_stream(ledger, "task", task_no))
    link = queries.holders_at(engine, task_no, at, axis)
    if link is None:
        raise NotFound(f"task {task_no!r} had no holder at {at.isoformat()}")
    return link


@router.get("/areas/{area_id}/history")
def area_history(
    area_id: KeyPath,
    guard: GuardDep,
    ledger: LedgerDep,
    engine: EngineDep,
    service_line: Filter = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[AreaTerm]:
    """Every term of responsibility for the area: who, from when, until when, accepted."""
    guard.require("read_area", _require_stream(ledger, "area", area_id))
    return offset_page(queries.area_history(engine, area_id, service_line), cursor, limit)


@router.get("/areas/{area_id}/responsible")
def area_responsible_at(
    area_id: KeyPath,
    service_line: Annotated[str, Query(max_length=100)],
    at: At,
    guard: GuardDep,
    ledger: LedgerDep,
    engine: EngineDep,
) -> AreaTerm:
    """Who answered for area × service line at `at`."""
    guard.require("read_area", _require_stream(ledger, "area", area_id))
    term = queries.responsible_at(engine, area_id, service_line, at)
    if term is None:
        raise NotFound(f"no one answered for {area_id}/{service_line} at {at.isoformat()}")
    return term


# -- signatures, trail, denials ------------------------------------------------------------


@router.get("/signatures")
def signatures(
    guard: GuardDep,
    engine: EngineDep,
    signer_id: Filter = None,
    property_id: Filter = None,
    kind: Filter = None,
    since: MaybeAt = None,
    until: MaybeAt = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[Signature]:
    """谁签了什么: signatures by signer, property, kind and occurred time [since, until)."""
    guard.require("read_signatures", () if property_id is None else (property_id,))
    page = queries.signatures(
        engine, signer_id=signer_id, property_id=property_id, kind=kind, since=since,
        until=until, after=None if cursor is None else int(cursor), limit=limit,
    )  # fmt: skip
    return keyset_page(page, limit)


@router.get("/audit-trail")
def audit_trail(
    guard: GuardDep,
    ledger: LedgerDep,
    engine: EngineDep,
    stream: Annotated[str | None, Query(max_length=300, description="kind/key")] = None,
    actor_id: Filter = None,
    property_id: Filter = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[TrailEntry]:
    """Events in log order with both clocks and lateness, for a stream, actor or property."""
    scope: tuple[str, ...] = () if property_id is None else (property_id,)
    if stream is not None:
        properties = properties_of_stream(ledger, parse_stream_ref(stream))
        if properties is None:
            raise NotFound(f"no stream {stream!r}")
        scope = (*scope, *properties)
    guard.require("read_audit_trail", scope)
    page = queries.trail(
        engine, stream=stream, actor_id=actor_id, property_id=property_id,
        after=None if cursor is None else int(cursor), limit=limit,
    )  # fmt: skip
    return keyset_page(page, limit)


@router.get("/access-denials")
def access_denials(
    guard: GuardDep,
    services: ServicesDep,
    property_id: Filter = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[DenialOut]:
    """Every refused request (403), oldest first: denials are themselves auditable."""
    guard.require("read_access_denials", () if property_id is None else (property_id,))
    after = int(cursor or 0)
    rows = services.denials.page(after=after, limit=limit + 1, property_id=property_id)
    items = [DenialOut.of(row) for row in rows[:limit]]
    more = len(rows) > limit and items
    return Page[DenialOut](
        items=items, next_cursor=str(items[-1].id) if more else None, limit=limit
    )


# -- replay --------------------------------------------------------------------------------


@router.get("/replay/{kind}/{key:path}")
def replay_stream(
    kind: StreamKind,
    key: StreamKey,
    guard: GuardDep,
    ledger: LedgerDep,
    version: Version = None,
    as_of: MaybeAt = None,
    axis: Axis = "occurred",
    limit: Limit = 100,
    cursor: Cursor = None,
) -> ReplayOut:
    """状态回放: the stream as it stood at `version`, or `as_of` a time on either axis."""
    state = _replay(guard, ledger, kind, key, version, as_of, axis)
    return ReplayOut(
        stream_id=state.stream_id,
        stream_type=state.stream_type,
        version=state.version,
        latest_version=state.latest_version,
        state=jsonable(state.state),
        events=offset_page(state.events, cursor, limit),
    )


@router.get("/diff/{kind}/{key:path}")
def diff_stream(
    kind: StreamKind,
    key: StreamKey,
    guard: GuardDep,
    ledger: LedgerDep,
    from_version: Version = None,
    from_as_of: MaybeAt = None,
    to_version: Version = None,
    to_as_of: MaybeAt = None,
    axis: Axis = "occurred",
) -> DiffOut:
    """What changed between two moments (or versions) of one stream."""
    if from_version is None and from_as_of is None:
        raise InvalidValue("give from_version or from_as_of")
    before = _replay(guard, ledger, kind, key, from_version, from_as_of, axis)
    after = replay(ledger, f"{kind}/{key}", version=to_version, as_of=to_as_of, axis=axis)
    changes = [
        Change(field=name, before=jsonable(old), after=jsonable(new))
        for name, (old, new) in diff(before, after).items()
    ]
    return DiffOut(
        stream_id=before.stream_id,
        from_version=before.version,
        to_version=after.version,
        changes=changes,
    )


def _replay(
    guard: GuardDep,
    ledger: LedgerDep,
    kind: str,
    key: str,
    version: int | None,
    as_of: datetime | None,
    axis: Literal["occurred", "recorded"],
) -> StreamState:
    ref = f"{kind}/{key}"
    parse_stream_ref(ref)  # a malformed kind is a 422 before anything is read
    guard.require("replay_stream", _require_stream(ledger, kind, key))
    return replay(ledger, ref, version=version, as_of=as_of, axis=axis)


def jsonable(value: Any) -> Any:
    """Aggregate state as JSON: times in RFC 3339, tuples and sets as lists, money as text."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return [jsonable(v) for v in sorted(value, key=str)]
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # Decimal money, UUIDs, enums
