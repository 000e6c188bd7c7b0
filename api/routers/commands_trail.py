"""The tamper-evident log over HTTP: checkpoints, proofs, the verifier key, audit and export."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from api.deps import GuardDep, ServicesDep
from api.problems import QUERY_ERRORS, ApiProblem, problem_responses
from ledger.domain.anchors import Anchor
from ledger.errors import NotFound
from ledger.replay import parse_stream_ref
from ledger.trail import (
    audit,
    consistency_between,
    inclusion_proof_for,
    read_checkpoint,
    sign_checkpoint,
    stream_key,
)
from projections.bundle import ExportError, TamperedStore, export_bundle

router = APIRouter(prefix="/trail", tags=["trail"], responses=QUERY_ERRORS)

Size = Annotated[int, Query(ge=1, le=2**40)]
StreamRef = Annotated[
    str | None, Query(max_length=300, description="kind/key or a stream UUID, with version")
]
PropertyQuery = Annotated[
    str | None, Query(max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")
]


class CheckpointOut(BaseModel):
    """A signed checkpoint (C2SP signed note) of the log's Merkle tree."""

    size: int
    root_hash: str
    note: str


class InclusionOut(BaseModel):
    """RFC 9162 inclusion proof of leaf `seq` in the tree of `size`."""

    seq: int
    size: int
    leaf_hash: str
    proof: list[str]
    root_hash: str


class ConsistencyOut(BaseModel):
    """RFC 9162 proof that the tree of `size2` extends the tree of `size1`."""

    size1: int
    size2: int
    root1: str
    root2: str
    proof: list[str]


class VerifierKeyOut(BaseModel):
    verifier_key: str
    origin: str


class FindingOut(BaseModel):
    kind: str
    seq: int | None
    message: str


class AuditOut(BaseModel):
    """The outcome of recomputing every leaf and checkpoint from the stored events."""

    ok: bool
    size: int
    root_hash: str
    events_checked: int
    checkpoints: int
    first_finding: FindingOut | None


@router.post("/checkpoints", responses=problem_responses(409))
def create_checkpoint(guard: GuardDep, services: ServicesDep) -> CheckpointOut:
    """Sign the current tree (the same size as the latest returns the latest)."""
    guard.require("sign_checkpoint", ())
    key = services.signing_key()
    note = sign_checkpoint(services.sealed_log(), key, services.settings.origin)
    body = read_checkpoint(note, key)
    return CheckpointOut(size=body.size, root_hash=body.root.hex(), note=note)


@router.get("/checkpoints/latest")
def latest_checkpoint(guard: GuardDep, services: ServicesDep) -> CheckpointOut:
    guard.require("read_trail_proofs", None)
    latest = services.sealed_log().latest_checkpoint()
    if latest is None:
        raise NotFound("no checkpoint has been signed yet")
    return CheckpointOut(size=latest.size, root_hash=latest.root_hash.hex(), note=latest.note)


class AnchorOut(BaseModel):
    """One outside platform's receipt for a checkpoint's root."""

    platform: str
    anchored_at: str
    receipt_ref: str
    receipt_sha256: str


class AnchoringOut(BaseModel):
    """A signed checkpoint and where it was anchored (empty: not yet)."""

    size: int
    root_hash: str
    anchors: list[AnchorOut]


class AnchoringsOut(BaseModel):
    checkpoints: list[AnchoringOut]


@router.get("/anchors")
def anchors(
    guard: GuardDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> AnchoringsOut:
    """存证: the newest signed checkpoints, each with the platforms it was anchored on."""
    guard.require("read_trail_proofs", None)
    return AnchoringsOut(
        checkpoints=[
            AnchoringOut(
                size=a.checkpoint.size,
                root_hash=a.checkpoint.root_hash.hex(),
                anchors=[_anchor_out(anchor) for anchor in a.anchors],
            )
            for a in services.ledger.anchorings(limit)
        ]
    )


def _anchor_out(anchor: Anchor) -> AnchorOut:
    return AnchorOut(
        platform=anchor.platform,
        anchored_at=anchor.anchored_at.isoformat(),
        receipt_ref=anchor.receipt_ref,
        receipt_sha256=anchor.receipt_sha256,
    )


@router.get("/proofs/inclusion")
def inclusion_proof(
    guard: GuardDep,
    services: ServicesDep,
    seq: Annotated[int | None, Query(ge=1, le=2**40)] = None,
    stream: StreamRef = None,
    version: Annotated[int | None, Query(ge=1, le=2**31)] = None,
    size: Annotated[int | None, Query(ge=1, le=2**40)] = None,
) -> InclusionOut:
    """Prove one event is in the log: by `seq`, or by `stream` and `version`."""
    guard.require("read_trail_proofs", None)
    log = services.sealed_log()
    if seq is None:
        if stream is None or version is None:
            raise ApiProblem(422, "invalid_value", "give seq, or stream and version")
        key = stream_key(parse_stream_ref(stream))
        # No event, no leaf worth a search: leaf_of scans the leaves when an event is not
        # where its leaf is (a tampered store), which a guess at a version must not cause.
        leaf = log.leaf_of(key, version) if log.event_exists(key, version) else None
        if leaf is None:
            raise NotFound(f"no sealed event {stream} v{version}")
        seq = leaf.seq
    proof = inclusion_proof_for(log, seq, size)
    return InclusionOut(**vars(proof))


@router.get("/proofs/consistency")
def consistency_proof(
    guard: GuardDep, services: ServicesDep, size1: Size, size2: Size
) -> ConsistencyOut:
    guard.require("read_trail_proofs", None)
    return ConsistencyOut(**vars(consistency_between(services.sealed_log(), size1, size2)))


@router.get("/verifier-key")
def verifier_key(guard: GuardDep, services: ServicesDep) -> VerifierKeyOut:
    """The public key that verifies checkpoints (publish it out of band)."""
    guard.require("read_trail_proofs", None)
    key = services.signing_key()
    return VerifierKeyOut(verifier_key=key.verifier_key_text(), origin=services.settings.origin)


@router.get("/audit")
def run_audit(guard: GuardDep, services: ServicesDep) -> AuditOut:
    """Recompute every leaf and checkpoint from the stored events (`lvyue audit`)."""
    guard.require("run_audit", None)
    report = audit(services.sealed_log(), services.signing_key())
    first = report.first
    return AuditOut(
        ok=report.ok,
        size=report.size,
        root_hash=report.root.hex(),
        events_checked=report.events_checked,
        checkpoints=report.checkpoints,
        first_finding=None
        if first is None
        else FindingOut(kind=first.kind, seq=first.seq, message=first.message),
    )


BUNDLE_RESPONSE = {
    200: {
        "description": "the audit bundle as a gzip-compressed tar archive",
        "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}}},
    },
    **problem_responses(409, 500),
}


@router.get("/export", response_class=StreamingResponse, responses=BUNDLE_RESPONSE)
def export(
    guard: GuardDep, services: ServicesDep, property_id: PropertyQuery = None
) -> StreamingResponse:
    """导出审计包: audit, sign a checkpoint, and stream the bundle (see AUDIT-BUNDLE.md)."""
    guard.require("export_bundle", () if property_id is None else (property_id,))
    workdir = Path(tempfile.mkdtemp(prefix="lvyue-export-"))
    try:
        summary = export_bundle(
            services.sealed_log(),
            workdir / "bundle",
            services.signing_key(),
            services.settings.origin,
            property_id=property_id,
            created_at=services.clock(),
            display_zone=services.settings.display_zone,
        )
    except BaseException as error:
        shutil.rmtree(workdir, ignore_errors=True)
        if isinstance(error, TamperedStore):
            raise ApiProblem(500, "log_integrity", str(error)) from error
        if isinstance(error, ExportError):
            raise ApiProblem(409, "export_refused", str(error)) from error
        raise
    name = f"lvyue-audit-bundle-{summary.tree_size}"
    return StreamingResponse(
        _tar_gz(workdir, summary.out_dir, name),
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{name}.tar.gz"'},
    )


class _Chunks:
    """A write-only file object whose written bytes are handed out as they come."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def drain(self) -> Iterator[bytes]:
        parts, self.parts = self.parts, []
        yield from parts


def _tar_gz(workdir: Path, bundle: Path, name: str) -> Iterator[bytes]:
    """The bundle directory as a streamed tar.gz; the temporary copy is removed afterwards."""
    out = _Chunks()
    try:
        with tarfile.open(fileobj=out, mode="w|gz") as tar:  # type: ignore[call-overload]
            for path in sorted(bundle.rglob("*")):
                tar.add(path, arcname=f"{name}/{path.relative_to(bundle)}", recursive=False)
                yield from out.drain()
        yield from out.drain()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
