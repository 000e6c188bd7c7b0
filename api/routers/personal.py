"""Personal data: legal holds, erasure (crypto-shredding) and revealing one stored value.

A data subject (`owner/O-1`, `resident/R-1`, `staff/S-1`: the two path segments
`{subject_kind}/{person_id}`) belongs to no single property, so
holds and erasure need a company-wide scope (admin). Revealing is scoped by the record the
reference was read from (`stream`, e.g. `task/T-1`): the caller names where they saw the
reference, the API checks that this record really holds it and that the record's property is
in the caller's scope. Every denial is recorded like any other; an erased value is 410 Gone.
Every reveal is itself recorded (`PersonalDataRevealed` on the subject's stream, actor = the
caller) before the value is read, so the subject's record answers who has seen their data.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from eventsourcing.persistence import PersistenceError
from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from api.command import (
    COMMAND_RESPONSES,
    CommandRoute,
    Target,
    principal_context,
    properties_of_stream,
)
from api.deps import CommandDep, GuardDep, ServicesDep
from api.problems import QUERY_ERRORS, ApiProblem, problem_responses
from api.schemas import CommandBody, CommandOut, Key, KeyPath, Text
from ledger.errors import DomainError, NotFound
from ledger.ledger import Ledger
from ledger.personal import PersonalRef, is_personal_ref
from ledger.replay import parse_stream_ref

router = APIRouter(tags=["personal data"], route_class=CommandRoute)
log = logging.getLogger("lvyue.api")

SubjectKind = Annotated[
    Literal["owner", "resident", "staff"],
    Path(description="the subject id is <subject_kind>/<person_id>, e.g. owner/O-1"),
]
DigestPath = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="the reference's digest")]
StreamRef = Annotated[
    str,
    Query(
        min_length=3,
        max_length=300,
        description="kind/key of the record whose event holds the reference, e.g. task/T-1",
    ),
]


class PlaceHold(CommandBody):
    hold_id: Key
    reason: Text
    case_ref: Text


class Reason(CommandBody):
    reason: Text


class ErasureOut(CommandOut):
    """The erasure, and whether the store could already drop every old copy of the key.

    `compacted: false`: the key is destroyed, but an open reader or an older snapshot keeps
    the store from compacting yet; erase again later (409, already erased) to finish.
    """

    compacted: bool


class PersonalValue(BaseModel):
    """One personal value, as the reference in the record names it."""

    subject: str
    digest: str
    field: str
    value: str


ERASE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **COMMAND_RESPONSES,
    200: {"model": ErasureOut, "description": "a retry with the same key: the first result"},
}
REVEAL_RESPONSES = {**QUERY_ERRORS, **problem_responses(410)}


def _subject(subject_id: str) -> Target:
    """Holds and erasure touch no property: a company-wide target, always (even a new one)."""
    return Target((), ("subject", subject_id))


@router.post(
    "/subjects/{subject_kind}/{person_id}/holds", status_code=201, responses=COMMAND_RESPONSES
)
def place_legal_hold(
    subject_kind: SubjectKind,
    person_id: KeyPath,
    body: PlaceHold,
    command: CommandDep,
    response: Response,
) -> CommandOut:
    """诉讼保全: keep the subject's data; erasure is refused until every hold is released."""
    subject_id = f"{subject_kind}/{person_id}"
    return command.run(
        "place_legal_hold",
        _subject(subject_id),
        body,
        lambda ctx: command.ledger.place_legal_hold(ctx, subject_id, **body.args()),
        response,
    )


@router.post(
    "/subjects/{subject_kind}/{person_id}/holds/{hold_id}/release",
    status_code=201,
    responses=COMMAND_RESPONSES,
)
def release_legal_hold(
    subject_kind: SubjectKind,
    person_id: KeyPath,
    hold_id: Annotated[str, Path(min_length=1, max_length=100)],
    body: Reason,
    command: CommandDep,
    response: Response,
) -> CommandOut:
    """解除保全: release one hold."""
    subject_id = f"{subject_kind}/{person_id}"
    return command.run(
        "release_legal_hold",
        _subject(subject_id),
        body,
        lambda ctx: command.ledger.release_legal_hold(ctx, subject_id, hold_id, body.reason),
        response,
    )


@router.post(
    "/subjects/{subject_kind}/{person_id}/erase", status_code=201, responses=ERASE_RESPONSES
)
def erase_subject(
    subject_kind: SubjectKind,
    person_id: KeyPath,
    body: Reason,
    command: CommandDep,
    response: Response,
) -> ErasureOut:
    """删除个人信息: destroy the subject's key and ciphertexts (the events keep only digests).

    Refused (409) under a legal hold or when already erased; the latter still finishes a
    compaction an older snapshot deferred. Copies in backups and WAL archives are out of reach.
    """
    subject_id = f"{subject_kind}/{person_id}"
    try:
        done = command.run(
            "erase_subject",
            _subject(subject_id),
            body,
            lambda ctx: command.ledger.erase_subject(ctx, subject_id, body.reason),
            response,
        )
    except DomainError:
        if _erased(command.ledger, subject_id):
            _compact(command.ledger)
        raise
    return ErasureOut(**done.model_dump(), compacted=_compact(command.ledger))


def _erased(ledger: Ledger, subject_id: str) -> bool:
    subject = ledger.data_subject(subject_id)
    return subject is not None and subject.erased


def _compact(ledger: Ledger) -> bool:
    """Compact the store so the key bytes leave its live files (False: try again later)."""
    try:
        return ledger.vault.compact_vault()
    except PersistenceError as error:
        log.warning("compaction after an erasure failed: %s", error)
        return False


@router.get("/personal/{subject_kind}/{person_id}/{digest}", responses=REVEAL_RESPONSES)
def reveal_personal(
    subject_kind: SubjectKind,
    person_id: KeyPath,
    digest: DigestPath,
    stream: StreamRef,
    guard: GuardDep,
    services: ServicesDep,
    response: Response,
) -> PersonalValue:
    """The value behind one reference found in `stream`'s events; 410 Gone once erased.

    The reveal is recorded first, in its own transaction: if it cannot be recorded (a busy
    store answers 503), the value is not shown.
    """
    ledger = services.ledger
    subject = f"{subject_kind}/{person_id}"
    sid = parse_stream_ref(stream)
    properties = properties_of_stream(ledger, sid)
    if properties is None:
        raise NotFound(f"no stream {stream!r}")
    guard.require("reveal_personal", properties)
    ref = find_ref(ledger, sid, subject, digest)
    if ref is None:
        raise NotFound(f"{stream} holds no reference to {subject} {digest}")
    with services.write_lock:
        ctx = principal_context(guard.principal, services.clock(), f"reveal:{uuid4()}")
        value = ledger.reveal_recorded(ctx, ref, str(sid))
    response.headers["Cache-Control"] = "no-store"
    if value is None:
        raise ApiProblem(410, "erased", f"{subject}'s personal data was erased")
    return PersonalValue(subject=subject, digest=digest, field=ref["field"], value=value)


def find_ref(ledger: Ledger, sid: UUID, subject: str, digest: str) -> PersonalRef | None:
    """The reference to `subject`'s value `digest` in any event of the stream, if there is one."""
    for stored in ledger.recorder.select_events(sid):
        found = _ref_in(json.loads(stored.state).get("data"), subject, digest)
        if found is not None:
            return found
    return None


def _ref_in(value: Any, subject: str, digest: str) -> PersonalRef | None:
    if is_personal_ref(value):
        return value if (value["subject"], value["digest"]) == (subject, digest) else None
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list):
        return None
    for child in value:
        found = _ref_in(child, subject, digest)
        if found is not None:
            return found
    return None
