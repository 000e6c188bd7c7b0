"""事件 One event: its public record as stored, where it sits in the log, and its inclusion proof.

Every event id on every page links here. The proof is taken against the latest checkpoint
when it covers the event (so it can be checked against a signed root), else the whole log.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path
from fastapi.responses import Response

from api.deps import EngineDep, LedgerDep, ServicesDep
from api.pages import reads
from api.pages.access import PageProblem, ViewerDep
from api.pages.rendering import render
from ledger.ledger import Ledger
from ledger.trail import InclusionProof, SealedLog, inclusion_proof_for, stream_key
from projections.views.signatures import SUBJECTS

router = APIRouter(include_in_schema=False)
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
EventId = Annotated[str, Path(pattern=UUID_PATTERN)]
PAGES = {"task": "/tasks/", "area": "/areas/"}


def stored_record(ledger: Ledger, stream: str, version: int) -> dict[str, Any]:
    rows = ledger.recorder.select_events(UUID(stream), gt=version - 1, lte=version)
    return json.loads(rows[0].state) if rows else {}


def subject_page(ledger: Ledger, stream_type: str, stream: str) -> str | None:
    """The page of the stream the event belongs to (tasks and areas have one)."""
    kind, field = SUBJECTS.get(stream_type, ("", ""))
    if kind not in PAGES:
        return None
    first = ledger.recorder.select_events(UUID(stream), limit=1)
    key = json.loads(first[0].state).get("data", {}).get(field) if first else None
    return f"{PAGES[kind]}{key}" if isinstance(key, str) else None


def proof_of(log: SealedLog, stream: str, version: int) -> InclusionProof | None:
    leaf = log.leaf_of(stream_key(stream), version)
    if leaf is None:
        return None
    latest = log.latest_checkpoint()
    size = latest.size if latest is not None and leaf.seq <= latest.size else None
    return inclusion_proof_for(log, leaf.seq, size)


@router.get("/events/{event_id}")
def event_page(
    event_id: EventId,
    viewer: ViewerDep,
    ledger: LedgerDep,
    engine: EngineDep,
    services: ServicesDep,
) -> Response:
    entry = reads.event(engine, event_id)
    if entry is None:
        raise PageProblem(404, "未找到 Not found", f"no event {event_id}", viewer)
    viewer.require("read_audit_trail", () if entry.property_id is None else (entry.property_id,))
    proof = proof_of(services.sealed_log(), entry.stream_id, entry.stream_version)
    record = stored_record(ledger, entry.stream_id, entry.stream_version)
    return render(
        "event.html",
        viewer=viewer,
        e=entry,
        proof=proof,
        record=json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True),
        subject=subject_page(ledger, entry.stream_type, entry.stream_id),
    )
