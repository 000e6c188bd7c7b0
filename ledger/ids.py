"""Readable ids in events, deterministic stream UUIDs in the store.

Callers name things with short keys ("S012", "T-2026-000123"); the stream id is a UUIDv5 of
the kind and the key, so the same command always addresses the same stream and the event
store's unique (stream, version) key enforces "one aggregate per key" without a lookup table.
"""

from __future__ import annotations

from uuid import UUID, uuid5

LVYUE_NAMESPACE = UUID("6f1d4c1e-52a4-4f0e-9a39-6c7679756531")

STREAM_KINDS = (
    "staff",
    "org_unit",
    "contract",
    "area",
    "escalation_chain",
    "work_rule",
    "task",
    "checklist",
    "inspection_plan",
    "inspection_round",
    "corrective_action",
    "penalty",
    "reward",
    "performance_period",
    "notice",
    "anchor",
    "subject",
    "sla_clock",
    "vault",
)


def stream_id(kind: str, key: str) -> UUID:
    """The stream UUID of the aggregate of `kind` named `key`."""
    if kind not in STREAM_KINDS:
        raise ValueError(f"unknown stream kind {kind!r}")
    return uuid5(LVYUE_NAMESPACE, f"{kind}/{key}")


def event_id(stream: UUID, version: int) -> UUID:
    """A deterministic event id: the same stream position always has the same id."""
    return uuid5(stream, str(version))
