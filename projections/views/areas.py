"""Area responsibility over time: area × service line × holder × [valid_from, valid_to).

One row per term of responsibility (责任到人), opened by `ResponsibilityAssigned`, signed by
`ResponsibilityAccepted` (or at assignment when the holder recorded it), closed by
`ResponsibilityReleased` (valid_to NULL = still held). Data fields are read defensively.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    select,
    tuple_,
)

from projections.schema import (
    Record,
    StreamKeys,
    UtcDateTime,
    insert_rows,
    metadata,
    stream_keys_table,
    update_rows,
    utc,
    utc_or_none,
)

area_streams = stream_keys_table("area_streams")

area_terms = Table(
    "area_terms",
    metadata,
    Column("area_id", String(100), primary_key=True),
    Column("service_line", String(50), primary_key=True),
    Column("term_no", Integer, primary_key=True),
    Column("property_id", String(100)),
    Column("responsible_id", String(100), nullable=False),
    Column("deputy_id", String(100)),
    Column("valid_from", UtcDateTime, nullable=False),
    Column("valid_to", UtcDateTime),
    Column("accepted", Boolean, nullable=False),
    Column("assigned_by", String(100), nullable=False),
    Column("assigned_event_id", String(36), nullable=False, unique=True),
    Column("assigned_position", BigInteger, nullable=False),
    Column("assigned_recorded_at", UtcDateTime, nullable=False),
    Column("accepted_event_id", String(36)),
    Column("accepted_position", BigInteger),
    Column("accepted_at", UtcDateTime),
    Column("released_event_id", String(36)),
    Column("released_position", BigInteger),
    Column("release_reason", Text),
    Column("successor_id", String(100)),
    Index("ix_area_terms_from", "area_id", "service_line", "valid_from"),
    Index("ix_area_terms_person", "responsible_id", "valid_from"),
)

EVENTS = ("ResponsibilityAssigned", "ResponsibilityAccepted", "ResponsibilityReleased")
Line = tuple[str, str]


class AreasView:
    """Who answered for each area and service line, term by term, with the events behind it."""

    name = "areas"
    tables = (area_streams, area_terms)

    def __init__(self) -> None:
        self.keys = StreamKeys(area_streams, {"Area": "area_id"})

    def apply(self, conn: Connection, records: Sequence[Record], ids: Sequence[int]) -> None:
        areas = self.keys.resolve(conn, records)
        page = [
            (r, p, areas[r["stream_id"]])
            for r, p in zip(records, ids, strict=True)
            if r["type"] in EVENTS and r["stream_id"] in areas
        ]
        lines = {(a["key"], str((r.get("data") or {}).get("service_line"))) for r, _, a in page}
        latest = _latest_terms(conn, lines)
        stored = {(t["area_id"], t["service_line"], t["term_no"]) for t in latest.values()}
        touched: dict[tuple[str, str, int], Record] = {}
        for record, position, area in page:
            line = (area["key"], str(record["data"].get("service_line")))
            term = _fold(latest.get(line), record, position, area)
            if term is not None:
                latest[line] = term
                touched[(term["area_id"], term["service_line"], term["term_no"])] = term
        insert_rows(conn, area_terms, [t for k, t in touched.items() if k not in stored])
        keys = ["area_id", "service_line", "term_no"]
        update_rows(conn, area_terms, keys, [t for k, t in touched.items() if k in stored])


def _latest_terms(conn: Connection, lines: set[Line]) -> dict[Line, Record]:
    """The newest term of each (area, service line), open or closed."""
    if not lines:
        return {}
    c = area_terms.c
    newest = (
        select(c.area_id, c.service_line, func.max(c.term_no))
        .where(tuple_(c.area_id, c.service_line).in_(lines))
        .group_by(c.area_id, c.service_line)
    )
    query = select(area_terms).where(tuple_(c.area_id, c.service_line, c.term_no).in_(newest))
    return {(row.area_id, row.service_line): dict(row._mapping) for row in conn.execute(query)}


def _fold(latest: Record | None, record: Record, position: int, area: Record) -> Record | None:
    """The term this event creates or changes (None when there is nothing to change)."""
    data = record.get("data") or {}
    if record["type"] == "ResponsibilityAssigned":
        return _opened(latest, record, position, area)
    if latest is None or latest["valid_to"] is not None:
        return None  # the aggregate forbids this; a view does not invent a term
    term = dict(latest)
    if record["type"] == "ResponsibilityAccepted":
        term.update(
            accepted=True,
            accepted_event_id=record["event_id"],
            accepted_position=position,
            accepted_at=utc(record["occurred_at"]),
        )
    else:
        term.update(
            valid_to=utc_or_none(data.get("effective_to")) or utc(record["occurred_at"]),
            released_event_id=record["event_id"],
            released_position=position,
            release_reason=data.get("reason"),
            successor_id=data.get("successor_id"),
        )
    return term


def _opened(latest: Record | None, record: Record, position: int, area: Record) -> Record:
    data = record.get("data") or {}
    signed = bool(data.get("acceptance_signed"))
    occurred = utc(record["occurred_at"])
    return {
        "area_id": area["key"],
        "service_line": str(data.get("service_line")),
        "term_no": 1 if latest is None else latest["term_no"] + 1,
        "property_id": record.get("property_id") or area["property_id"],
        "responsible_id": data.get("responsible_id"),
        "deputy_id": data.get("deputy_id"),
        "valid_from": utc_or_none(data.get("effective_from")) or occurred,
        "valid_to": None,
        "accepted": signed,
        "assigned_by": record["actor"]["id"],
        "assigned_event_id": record["event_id"],
        "assigned_position": position,
        "assigned_recorded_at": utc(record["recorded_at"]),
        "accepted_event_id": record["event_id"] if signed else None,
        "accepted_position": position if signed else None,
        "accepted_at": occurred if signed else None,
        "released_event_id": None,
        "released_position": None,
        "release_reason": None,
        "successor_id": None,
    }
