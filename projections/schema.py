"""The read side's schema: one MetaData, the projector's positions, and what views share.

Each view module declares its own tables on `metadata` (so adding a view is one module) and
uses the helpers here to write a page set-based: `insert_rows` / `update_rows` run one
executemany each, `StreamKeys` remembers the readable key (task_no, area_id …) that only a
stream's first event carries. Imports SQLAlchemy only: no ledger code, no web framework.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Dialect,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData()

Record = dict[str, Any]
"""One event's public record, decoded once per page (see ledger/record.py)."""


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite stores it as fixed-width UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime bound to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


positions = Table(
    "projection_positions",
    metadata,
    Column("view", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("fingerprint", String(64), nullable=False),
)
"""Per view: the last notification id applied, and the digest of the view's table DDL."""


@lru_cache(maxsize=1 << 16)
def utc(text: str) -> datetime:
    """An RFC 3339 time from a record, as an aware UTC datetime.

    Cached: every view parses the same event's times, so a page parses each string once
    (datetimes are immutable, so sharing them between views is safe).
    """
    return datetime.fromisoformat(text).astimezone(UTC)


def utc_or_none(text: str | None) -> datetime | None:
    """An optional RFC 3339 time from a record's data."""
    return None if text is None else utc(text)


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert a page's new rows in one round trip.

    The types' own bind processors convert the values, but the per-row statement machinery is
    skipped: on PostgreSQL one COPY FROM STDIN, elsewhere one DB-API executemany of the
    compiled INSERT. Rows are picked apart and transposed by C loops
    (itemgetter, zip, map) and only the columns that need it are converted.
    """
    if not rows:
        return
    plan = _plan(table, conn.dialect)
    columns: list[Sequence[Any]] = list(zip(*map(plan.getter, rows), strict=True))
    for index, convert in plan.converters:
        columns[index] = list(map(convert, columns[index]))
    if conn.dialect.name == "postgresql":
        _copy(conn, plan.sql, zip(*columns, strict=True))
    else:
        conn.exec_driver_sql(plan.sql, list(zip(*columns, strict=True)))


def _copy(conn: Connection, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
    """PostgreSQL COPY FROM STDIN on the connection's own transaction (psycopg formats rows in
    C; the array dumping of `unnest` is pure Python and dominated a rebuild)."""
    raw: Any = conn.connection.dbapi_connection  # a psycopg 3 Connection
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


class _InsertPlan:
    """The SQL and per-column converters for inserting into one table on one dialect."""

    def __init__(self, table: Table, dialect: Dialect) -> None:
        preparer = dialect.identifier_preparer
        names = [column.name for column in table.columns]
        target = f"{preparer.format_table(table)} ({', '.join(map(preparer.quote, names))})"
        if dialect.name == "postgresql":
            self.sql = f"COPY {target} FROM STDIN"
        else:
            self.sql = str(insert(table).compile(dialect=dialect, column_keys=names))
        converters = [_converter(column, dialect) for column in table.columns]
        self.converters = [(i, convert) for i, convert in enumerate(converters) if convert]
        self.getter: Callable[[Mapping[str, Any]], tuple[Any, ...]] = _getter(names)


def _getter(names: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A row → values-in-column-order function (a tuple even for a one-column table)."""
    if len(names) == 1:
        name = names[0]
        return lambda row: (row[name],)
    return itemgetter(*names)


def _converter(column: Column[Any], dialect: Dialect) -> Any:
    if isinstance(column.type, UtcDateTime):
        return _sqlite_utc_text if dialect.name == "sqlite" else _utc_instant
    return column.type.dialect_impl(dialect).bind_processor(dialect)


@lru_cache(maxsize=1 << 16)
def _utc_instant(value: datetime | None) -> datetime | None:
    """UtcDateTime's bind processing elsewhere (PostgreSQL), cached like `_sqlite_utc_text`."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime bound to a UTC column")
    return value.astimezone(UTC)


@lru_cache(maxsize=1 << 16)
def _sqlite_utc_text(value: datetime | None) -> str | None:
    """UtcDateTime's bind processing on SQLite, cached (the hot path of a rebuild: several views
    store the same event's times): the fixed-width text SQLAlchemy's DATETIME format writes.
    Equal instants share a cache entry, which is right: the text is the UTC instant."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime bound to a UTC column")
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


_plans: dict[tuple[int, str], _InsertPlan] = {}


def _plan(table: Table, dialect: Dialect) -> _InsertPlan:
    key = (id(table), dialect.name)
    if key not in _plans:
        _plans[key] = _InsertPlan(table, dialect)
    return _plans[key]


def update_rows(
    conn: Connection, table: Table, keys: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """One executemany UPDATE by primary key; every row sets the same columns."""
    if not rows:
        return
    values = [name for name in rows[0] if name not in keys]
    statement = (
        update(table)
        .where(*(table.c[key] == bindparam(f"k_{key}") for key in keys))
        .values({name: bindparam(f"v_{name}") for name in values})
    )
    params = [
        {**{f"k_{k}": row[k] for k in keys}, **{f"v_{v}": row[v] for v in values}} for row in rows
    ]
    conn.execute(statement, params)


def stream_keys_table(name: str) -> Table:
    """A view's own map from stream id to the key its first event named."""
    return Table(
        name,
        metadata,
        Column("stream_id", String(36), primary_key=True),
        Column("stream_type", String(60), nullable=False),
        Column("key", String(200), nullable=False),
        Column("property_id", String(100)),
        Column("subject_id", String(100)),
    )


class StreamKeys:
    """Resolves stream ids to readable keys for the stream types a view follows.

    `key_fields` maps a stream type to the data field holding its key; `subject_fields`
    optionally names a person field worth remembering too (a penalty's subject).
    """

    def __init__(
        self,
        table: Table,
        key_fields: Mapping[str, str],
        subject_fields: Mapping[str, str] | None = None,
    ) -> None:
        self.table = table
        self.key_fields = dict(key_fields)
        self.subject_fields = dict(subject_fields or {})

    def resolve(self, conn: Connection, records: Iterable[Record]) -> dict[str, Record]:
        """Keys of every followed stream in `records`; learns new streams as it goes."""
        known: dict[str, Record] = {}
        wanted: set[str] = set()
        new_rows: list[Record] = []
        for record in records:
            stream_type = record["stream_type"]
            if stream_type not in self.key_fields:
                continue
            sid = record["stream_id"]
            key = (record.get("data") or {}).get(self.key_fields[stream_type])
            if sid not in known and key is not None and record["stream_version"] == 1:
                known[sid] = self._row(record, str(key))
                new_rows.append(known[sid])
            elif sid not in known:
                wanted.add(sid)
        wanted -= known.keys()
        if wanted:
            found = conn.execute(select(self.table).where(self.table.c.stream_id.in_(wanted)))
            known.update({row.stream_id: dict(row._mapping) for row in found})
        insert_rows(conn, self.table, new_rows)
        return known

    def _row(self, record: Record, key: str) -> Record:
        data = record.get("data") or {}
        subject_field = self.subject_fields.get(record["stream_type"])
        return {
            "stream_id": record["stream_id"],
            "stream_type": record["stream_type"],
            "key": key,
            "property_id": record.get("property_id"),
            "subject_id": data.get(subject_field) if subject_field else None,
        }
