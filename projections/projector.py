"""The batched, exactly-once catch-up projector (reference/eventsourcing.md §2.6, §4.4).

It reads the log in pages of notifications, decodes each record once, hands the page to every
view, and writes the view rows AND the views' positions in ONE transaction per page: a crash
anywhere rolls both back, so a restart resumes from the stored position with nothing lost and
nothing counted twice. Positions are the store's notification ids (never assumed gap-free).
Concurrency: each page transaction first locks the views' position rows (`SELECT … FOR UPDATE`
on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), so two projector processes never apply the same
page. A failing view raises and leaves every position where it was (no skipping).
Imports the ledger's application type only for its recorder; views never read aggregates.
"""

from __future__ import annotations

import gc
import hashlib
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol
from uuid import UUID

from eventsourcing.application import Application
from sqlalchemy import Connection, Engine, Index, Table, delete, insert, select, text, update
from sqlalchemy.schema import CreateIndex, CreateTable, DropIndex

from projections.database import immediate
from projections.page_reader import read_page, state_reader
from projections.schema import Record, metadata, positions

PAGE_SIZE = 1000
REBUILD_PAGE_SIZE = 10_000
"""A rebuild replays in larger pages: fewer commits (and WAL checkpoints) and lookups; catch-up
keeps small pages so a live projector holds the write lock briefly."""
RETIRED = {"stream_index": ("stream_index",)}
"""Views merged into others (name → tables): an upgraded database drops them once."""
SCHEMA_LOCK = 0x6C76_7965  # "lvye": serialises table creation between PostgreSQL processes

_IN_PROCESS = threading.RLock()
"""API threads and the CLI in one process share SQLite connections; one catch-up at a time."""


class View(Protocol):
    """A read model: its tables and a set-based `apply` for a page of records.

    `apply` receives the records after the view's position, in log order, with their
    notification ids; it must not commit, must not mutate the records, and must be a pure
    function of the event stream (no clock, no aggregates, no other view's tables).
    """

    @property
    def name(self) -> str: ...

    @property
    def tables(self) -> Sequence[Table]: ...

    def apply(self, conn: Connection, records: Sequence[Record], ids: Sequence[int]) -> None: ...


Progress = Callable[[int, int], None]
"""Told (position reached, log head) after each page a long catch-up commits."""


class UnknownView(ValueError):
    """A view name that no registered view has."""


class Projector:
    """Keeps a set of views caught up with one application's log."""

    def __init__(
        self,
        app: Application[UUID],
        engine: Engine,
        views: Sequence[View] | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        if views is None:
            from projections.views import all_views

            views = all_views()
        names = [view.name for view in views]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate view names in {names}")
        self.app = app
        self.engine = engine
        self.views = tuple(views)
        self.page_size = page_size
        self._select = state_reader(app)
        self.ensure_schema()

    # -- setup ---------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create missing views; a view whose DDL changed (or lost its position) starts over."""
        with _IN_PROCESS, immediate(self.engine.connect()) as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
            metadata.create_all(conn, tables=[positions])
            query = select(positions.c.view, positions.c.fingerprint)
            stored = {row.view: row.fingerprint for row in conn.execute(query)}
            _retire(conn, [name for name in RETIRED if name in stored])
            for view in self.views:
                digest = fingerprint(view, conn)
                if view.name not in stored:
                    row = {"view": view.name, "position": 0, "fingerprint": digest}
                    conn.execute(insert(positions), row)
                    _reset(conn, view, digest)  # rows without a position cannot be trusted
                elif stored[view.name] == deferred(digest):
                    _finish(conn, view, digest)  # a rebuild that died: rows good, add indexes
                elif stored[view.name] != digest:
                    _reset(conn, view, digest)

    # -- catching up ---------------------------------------------------------------------

    def catch_up(
        self,
        stop: int | None = None,
        page_size: int | None = None,
        bulk: bool = False,
        progress: Progress | None = None,
    ) -> int:
        """Apply pages until every view is current, or has applied every event up to
        position `stop` and none after it; returns events read. `progress` hears, after each
        committed page, the position reached and the log's head."""
        total = 0
        while True:
            read, last = self.step(page_size, bulk, stop)
            total += read
            if progress is not None and read:
                progress(last, self.head())
            if read == 0 or (stop is not None and last >= stop):
                return total

    def step(
        self, page_size: int | None = None, bulk: bool = False, stop: int | None = None
    ) -> tuple[int, int]:
        """Apply one page (none of it after position `stop`) in one transaction; returns
        (events read, last position).

        `bulk` (a rebuild) lets PostgreSQL acknowledge the commit before its WAL is flushed: a
        crash may lose the last few pages, but rows and positions are lost together (one
        transaction), so the view just resumes from an earlier position. SQLite stays at
        synchronous=NORMAL: OFF could corrupt the shared file, events included.
        """
        with _IN_PROCESS, immediate(self.engine.connect()) as conn, conn.begin():
            if bulk and conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            at = self._lock_positions(conn)
            start = min(at.values(), default=0)
            ids, records = read_page(self._select, start, page_size or self.page_size)
            if stop is not None and ids and ids[-1] > stop:
                kept = bisect_right(ids, stop)
                ids, records = ids[:kept], records[:kept]
            if not ids:
                return 0, start
            moved = []
            for view in self.views:
                first = bisect_right(ids, at[view.name])
                if first < len(ids):
                    view.apply(conn, records[first:], ids[first:])
                    moved.append(view.name)
            conn.execute(
                update(positions).where(positions.c.view.in_(moved)).values(position=ids[-1])
            )
            return len(ids), ids[-1]

    def rebuild(
        self, names: Sequence[str] | None = None, progress: Progress | None = None
    ) -> int:
        """Drop and recreate the named views (all by default) and replay them from event 1.

        The views' secondary indexes are built once after the bulk load (a sort) rather than
        row by row. Meanwhile the position row's fingerprint is `deferred(digest)`, so a
        rebuild that dies half-way is finished by the next `ensure_schema`: the rows up to the
        stored position are right (pages commit with their positions), only the indexes are
        missing, and they are created before anything else runs.
        """
        chosen = self.select(names)
        with _IN_PROCESS, immediate(self.engine.connect()) as conn, conn.begin():
            self._lock_positions(conn)
            for view in chosen:
                _reset(conn, view, fingerprint(view, conn), defer_indexes=True)
        with _collector_paused():
            page_size = max(self.page_size, REBUILD_PAGE_SIZE)
            events = self.catch_up(page_size=page_size, bulk=True, progress=progress)
        with _IN_PROCESS, immediate(self.engine.connect()) as conn, conn.begin():
            self._lock_positions(conn)
            query = select(positions.c.view, positions.c.fingerprint)
            stored = {row.view: row.fingerprint for row in conn.execute(query)}
            for view in chosen:
                digest = fingerprint(view, conn)
                if stored.get(view.name) == deferred(digest):
                    _finish(conn, view, digest)
        return events

    def run_forever(
        self, poll_interval: float = 1.0, stopped: threading.Event | None = None
    ) -> None:
        """Follow the log until `stopped` is set; any error propagates at its position."""
        stopped = stopped or threading.Event()
        while not stopped.is_set():
            if self.catch_up() == 0:
                stopped.wait(poll_interval)

    # -- introspection -------------------------------------------------------------------

    def head(self) -> int:
        """The log's last notification id (0 when empty): where catching up ends for now."""
        return int(self.app.recorder.max_notification_id() or 0)

    def positions(self) -> dict[str, int]:
        """Each view's last applied notification id."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(positions.c.view, positions.c.position))
            current = {row.view: row.position for row in rows}
        return {view.name: int(current.get(view.name, 0)) for view in self.views}

    def select(self, names: Sequence[str] | None) -> tuple[View, ...]:
        """The views with these names, in registration order; all when `names` is empty."""
        if not names:
            return self.views
        known = {view.name for view in self.views}
        unknown = sorted(set(names) - known)
        if unknown:
            have = ", ".join(sorted(known))
            raise UnknownView(f"no view named {', '.join(unknown)} (have {have})")
        return tuple(view for view in self.views if view.name in names)

    def _lock_positions(self, conn: Connection) -> dict[str, int]:
        names = [view.name for view in self.views]
        query = (
            select(positions.c.view, positions.c.position)
            .where(positions.c.view.in_(names))
            .order_by(positions.c.view)
            .with_for_update()
        )
        found = {name: int(position) for name, position in conn.execute(query)}
        missing = set(names) - found.keys()
        if missing:
            raise RuntimeError(f"views {sorted(missing)} have no position row; call ensure_schema")
        return found


def catch_up(
    app: Application[UUID], engine: Engine, views: Sequence[View] | None = None
) -> int:
    """Bring the views up to date after a command (embedded use); returns events applied."""
    return Projector(app, engine, views).catch_up()


def fingerprint(view: View, conn: Connection) -> str:
    """A digest of the view's DDL on this dialect: a changed table forces a rebuild."""
    statements = []
    for table in sorted(view.tables, key=lambda t: t.name):
        statements.append(str(CreateTable(table).compile(dialect=conn.dialect)))
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            statements.append(str(CreateIndex(index).compile(dialect=conn.dialect)))
    return hashlib.sha256("\n".join(statements).encode()).hexdigest()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic GC while a rebuild allocates pages of acyclic records: the collector's full
    passes over millions of young dicts cost about a fifth of the rebuild."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def deferred(digest: str) -> str:
    """The fingerprint stored while a rebuild has not yet created the view's deferred indexes."""
    return hashlib.sha256(f"deferred indexes:{digest}".encode()).hexdigest()


def _deferrable(view: View) -> list[Index]:
    """The secondary indexes a bulk load can do without (not those the view's writes query)."""
    keep = set(getattr(view, "write_indexes", ()))
    return [
        index
        for table in view.tables
        for index in sorted(table.indexes, key=lambda i: str(i.name))
        if index.name not in keep
    ]


def _reset(conn: Connection, view: View, digest: str, defer_indexes: bool = False) -> None:
    """Drop and recreate a view's tables and put its position back to the start."""
    metadata.drop_all(conn, tables=list(view.tables))
    metadata.create_all(conn, tables=list(view.tables))
    if defer_indexes:
        for index in _deferrable(view):
            conn.execute(DropIndex(index))
        digest = deferred(digest)
    conn.execute(
        update(positions)
        .where(positions.c.view == view.name)
        .values(position=0, fingerprint=digest)
    )


def _retire(conn: Connection, names: Sequence[str]) -> None:
    """Drop retired views' tables and positions (their rows live on in another view)."""
    quote = conn.dialect.identifier_preparer.quote
    for name in names:
        for table in RETIRED[name]:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {quote(table)}")
        conn.execute(delete(positions).where(positions.c.view == name))


def _finish(conn: Connection, view: View, digest: str) -> None:
    """Create the indexes a rebuild deferred and record the view's real fingerprint."""
    for index in _deferrable(view):
        conn.execute(CreateIndex(index, if_not_exists=True))
    conn.execute(
        update(positions).where(positions.c.view == view.name).values(fingerprint=digest)
    )

