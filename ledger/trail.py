"""The read and verify side of the tamper-evident log: checkpoints, proofs and the full audit.

Sealing (``ledger.seal``) writes leaves and complete-subtree nodes inside each write
transaction; this module only reads them back, a page at a time, through the
:class:`SealedLog` protocol that the three sealing recorders implement. Nothing here reads a
clock or randomness: keys and times come in as arguments.

Two rules carry the guarantees:

- never sign a checkpoint the stored nodes cannot prove consistent with the last one signed
  (a rewritten node store is refused, not papered over with a second, forked history);
- the audit trusts nothing stored: every leaf is recomputed from the event bytes, with each
  ``prev_hash`` taken from the previous version's *recomputed* leaf, and the stored leaves,
  nodes and signed checkpoints are then compared with that recomputation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from ledger.checkpoint import SigningKey
from ledger.merkle import (
    Frontier,
    NodeReader,
    append_leaves,
    consistency_proof,
    inclusion_proof,
    root_at,
)
from ledger.seal import sealed_record
from lvyue_verify import (
    EMPTY_ROOT,
    Checkpoint,
    TreeBuilder,
    VerificationError,
    VerifierKey,
    leaf_hash,
    parse_checkpoint,
    parse_verifier_key,
    record_leaf_hash,
    verify_consistency,
    verify_note,
)

PAGE_SIZE = 1000


# --------------------------------------------------------------------------------------------
# What the stores hand back
# --------------------------------------------------------------------------------------------


class EventRow(NamedTuple):
    """One stored event in the store's commit order (rowid / notification_id / list index)."""

    position: int
    originator_id: str
    originator_version: int
    topic: str
    state: bytes


class LeafRow(NamedTuple):
    """One stored leaf: which event it seals and the hash sealed."""

    seq: int
    originator_id: str
    originator_version: int
    leaf_hash: bytes


class StoredCheckpoint(NamedTuple):
    """A signed checkpoint as persisted before it was handed out."""

    size: int
    root_hash: bytes
    note: str


def stream_key(originator_id: UUID | str) -> str:
    """One spelling of a stream id across stores: the dashed UUID form when it is a UUID.

    SQLite keeps UUIDs as 32 hex digits, PostgreSQL as ``uuid``, memory as ``UUID``; the seal
    hashed ``str(UUID)``, so that is the form every comparison uses.
    """
    if isinstance(originator_id, UUID):
        return str(originator_id)
    try:
        return str(UUID(originator_id))
    except ValueError:
        return originator_id


@runtime_checkable
class SealedLog(Protocol):
    """Read access to a sealed event store; each call runs in its own read transaction."""

    def sealed_size(self) -> int:
        """The number of sealed leaves (the largest ``seq``)."""
        ...

    def node_reader(self) -> NodeReader:
        """Stored level-0 (leaf) and level-1+ hashes, for ``ledger.merkle``."""
        ...

    def iter_events(self, after_position: int, limit: int) -> Sequence[EventRow]:
        """The next page of events after ``after_position``, in commit order."""
        ...

    def iter_leaves(self, after_seq: int, limit: int) -> Sequence[LeafRow]:
        """The next page of leaves after ``after_seq``, by ``seq``."""
        ...

    def event_exists(self, originator_id: str, originator_version: int) -> bool:
        """Whether the event row of this stream version is present."""
        ...

    def leaf_of(self, originator_id: str, originator_version: int) -> LeafRow | None:
        """The leaf sealing this stream version, if any."""
        ...

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The checkpoint with the largest size, if any was signed."""
        ...

    def all_checkpoints(self) -> Sequence[StoredCheckpoint]:
        """Every signed checkpoint, smallest size first."""
        ...

    def record_checkpoint(self, size: int, root: bytes, note: str) -> StoredCheckpoint:
        """Persist a checkpoint; if one of that size exists already, return the stored one."""
        ...


# --------------------------------------------------------------------------------------------
# Errors and findings
# --------------------------------------------------------------------------------------------


class TrailError(Exception):
    """A checkpoint or proof request the log cannot honour."""


class EmptyLog(TrailError):
    """Nothing is sealed yet, so there is nothing to sign or prove."""


class InconsistentCheckpoint(TrailError):
    """Signing now would produce a checkpoint inconsistent with one already signed."""


class OutOfRange(TrailError, ValueError):
    """A proof was asked for a seq or tree size the log does not have."""


@dataclass(frozen=True)
class Finding:
    """One problem the audit found: its kind, the first bad ``seq`` and what was seen.

    Kinds: ``changed`` (recomputed leaf differs from the stored one), ``deleted`` (a leaf whose
    event row is gone), ``inserted`` (an event row with no leaf), ``reordered`` (events out of
    leaf order, or an event holding another position's content), ``gap`` (a missing ``seq``),
    ``checkpoint`` (a signature, or a signed root the recomputed leaves do not reproduce) and
    ``node`` (a stored subtree hash that disagrees with the recomputed tree).
    """

    kind: str
    seq: int | None
    message: str
    size: int | None = None

    def describe(self) -> str:
        """``seq 17 changed: …`` — where to look first."""
        where = f"seq {self.seq} " if self.seq is not None else ""
        if self.seq is None and self.size is not None:
            where = f"checkpoint {self.size} "
        return f"{where}{self.kind}: {self.message}"


class TamperDetected(TrailError):
    """The stored events, leaves or checkpoints disagree; carries the first finding."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.describe())
        self.finding = finding


@dataclass(frozen=True)
class AuditReport:
    """The outcome of :func:`audit`: ``ok`` only when every check held."""

    size: int
    root: bytes
    events_checked: int
    checkpoints: int
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    @property
    def first(self) -> Finding | None:
        """The finding to report: walk problems first, then checkpoints, then nodes."""
        return self.findings[0] if self.findings else None


Verifier = SigningKey | VerifierKey | str


def verifier_of(key: Verifier) -> VerifierKey:
    """The public verifier key of a signing key, a verifier key or its text form."""
    if isinstance(key, SigningKey):
        return key.verifier_key()
    if isinstance(key, VerifierKey):
        return key
    return parse_verifier_key(key)


def read_checkpoint(note: str, key: Verifier) -> Checkpoint:
    """The body of a signed checkpoint note, after checking its signature."""
    return parse_checkpoint(verify_note(note, verifier_of(key)))


# --------------------------------------------------------------------------------------------
# Checkpoints and proofs
# --------------------------------------------------------------------------------------------


def sign_checkpoint(log: SealedLog, key: SigningKey, origin: str) -> str:
    """Sign the current tree, refusing anything inconsistent with the last checkpoint.

    The new checkpoint is persisted before its note is returned; Ed25519 is deterministic, so
    a crash in between loses nothing. The same size as the latest returns the latest note.
    Signers take the log's signing lock where it has one (PostgreSQL: across processes), and
    read the latest checkpoint before the size, so a concurrent signer can never make the
    log look shorter than a checkpoint already signed.
    """
    with _signing_lock(log):
        return _sign(log, key, origin)


@runtime_checkable
class SigningLock(Protocol):
    """A log whose checkpoint signers must queue (several processes on one database)."""

    def signing_lock(self) -> AbstractContextManager[None]: ...


def _signing_lock(log: SealedLog) -> AbstractContextManager[None]:
    return log.signing_lock() if isinstance(log, SigningLock) else nullcontext()


def _sign(log: SealedLog, key: SigningKey, origin: str) -> str:
    latest = log.latest_checkpoint()
    size = log.sealed_size()
    if size == 0:
        raise EmptyLog("nothing is sealed yet; there is no tree to sign")
    reader = log.node_reader()
    previous = _previous_checkpoint(latest, key, size, reader)
    if latest is not None and previous is not None and previous.size == size:
        return latest.note
    root = root_at(size, reader)
    if previous is not None:
        _require_extension(previous, size, root, reader)
    note = key.sign_checkpoint(origin, size, root)
    stored = log.record_checkpoint(size, root, note)
    if stored.root_hash != root:
        raise InconsistentCheckpoint(
            f"a checkpoint of size {size} with another root was recorded concurrently"
        )
    return stored.note


def _previous_checkpoint(
    latest: StoredCheckpoint | None, key: SigningKey, size: int, reader: NodeReader
) -> Checkpoint | None:
    """The latest signed checkpoint, checked against its row and the stored nodes."""
    if latest is None:
        return None
    try:
        previous = read_checkpoint(latest.note, key)
    except VerificationError as error:
        raise InconsistentCheckpoint(
            f"the stored checkpoint of size {latest.size} does not verify with this key: {error}"
        ) from error
    if (previous.size, previous.root) != (latest.size, latest.root_hash):
        raise InconsistentCheckpoint(
            f"the stored checkpoint of size {latest.size} differs from its signed note"
        )
    if size < previous.size:
        raise InconsistentCheckpoint(
            f"the log has {size} leaves but checkpoint {previous.size} was signed: "
            "leaves were removed"
        )
    if root_at(previous.size, reader) != previous.root:
        raise InconsistentCheckpoint(
            f"the stored nodes no longer reproduce the root of checkpoint {previous.size}"
        )
    return previous


def _require_extension(previous: Checkpoint, size: int, root: bytes, reader: NodeReader) -> None:
    """The new root must provably extend the previous one (RFC 9162 consistency)."""
    if previous.size == 0:
        return
    proof = consistency_proof(previous.size, size, reader)
    try:
        verify_consistency(previous.size, size, proof, previous.root, root)
    except VerificationError as error:
        raise InconsistentCheckpoint(
            f"the stored nodes do not prove size {size} extends checkpoint {previous.size}: {error}"
        ) from error


@dataclass(frozen=True)
class InclusionProof:
    """RFC 9162 inclusion of leaf ``seq`` (index ``seq - 1``) in the tree of ``size``."""

    seq: int
    size: int
    leaf_hash: str
    proof: list[str]
    root_hash: str


@dataclass(frozen=True)
class ConsistencyProof:
    """RFC 9162 consistency from the tree of ``size1`` to the tree of ``size2``."""

    size1: int
    size2: int
    root1: str
    root2: str
    proof: list[str]


def inclusion_proof_for(log: SealedLog, seq: int, size: int | None = None) -> InclusionProof:
    """The audit path of leaf ``seq`` in the tree of ``size`` (default: the whole log)."""
    sealed = log.sealed_size()
    tree_size = sealed if size is None else size
    if not 1 <= tree_size <= sealed:
        raise OutOfRange(f"tree size {tree_size} is not between 1 and {sealed}")
    if not 1 <= seq <= tree_size:
        raise OutOfRange(f"seq {seq} is not between 1 and tree size {tree_size}")
    reader = log.node_reader()
    leaf = reader.nodes([(0, seq - 1)]).get((0, seq - 1))
    if leaf is None:
        raise OutOfRange(f"no leaf with seq {seq}")
    path = inclusion_proof(seq - 1, tree_size, reader)
    root = root_at(tree_size, reader)
    return InclusionProof(seq, tree_size, leaf.hex(), [h.hex() for h in path], root.hex())


def consistency_between(log: SealedLog, size1: int, size2: int) -> ConsistencyProof:
    """The proof that the tree of ``size2`` extends the tree of ``size1``."""
    sealed = log.sealed_size()
    if not 1 <= size1 <= size2 <= sealed:
        raise OutOfRange(f"need 1 <= {size1} <= {size2} <= {sealed} (the sealed size)")
    reader = log.node_reader()
    proof = consistency_proof(size1, size2, reader)
    return ConsistencyProof(
        size1,
        size2,
        root_at(size1, reader).hex(),
        root_at(size2, reader).hex(),
        [h.hex() for h in proof],
    )


# --------------------------------------------------------------------------------------------
# Recomputing the log from the event bytes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealedEvent:
    """One event with its public record (``seq`` and ``prev_hash`` filled in), that
    record's RFC 8785 bytes, and its leaf."""

    seq: int
    record: dict[str, Any]
    canonical: bytes
    leaf_hash: bytes


class Recomputed(NamedTuple):
    record: dict[str, Any]
    canonical: bytes
    leaf_hash: bytes


def recompute_record(row: EventRow, seq: int, prev: bytes | None) -> Recomputed:
    """The public record, its canonical bytes and leaf hash of a stored event, exactly as
    the seal made them (`ledger.seal.sealed_record`).

    Raises ValueError when the bytes cannot be hashed (a float, an oversized integer, …).
    """
    stored = StoredEvent(
        originator_id=row.originator_id,
        originator_version=row.originator_version,
        topic=row.topic,
        state=row.state,
    )
    try:
        record, canonical = sealed_record(stored, seq, prev.hex() if prev is not None else None)
    except RecursionError as error:
        raise ValueError("state is nested too deeply") from error
    return Recomputed(record, canonical, leaf_hash(canonical))


def sealed_events(log: SealedLog, size: int, page: int = PAGE_SIZE) -> Iterator[SealedEvent]:
    """Events 1..``size`` with recomputed records and leaves, in ``seq`` order.

    Walks the events (commit order) and the leaves (``seq`` order) side by side, a page at a
    time, and raises :class:`TamperDetected` with the first disagreement. Memory grows with
    the number of streams (one link per stream), never with the number of events.
    """
    events = _events(log, page)
    links: dict[str, tuple[int, bytes]] = {}
    expected = 0
    for leaf in _leaves(log, size, page):
        expected += 1
        if leaf.seq != expected:
            raise TamperDetected(
                Finding("gap", expected, f"no leaf has seq {expected}; the next is {leaf.seq}")
            )
        event = next(events, None)
        if event is None:
            raise TamperDetected(_deleted(leaf))
        if (event.originator_id, event.originator_version) != leaf[1:3]:
            raise TamperDetected(_misplaced(log, leaf, event))
        found = _check_leaf(log, leaf, event, links)
        links[event.originator_id] = (event.originator_version, found.leaf_hash)
        yield SealedEvent(expected, found.record, found.canonical, found.leaf_hash)
    if expected < size:
        raise TamperDetected(Finding("gap", expected + 1, f"leaves end at seq {expected}"))
    _check_tail(log, next(events, None), size)


def _events(log: SealedLog, page: int) -> Iterator[EventRow]:
    position = 0
    while rows := log.iter_events(position, page):
        yield from rows
        position = rows[-1].position


def _leaves(log: SealedLog, size: int, page: int) -> Iterator[LeafRow]:
    seq = 0
    while seq < size and (rows := log.iter_leaves(seq, min(page, size - seq))):
        for row in rows:
            if row.seq > size:
                return
            yield row
        seq = rows[-1].seq


def _deleted(leaf: LeafRow) -> Finding:
    return Finding(
        "deleted",
        leaf.seq,
        f"the event row of stream {leaf.originator_id} version {leaf.originator_version} is gone",
    )


def _misplaced(log: SealedLog, leaf: LeafRow, event: EventRow) -> Finding:
    """Classify an event row that is not the one leaf ``seq`` sealed."""
    if not log.event_exists(leaf.originator_id, leaf.originator_version):
        return _deleted(leaf)
    found = f"stream {event.originator_id} version {event.originator_version}"
    sealed = log.leaf_of(event.originator_id, event.originator_version)
    if sealed is None:
        return Finding("inserted", leaf.seq, f"event row {found} has no leaf")
    return Finding(
        "reordered", leaf.seq, f"the event row here is {found}, which leaf {sealed.seq} sealed"
    )


def _check_leaf(
    log: SealedLog, leaf: LeafRow, event: EventRow, links: dict[str, tuple[int, bytes]]
) -> Recomputed:
    """Recompute one leaf; a mismatch is either moved content (reordered) or a change."""
    last = links.get(event.originator_id)
    prev = last[1] if last is not None and last[0] == event.originator_version - 1 else None
    try:
        found = recompute_record(event, leaf.seq, prev)
    except ValueError as error:
        raise TamperDetected(
            Finding("changed", leaf.seq, f"the stored state cannot be hashed: {error}")
        ) from error
    if found.leaf_hash != leaf.leaf_hash:
        raise TamperDetected(
            _moved_content(log, leaf, event, found.record) or _changed(leaf, event)
        )
    return found


def _changed(leaf: LeafRow, event: EventRow) -> Finding:
    detail = (
        "its content differs from what was sealed"
        if _is_public_record(event.state)
        else "its bytes are no longer a JSON public record"
    )
    return Finding(
        "changed",
        leaf.seq,
        f"stream {event.originator_id} version {event.originator_version}: {detail}",
    )


def _is_public_record(state: bytes) -> bool:
    try:
        record = json.loads(state)
    except (ValueError, RecursionError):
        return False
    return isinstance(record, dict) and "type" in record


def _moved_content(
    log: SealedLog, leaf: LeafRow, event: EventRow, record: dict[str, Any]
) -> Finding | None:
    """A state that names another stream version and hashes to *its* leaf was moved here."""
    claimed_stream, claimed_version = record.get("stream_id"), record.get("stream_version")
    if not isinstance(claimed_stream, str) or type(claimed_version) is not int:
        return None
    if (claimed_stream, claimed_version) == (event.originator_id, event.originator_version):
        return None
    home = log.leaf_of(claimed_stream, claimed_version)
    if home is None:
        return None
    before = log.leaf_of(claimed_stream, claimed_version - 1) if claimed_version > 1 else None
    moved = dict(record)
    moved["seq"] = home.seq
    moved["prev_hash"] = before.leaf_hash.hex() if before is not None else None
    try:
        if record_leaf_hash(moved) != home.leaf_hash:
            return None
    except ValueError:
        return None
    return Finding(
        "reordered",
        leaf.seq,
        f"the event row of stream {event.originator_id} version {event.originator_version} "
        f"holds the state sealed at seq {home.seq}",
    )


def _check_tail(log: SealedLog, tail: EventRow | None, size: int) -> None:
    """An event after the last leaf audited must be sealed (a concurrent commit) or it was added."""
    if tail is None:
        return
    if log.leaf_of(tail.originator_id, tail.originator_version) is None:
        raise TamperDetected(
            Finding(
                "inserted",
                size + 1,
                f"event row stream {tail.originator_id} version {tail.originator_version} "
                "follows the last leaf and has no leaf",
            )
        )


# --------------------------------------------------------------------------------------------
# The audit
# --------------------------------------------------------------------------------------------


class _NodeCheck:
    """Compares stored level-1+ nodes with the tree rebuilt from recomputed leaves, per page."""

    def __init__(self, reader: NodeReader, page: int) -> None:
        self.reader = reader
        self.page = page
        self.size = 0
        self.frontier: Frontier = ()
        self.pending: list[bytes] = []
        self.finding: Finding | None = None

    def add(self, leaf: bytes) -> None:
        self.pending.append(leaf)
        if len(self.pending) >= self.page:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        rows, self.frontier = append_leaves(self.size, self.frontier, self.pending)
        if self.finding is None:
            self._compare([row for row in rows if row[0] > 0])
        self.size += len(self.pending)
        self.pending = []

    def _compare(self, rows: list[tuple[int, int, bytes]]) -> None:
        stored = self.reader.nodes([(level, idx) for level, idx, _ in rows]) if rows else {}
        for level, idx, value in rows:
            found = stored.get((level, idx))
            if found != value:
                first, last = (idx << level) + 1, (idx + 1) << level
                state = "is missing" if found is None else "differs from the recomputed tree"
                self.finding = Finding(
                    "node",
                    first,
                    f"stored node level {level} index {idx} (seq {first}..{last}) {state}",
                )
                return


def audit(log: SealedLog, key: Verifier, page: int = PAGE_SIZE) -> AuditReport:
    """Recompute every leaf from the stored events and check leaves, checkpoints and nodes.

    Reports the first event/leaf problem (then stops walking, since later positions are no
    longer meaningful), every checkpoint whose signature or root fails, and the first stored
    node that disagrees with the recomputation.
    """
    verifier = verifier_of(key)
    size = log.sealed_size()
    checkpoints = sorted(log.all_checkpoints(), key=lambda c: c.size)
    wanted = {c.size for c in checkpoints}
    roots: dict[int, bytes] = {0: EMPTY_ROOT}
    tree = TreeBuilder()
    nodes = _NodeCheck(log.node_reader(), page)
    findings: list[Finding] = []
    try:
        for item in sealed_events(log, size, page):
            tree.append(item.leaf_hash)
            nodes.add(item.leaf_hash)
            if tree.size in wanted:
                roots[tree.size] = tree.root()
    except TamperDetected as problem:
        findings.append(problem.finding)
    nodes.flush()
    findings.extend(_checkpoint_findings(checkpoints, verifier, roots, size))
    if nodes.finding is not None:
        findings.append(nodes.finding)
    return AuditReport(size, tree.root(), tree.size, len(checkpoints), tuple(findings))


def _checkpoint_findings(
    checkpoints: Sequence[StoredCheckpoint],
    verifier: VerifierKey,
    roots: dict[int, bytes],
    size: int,
) -> list[Finding]:
    found: list[Finding] = []
    last_good = 0
    for stored in checkpoints:
        finding = _check_checkpoint(stored, verifier, roots, size, last_good)
        if finding is None:
            last_good = stored.size
        else:
            found.append(finding)
    return found


def _check_checkpoint(
    stored: StoredCheckpoint,
    verifier: VerifierKey,
    roots: dict[int, bytes],
    size: int,
    last_good: int,
) -> Finding | None:
    """One checkpoint: signature, agreement with its row, and the recomputed root."""
    try:
        signed = read_checkpoint(stored.note, verifier)
    except VerificationError as error:
        return Finding("checkpoint", None, f"signature does not verify: {error}", stored.size)
    if signed.origin != verifier.name or (signed.size, signed.root) != stored[:2]:
        return Finding("checkpoint", None, "stored size or root differs from the note", stored.size)
    if signed.size > size:
        return Finding(
            "checkpoint",
            size + 1,
            f"signed {signed.size} leaves but the log now has {size}: leaves were removed",
            signed.size,
        )
    root = roots.get(signed.size)
    if root is None or root == signed.root:
        return None
    return Finding(
        "checkpoint",
        None,
        f"the recomputed root of the first {signed.size} leaves is not the signed root: "
        f"a leaf among seq {last_good + 1}..{signed.size} was rewritten with its event",
        signed.size,
    )
