"""The audit bundle exporter (format ``lvyue-audit-bundle/1``, design/AUDIT-BUNDLE.md).

One streaming pass over the sealed log writes ``events.jsonl`` (every leaf: the full public
record in scope, a redacted stub outside it), ``events.csv`` and the OCEL 2.0 events; only the
OCEL object set (far smaller than the events) is held in memory. Each leaf is recomputed from
the event bytes as it is written and the tree of those leaves must give the signed root, so a
bundle is never written from a store that fails its audit.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final
from zoneinfo import ZoneInfo

from ledger.checkpoint import SigningKey
from ledger.ids import stream_id
from ledger.trail import (
    Finding,
    SealedLog,
    TamperDetected,
    audit,
    consistency_between,
    read_checkpoint,
    sealed_events,
    sign_checkpoint,
)
from lvyue_verify import ANCHORED, Checkpoint, TreeBuilder, VerificationError, canonical_json

BUNDLE_FORMAT: Final = "lvyue-audit-bundle/1"
CSV_COLUMNS: Final = (
    "seq",
    "event_id",
    "type",
    "stream_type",
    "stream_id",
    "stream_version",
    "occurred_at",
    "recorded_at",
    "actor_id",
    "actor_kind",
    "actor_role",
    "on_behalf_of",
    "property_id",
    "command_id",
    "evidence",
    "data",
    "prev_hash",
    "leaf_hash",
)


class ExportError(Exception):
    """The bundle cannot be written; nothing is left at the target."""


class TamperedStore(ExportError):
    """The store fails its audit (or changed during the export): no bundle from it."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(f"the store fails its audit at {finding.describe()}")
        self.finding = finding


class TargetNotEmpty(ExportError):
    """The output directory exists and holds files; a bundle must list every file it has."""


class EarlierCheckpointRejected(ExportError):
    """The ``--since-checkpoint`` note is not a checkpoint of this log signed by its key."""


@dataclass(frozen=True)
class ExportSummary:
    """What was written, for the command line's report."""

    out_dir: Path
    tree_size: int
    root_hash: bytes
    in_scope: int
    redacted: int
    objects: int
    consistent_from: int | None
    checkpoint: str


@dataclass(frozen=True)
class _Scope:
    property_id: str | None
    zone: ZoneInfo

    def covers(self, record: dict[str, Any]) -> bool:
        """Full records only for our well-formed events of the property (all without one).
        Anchors are in every scope: they hold no property's data, and they let the reader tie
        the bundle's prefix to an outside timestamp (lvyue_verify checks their roots)."""
        if "event_id" not in record:
            return False
        if record.get("type") == ANCHORED:
            return True
        return self.property_id is None or record.get("property_id") == self.property_id


def export_bundle(
    log: SealedLog,
    out_dir: str | os.PathLike[str],
    key: SigningKey,
    origin: str,
    *,
    property_id: str | None = None,
    since_checkpoint_text: str | None = None,
    created_at: datetime,
    display_zone: str,
) -> ExportSummary:
    """Audit the store, sign a checkpoint and write the bundle for it into ``out_dir``.

    The bundle is built in a sibling temporary directory and renamed into place at the end,
    so a refused or failed export leaves no half-written bundle behind.
    """
    target = _check_target(Path(out_dir))
    earlier = _earlier(since_checkpoint_text, key, origin)
    report = audit(log, key)
    if report.first is not None:
        raise TamperedStore(report.first)
    note = sign_checkpoint(log, key, origin)
    signed = read_checkpoint(note, key)
    consistency = _consistency(log, earlier, since_checkpoint_text, signed)
    scope = _Scope(property_id, ZoneInfo(display_zone))
    build = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        counts = _write_events(log, build, signed, scope)
        (build / "checkpoint").write_bytes(note.encode())
        if consistency is not None:
            _write_json(build / "consistency.json", consistency)
        scope_doc = _scope_doc(scope, created_at, counts, earlier)
        _write_manifest(build, signed, key.verifier_key_text(), scope_doc)
        build.rename(target)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return ExportSummary(
        target,
        signed.size,
        signed.root,
        counts.in_scope,
        counts.redacted,
        counts.objects,
        None if earlier is None else earlier.size,
        note,
    )


def _check_target(target: Path) -> Path:
    target = target.absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise TargetNotEmpty(f"{target} exists and is not an empty directory")
    if not target.parent.is_dir():
        raise TargetNotEmpty(f"{target.parent} is not a directory")
    return target


def _earlier(text: str | None, key: SigningKey, origin: str) -> Checkpoint | None:
    """The trusted earlier checkpoint: signed by our key, for our origin, not empty."""
    if text is None:
        return None
    try:
        earlier = read_checkpoint(text, key)
    except VerificationError as error:
        raise EarlierCheckpointRejected(f"not a checkpoint signed by this log: {error}") from error
    if earlier.origin != origin:
        raise EarlierCheckpointRejected(f"the checkpoint is for origin {earlier.origin!r}")
    if earlier.size == 0:
        raise EarlierCheckpointRejected("a checkpoint of the empty log proves nothing")
    return earlier


def _consistency(
    log: SealedLog, earlier: Checkpoint | None, text: str | None, signed: Checkpoint
) -> dict[str, Any] | None:
    """consistency.json: the earlier checkpoint and the proof from its size to ours."""
    if earlier is None or text is None:
        return None
    if earlier.size > signed.size:
        raise EarlierCheckpointRejected(
            f"the checkpoint has {earlier.size} leaves; the log only {signed.size}"
        )
    proof = consistency_between(log, earlier.size, signed.size)
    if bytes.fromhex(proof.root1) != earlier.root:
        raise EarlierCheckpointRejected(
            f"this log's tree of size {earlier.size} has another root: the checkpoint is not "
            "a prefix of this log"
        )
    return {
        "old_checkpoint": text,
        "old_size": earlier.size,
        "old_root_hash": earlier.root.hex(),
        "new_size": signed.size,
        "proof": proof.proof,
    }


@dataclass(frozen=True)
class _Counts:
    in_scope: int
    redacted: int
    objects: int


def _write_events(log: SealedLog, build: Path, signed: Checkpoint, scope: _Scope) -> _Counts:
    """events.jsonl, events.csv and ocel.json in one pass over leaves 1..tree_size."""
    tree = TreeBuilder()
    in_scope = redacted = 0
    with (
        (build / "events.jsonl").open("wb") as jsonl,
        (build / "events.csv").open("w", encoding="utf-8-sig", newline="") as csv_file,
        tempfile.TemporaryFile("w+", encoding="utf-8", dir=build) as spool,
    ):
        rows = csv.writer(csv_file)
        rows.writerow(CSV_COLUMNS)
        ocel = OcelWriter(spool)
        try:
            for item in sealed_events(log, signed.size):
                tree.append(item.leaf_hash)
                ocel.learn(item.record)
                if scope.covers(item.record):
                    in_scope += 1
                    jsonl.write(item.canonical + b"\n")
                    rows.writerow(csv_row(item.record, item.leaf_hash, scope.zone))
                    ocel.add(item.record, item.leaf_hash)
                else:
                    redacted += 1
                    stub = {"seq": item.seq, "redacted": True, "leaf_hash": item.leaf_hash.hex()}
                    jsonl.write(canonical_json(stub) + b"\n")
        except TamperDetected as problem:
            raise TamperedStore(problem.finding) from problem
        if tree.root() != signed.root:
            raise TamperedStore(
                Finding("checkpoint", None, "the exported leaves do not give the signed root")
            )
        with (build / "ocel.json").open("w", encoding="utf-8") as out:
            ocel.finish(out)
    return _Counts(in_scope, redacted, ocel.object_count)


# --------------------------------------------------------------------------------------------
# events.csv
# --------------------------------------------------------------------------------------------


FORMULA_TRIGGERS: Final = ("=", "+", "-", "@", "\t", "\r")
"""Leading characters that make Excel, LibreOffice or Sheets read a cell as a formula (OWASP)."""


def csv_row(record: dict[str, Any], leaf_hash: bytes, zone: ZoneInfo) -> list[Any]:
    """One spreadsheet row of a public record; times in the display zone with their offset.

    Client-chosen text (command ids, evidence references, property ids) reaches these cells, so
    every text cell goes through `spreadsheet_safe`: opening a regulator's export must never run
    a formula someone typed into a work order.
    """
    return [spreadsheet_safe(cell) for cell in _csv_cells(record, leaf_hash, zone)]


def spreadsheet_safe(cell: object) -> object:
    """Text that a spreadsheet would evaluate gets a leading apostrophe; everything else is kept.

    Numbers stay numbers, so `seq` and versions still sort numerically. events.jsonl holds the
    exact values; the CSV is the human copy.
    """
    if isinstance(cell, str) and cell.startswith(FORMULA_TRIGGERS):
        return "'" + cell
    return cell


def _csv_cells(record: dict[str, Any], leaf_hash: bytes, zone: ZoneInfo) -> list[Any]:
    actor = record.get("actor") or {}
    return [
        record["seq"],
        record.get("event_id"),
        record.get("type"),
        record.get("stream_type"),
        record.get("stream_id"),
        record.get("stream_version"),
        _local(record.get("occurred_at"), zone),
        _local(record.get("recorded_at"), zone),
        actor.get("id"),
        actor.get("kind"),
        actor.get("role"),
        record.get("on_behalf_of"),
        record.get("property_id"),
        record.get("command_id"),
        " ".join(record.get("evidence") or ()),
        json.dumps(record.get("data"), ensure_ascii=False, separators=(",", ":"), sort_keys=True),
        record.get("prev_hash"),
        leaf_hash.hex(),
    ]


def _local(text: object, zone: ZoneInfo) -> object:
    if not isinstance(text, str):
        return text
    try:
        return datetime.fromisoformat(text).astimezone(zone).isoformat()
    except ValueError:
        return text


# --------------------------------------------------------------------------------------------
# ocel.json (OCEL 2.0 JSON)
# --------------------------------------------------------------------------------------------

PERSON_FIELDS: Final = frozenset(
    {
        "person_id",
        "responsible_id",
        "from_responsible_id",
        "to_responsible_id",
        "executor_id",
        "from_executor_id",
        "to_executor_id",
        "subject_id",
        "signer_id",
        "owner_id",
        "deputy_id",
        "witness_id",
        "successor_id",
        "supervisor_id",
        "reporter_id",
        "inspector_id",
        "implementer_id",
        "verifier_id",
        "closer_id",
        "assignee_ids",
        "panel_ids",
    }
)
"""Data fields that name people (by person id); each named person is an OCEL object."""

REFERENCE_FIELDS: Final = {
    "area_id": ("area", "Area"),
    "plan_id": ("inspection_plan", "InspectionPlan"),
    "checklist_id": ("checklist", "Checklist"),
    "escalation_chain_id": ("escalation_chain", "EscalationChain"),
}
"""Data fields that name another stream by its key: (stream kind, stream type)."""

PERSON_KINDS: Final = frozenset({"staff", "owner"})
PERSON_TYPE: Final = "person"
_FIXED_ATTRIBUTES: Final = {
    "seq": "integer",
    "leaf_hash": "string",
    "stream_version": "integer",
    "recorded_at": "time",
    "actor_role": "string",
    "property_id": "string",
}


class OcelWriter:
    """Builds the OCEL 2.0 log: events are spooled as they come, objects are collected.

    Object ids: ``person:<person id>`` for people (a Staff stream is its person), the stream
    UUID for other streams, ``<kind>:<id>`` for non-person actors (system, device, …). Every
    object is created by an event relating to it, so pm4py's import keeps all of them.
    """

    def __init__(self, spool: IO[str]) -> None:
        self.spool = spool
        self.objects: dict[str, str] = {}
        self.event_types: dict[str, dict[str, str]] = {}
        self.staff_person: dict[str, str] = {}
        self.events = 0

    @property
    def object_count(self) -> int:
        """Objects referenced so far."""
        return len(self.objects)

    def learn(self, record: dict[str, Any]) -> None:
        """Remember which Staff stream belongs to which person id (in scope or not)."""
        data = record.get("data")
        if record.get("stream_type") == "Staff" and isinstance(data, dict):
            person = data.get("person_id")
            if isinstance(person, str) and person:
                self.staff_person[str(stream_id("staff", person))] = person

    def add(self, record: dict[str, Any], leaf_hash: bytes) -> None:
        """Spool one event with its attributes and qualified object relationships."""
        event_type = str(record["type"])
        attributes = self._attributes(event_type, record, leaf_hash)
        event = {
            "id": str(record["event_id"]),
            "type": event_type,
            "time": record["occurred_at"],
            "attributes": attributes,
            "relationships": [
                {"objectId": oid, "qualifier": qualifier}
                for oid, qualifier in self._relationships(record)
            ],
        }
        self.spool.write(("," if self.events else "") + json.dumps(event, ensure_ascii=False))
        self.spool.write("\n")
        self.events += 1

    def _attributes(
        self, event_type: str, record: dict[str, Any], leaf_hash: bytes
    ) -> list[dict[str, Any]]:
        values: dict[str, Any] = {
            "seq": record["seq"],
            "leaf_hash": leaf_hash.hex(),
            "stream_version": record.get("stream_version"),
            "recorded_at": record.get("recorded_at"),
            "actor_role": (record.get("actor") or {}).get("role"),
            "property_id": record.get("property_id"),
        }
        declared = self.event_types.setdefault(event_type, {})
        for name, kind in _FIXED_ATTRIBUTES.items():
            declared.setdefault(name, kind)
        for name, value in _scalar_data(record.get("data")):
            if name not in values:
                values[name] = value
                _declare(declared, name, value)
        return [{"name": n, "value": v} for n, v in values.items() if v is not None]

    def _relationships(self, record: dict[str, Any]) -> list[tuple[str, str]]:
        """One relationship per object; its qualifiers joined with ``+`` (``actor+signer``).

        pm4py keeps a single relation per event and object, silently dropping the others, so
        several roles of one person in one event are written as one combined qualifier.
        """
        related: dict[str, list[str]] = {}

        def relate(oid: str | None, qualifier: str) -> None:
            if oid is not None and qualifier not in related.setdefault(oid, []):
                related[oid].append(qualifier)

        relate(self._stream_object(record), "stream")
        actor = record.get("actor") or {}
        relate(self._actor_object(actor.get("id"), actor.get("kind")), "actor")
        if isinstance(record.get("on_behalf_of"), str):
            relate(self._person(record["on_behalf_of"]), "on_behalf_of")
        data = record.get("data")
        for name, value in data.items() if isinstance(data, dict) else ():
            for oid in self._named_objects(name, value):
                relate(oid, _qualifier(name))
        return [(oid, "+".join(qualifiers)) for oid, qualifiers in related.items()]

    def _stream_object(self, record: dict[str, Any]) -> str | None:
        stream, stream_type = record.get("stream_id"), record.get("stream_type")
        if not isinstance(stream, str) or not isinstance(stream_type, str):
            return None
        person = self.staff_person.get(stream) if stream_type == "Staff" else None
        if person is not None:
            return self._person(person)
        return self._object(stream, stream_type)

    def _actor_object(self, actor_id: object, kind: object) -> str | None:
        if not isinstance(actor_id, str) or not isinstance(kind, str):
            return None
        if kind in PERSON_KINDS:
            return self._person(actor_id)
        return self._object(f"{kind}:{actor_id}", kind)

    def _named_objects(self, name: str, value: object) -> Iterable[str]:
        if name in PERSON_FIELDS:
            values = value if isinstance(value, list) else [value]
            return [self._person(v) for v in values if isinstance(v, str) and v]
        reference = REFERENCE_FIELDS.get(name)
        if reference is not None and isinstance(value, str) and value:
            return [self._object(str(stream_id(reference[0], value)), reference[1])]
        return []

    def _person(self, person_id: str) -> str:
        return self._object(f"person:{person_id}", PERSON_TYPE)

    def _object(self, oid: str, object_type: str) -> str:
        self.objects.setdefault(oid, object_type)
        return oid

    def finish(self, out: IO[str]) -> None:
        """Write the whole OCEL 2.0 document: types and objects, then the spooled events."""
        object_types = sorted(set(self.objects.values()))
        head = {
            "objectTypes": [{"name": name, "attributes": []} for name in object_types],
            "eventTypes": [
                {"name": name, "attributes": [{"name": a, "type": t} for a, t in attrs.items()]}
                for name, attrs in sorted(self.event_types.items())
            ],
            "objects": [
                {"id": oid, "type": kind, "attributes": [], "relationships": []}
                for oid, kind in self.objects.items()
            ],
        }
        text = json.dumps(head, ensure_ascii=False)
        out.write(text[:-1] + ',"events":[\n')
        self.spool.seek(0)
        shutil.copyfileobj(self.spool, out)
        out.write("]}\n")


def _scalar_data(data: object) -> Iterable[tuple[str, Any]]:
    """Data fields worth an event attribute: plain values that do not name an object."""
    if not isinstance(data, dict):
        return []
    return [
        (name, value)
        for name, value in data.items()
        if isinstance(value, str | int | bool) and not name.endswith(("_id", "_ids"))
    ]


def _declare(declared: dict[str, str], name: str, value: object) -> None:
    kind = (
        "boolean" if isinstance(value, bool) else "integer" if isinstance(value, int) else "string"
    )
    if declared.setdefault(name, kind) != kind:
        declared[name] = "string"


def _qualifier(field_name: str) -> str:
    return field_name.removesuffix("_ids").removesuffix("_id")


# --------------------------------------------------------------------------------------------
# manifest.json
# --------------------------------------------------------------------------------------------


def _scope_doc(
    scope: _Scope, created_at: datetime, counts: _Counts, earlier: Checkpoint | None
) -> dict[str, Any]:
    if created_at.tzinfo is None:
        raise ValueError("created_at must carry a UTC offset")
    return {
        "property": scope.property_id,
        "period": None,
        "created_at": created_at.astimezone(UTC).isoformat(),
        "display_zone": scope.zone.key,
        "events_in_scope": counts.in_scope,
        "events_redacted": counts.redacted,
        "since_tree_size": None if earlier is None else earlier.size,
    }


def _write_manifest(
    build: Path, signed: Checkpoint, verifier_key: str, scope: dict[str, Any]
) -> None:
    files = {path.name: _digest(path) for path in sorted(build.iterdir())}
    _write_json(
        build / "manifest.json",
        {
            "format": BUNDLE_FORMAT,
            "origin": signed.origin,
            "tree_size": signed.size,
            "root_hash": signed.root.hex(),
            "verifier_key": verifier_key,
            "scope": scope,
            "files": files,
        },
    )


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
