"""Who signed what: every signature-bearing event, filterable by signer, property, kind, period.

The signer is the person whose signature the event records — the actor in every case but a
penalty notice, where the acknowledging subject signs and the actor only delivers it (the
actor is kept beside the signer). A responsibility assignment the holder recorded themselves
counts as their acceptance signature.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, String, Table, Text

from projections.schema import (
    Record,
    StreamKeys,
    UtcDateTime,
    insert_rows,
    metadata,
    stream_keys_table,
    utc,
)

# event type → (intent, data field naming the signer; None: the actor)
SIGNED: dict[str, tuple[str, str | None]] = {
    "CompletionSignedOff": ("confirm_completion", "signer_id"),
    "ResponsibilityAssigned": ("accept_responsibility", "responsible_id"),
    "ResponsibilityAccepted": ("accept_responsibility", "responsible_id"),
    "WorkRuleAcknowledged": ("acknowledge_rule", "person_id"),
    "AppealRuled": ("rule_appeal", None),
    "CorrectiveActionVerified": ("verify_correction", "verifier_id"),
    "InspectionRoundCompleted": ("sign_inspection", "signer_id"),
    "PenaltyNotified": ("acknowledge_penalty", None),
}

# stream type → (stream kind shown in `subject`, the key field of its first event)
SUBJECTS: dict[str, tuple[str, str]] = {
    "Task": ("task", "task_no"),
    "Area": ("area", "area_id"),
    "WorkRule": ("work_rule", "rule_id"),
    "PenaltyCase": ("penalty", "case_id"),
    "CorrectiveAction": ("corrective_action", "action_id"),
    "InspectionRound": ("inspection_round", "round_id"),
}

signature_streams = stream_keys_table("signature_streams")

signatures = Table(
    "signatures",
    metadata,
    Column("position", BigInteger, primary_key=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("kind", String(80), nullable=False),
    Column("intent", String(40), nullable=False),
    Column("signer_id", String(100), nullable=False),
    Column("signer_role", String(60)),
    Column("actor_id", String(100), nullable=False),
    Column("actor_kind", String(20), nullable=False),
    Column("actor_role", String(60), nullable=False),
    Column("on_behalf_of", String(100)),
    Column("property_id", String(100)),
    Column("subject", String(300)),
    Column("stream_type", String(60), nullable=False),
    Column("stream_id", String(36), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("evidence", Text, nullable=False),
    Index("ix_signatures_signer", "signer_id", "position"),
    Index("ix_signatures_property", "property_id", "position"),
    Index("ix_signatures_kind", "kind", "position"),
    Index("ix_signatures_occurred", "occurred_at"),
)


def is_signature(record: Record) -> bool:
    """Whether the event carries somebody's signature."""
    data = record.get("data") or {}
    if record["type"] == "PenaltyNotified":
        return bool(data.get("acknowledged"))
    if record["type"] == "ResponsibilityAssigned":
        return bool(data.get("acceptance_signed"))
    return record["type"] in SIGNED


class SignaturesView:
    """One row per signature, with the event and stream it stands in."""

    name = "signatures"
    tables = (signature_streams, signatures)

    def __init__(self) -> None:
        keys = {stream_type: field for stream_type, (_, field) in SUBJECTS.items()}
        self.keys = StreamKeys(signature_streams, keys, {"PenaltyCase": "subject_id"})

    def apply(self, conn: Connection, records: Sequence[Record], ids: Sequence[int]) -> None:
        streams = self.keys.resolve(conn, records)
        rows = [
            _row(record, position, streams.get(record["stream_id"]))
            for record, position in zip(records, ids, strict=True)
            if is_signature(record)
        ]
        insert_rows(conn, signatures, rows)


def _row(record: Record, position: int, stream: Record | None) -> Record:
    data = record.get("data") or {}
    actor = record["actor"]
    intent, field = SIGNED[record["type"]]
    signer = data.get(field) if field else None
    if record["type"] == "PenaltyNotified" and stream is not None:
        signer = stream["subject_id"]
    signer = str(signer or actor["id"])
    return {
        "position": position,
        "event_id": record["event_id"],
        "kind": record["type"],
        "intent": intent,
        "signer_id": signer,
        "signer_role": actor["role"] if signer == actor["id"] else None,
        "actor_id": actor["id"],
        "actor_kind": actor["kind"],
        "actor_role": actor["role"],
        "on_behalf_of": record.get("on_behalf_of"),
        "property_id": record.get("property_id"),
        "subject": _subject(record, stream),
        "stream_type": record["stream_type"],
        "stream_id": record["stream_id"],
        "stream_version": record["stream_version"],
        "occurred_at": utc(record["occurred_at"]),
        "recorded_at": utc(record["recorded_at"]),
        "evidence": ",".join(record.get("evidence") or ()),
    }


def _subject(record: Record, stream: Record | None) -> str | None:
    """A readable reference to what was signed: task/T1, area/A1#cleaning, work_rule/R1@v2."""
    if stream is None:
        return None
    kind = SUBJECTS[record["stream_type"]][0]
    data = record.get("data") or {}
    subject = f"{kind}/{stream['key']}"
    if data.get("service_line"):
        subject += f"#{data['service_line']}"
    if record["type"] == "WorkRuleAcknowledged" and data.get("version") is not None:
        subject += f"@v{data['version']}"
    return subject
