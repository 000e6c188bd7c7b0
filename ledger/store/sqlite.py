"""The embedded store: the library's SQLite recorder, sealing each batch in its transaction."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, InterfaceError, StoredEvent
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
)
from eventsourcing.sqlite import SQLiteFactory as LibrarySQLiteFactory
from eventsourcing.utils import Environment, EnvType

from ledger.merkle import NodeKey, NodeReader, NodeRow, frontier_keys, frontier_rows
from ledger.personal import KeySlot, VaultEntry, VaultWrites, guard_keys
from ledger.seal import NO_TIP, AppendState, Leaf, Receipt, TreeTip, seal
from ledger.subtree_roots import completing_seq, nodes_from_rows, roots_of
from ledger.trail import EventRow, LeafRow, StoredCheckpoint, stream_key

SEAL_TABLES = (
    # No index on (originator_id, originator_version): the events table's own key finds a
    # stream version's row, whose rowid is its leaf's seq (LEAF_OF_EVENT). Inner nodes live
    # in `roots` (ledger/subtree_roots.py). Both save a b-tree page per commit.
    "CREATE TABLE IF NOT EXISTS {t}_leaves ("
    "seq INTEGER PRIMARY KEY, originator_id TEXT NOT NULL, "
    "originator_version INTEGER NOT NULL, leaf_hash BLOB NOT NULL, "
    "roots BLOB NOT NULL DEFAULT x'')",
    "CREATE TABLE IF NOT EXISTS {t}_commands ("
    "command_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, result TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {t}_checkpoints ("
    "size INTEGER PRIMARY KEY, root_hash BLOB NOT NULL, note TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {t}_subject_keys ("
    "subject_id TEXT PRIMARY KEY, key BLOB) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS {t}_personal ("
    "subject_id TEXT NOT NULL, digest TEXT NOT NULL, ciphertext BLOB NOT NULL, "
    "PRIMARY KEY (subject_id, digest)) WITHOUT ROWID",
)
LEAF_OF_EVENT = (
    "SELECT l.seq, l.originator_id, l.originator_version, l.leaf_hash "
    "FROM {t} AS e LEFT JOIN {t}_leaves AS l ON l.seq = e.rowid "
    "AND l.originator_id = e.originator_id AND l.originator_version = e.originator_version "
    "WHERE e.originator_id = ? AND e.originator_version = ?"
)
"""A stream version's leaf through the events table's key: SQLite numbers rows in insert
order and the seal numbers leaves in the same order in the same transaction, so an event's
rowid is its leaf's seq. The join checks the leaf names the same stream version; where it
does not (rows deleted, moved or inserted behind the ledger's back), LEAF_SCAN decides. No
row at all: the event does not exist (the leaf of a deleted event needs LEAF_SCAN too)."""
LEAF_SCAN = (
    "SELECT seq, originator_id, originator_version, leaf_hash FROM {t}_leaves "
    "WHERE originator_id = ? AND originator_version = ?"
)
VAULT_READ = (
    "SELECT k.subject_id IS NOT NULL, k.key, p.ciphertext FROM (SELECT ? AS s) AS q "
    "LEFT JOIN {t}_subject_keys AS k ON k.subject_id = q.s "
    "LEFT JOIN {t}_personal AS p ON p.subject_id = q.s AND p.digest = ?"
)


KEYS_PER_STATEMENT = 400
"""Keys bound into one statement, well below SQLite's variable limit."""
STATEMENT_CACHE = 128
"""Prepared statements kept per connection: an append runs about eight distinct ones."""


class StatementCachingPool(SQLiteConnectionPool):
    """The library's pool, but connections keep STATEMENT_CACHE prepared statements.

    The library connects with `cached_statements=True`, a cache of ONE statement, so every
    append re-prepares its BEGIN, INSERT and each sealing statement. Otherwise the same
    connection settings as the library's (`_create_connection` there).
    """

    def _create_connection(self) -> SQLiteConnection:
        try:
            c = sqlite3.connect(
                database=self.db_name,
                uri=True,
                check_same_thread=False,
                isolation_level=None,
                cached_statements=STATEMENT_CACHE,
                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
            )
        except (sqlite3.Error, TypeError) as e:
            raise InterfaceError(e) from e
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            mode = c.execute("PRAGMA journal_mode;").fetchone()[0]
            if mode.lower() != "wal":
                c.execute("PRAGMA journal_mode=WAL;")
                self.journal_mode_was_changed_to_wal = True
            self.is_journal_mode_wal = True
        c.row_factory = sqlite3.Row
        return SQLiteConnection(sqlite_conn=c, max_age=self.max_age)


class SQLiteFactory(LibrarySQLiteFactory):
    """The library's SQLite factory whose datastore pools statement-caching connections.

    Every recorder on it benefits, the library's plain one too (the sealing-overhead
    benchmark compares both on this datastore).
    """

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        pool = self.datastore.pool
        self.datastore.pool = StatementCachingPool(
            db_name=pool.db_name,
            lock_timeout=pool.lock_timeout,
            pool_size=pool.pool_size,
            max_overflow=pool.max_overflow,
            pool_timeout=pool.pool_timeout,
            max_age=pool.max_age,
            pre_ping=pool.pre_ping,
        )
        pool.close()  # the library's, which never opened a connection


_NO_WAIT: ContextVar[bool] = ContextVar("lvyue_sqlite_no_wait", default=False)


@contextmanager
def without_waiting() -> Iterator[None]:
    """Appends in this block never wait for another connection's write lock: one that is
    held fails the append at once (OperationalError, nothing written) instead of waiting out
    the busy timeout. For a caller that must not block, e.g. an event loop (api.command)."""
    token = _NO_WAIT.set(True)
    try:
        yield
    finally:
        _NO_WAIT.reset(token)


def waiting_allowed() -> bool:
    """False inside `without_waiting`: other writes on the same SQLite file should not wait
    for its write lock either (the API's denial log does the same)."""
    return not _NO_WAIT.get()


@contextmanager
def busy_timeout_off(execute: Callable[[str], Any], restore_ms: int) -> Iterator[None]:
    """On the connection `execute` runs on, statements of the block fail at once on a lock
    another connection holds (busy timeout 0); afterwards the timeout is `restore_ms`."""
    execute("PRAGMA busy_timeout = 0")
    try:
        yield
    finally:
        execute(f"PRAGMA busy_timeout = {int(restore_ms)}")


def _hex(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


class SQLiteSealCursor:
    """Sealing statements for SQLite, on the recorder's open transaction."""

    def __init__(self, c: SQLiteCursor, table: str, tip: TreeTip = NO_TIP) -> None:
        self.c = c
        self.t = table
        self.tip = tip

    def tree_size(self) -> int:
        self.c.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {self.t}_leaves")
        return int(self.c.fetchone()[0])

    def append_state(self, previous: Sequence[tuple[str, int]]) -> AppendState:
        """The size and last leaf, then the frontier unless `tip` holds it (one short
        statement per node: repeated, each is a cached prepared statement), then the
        previous leaves."""
        self.c.execute(f"SELECT seq, leaf_hash FROM {self.t}_leaves ORDER BY seq DESC LIMIT 1")
        row = self.c.fetchone()
        size, last = (0, None) if row is None else (int(row[0]), bytes(row[1]))
        if (size, last) == (self.tip.size, self.tip.last):
            frontier = self.tip.frontier
        else:
            frontier = frontier_rows(size, self.nodes(frontier_keys(size)))
        return AppendState(size, self.leaf_hashes_of(previous), frontier)

    def leaf_hashes_of(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], bytes]:
        """The leaves the next events link to: their event rows exist (a missing one links
        nothing, and is not searched for among the leaves)."""
        found: dict[tuple[str, int], bytes] = {}
        for stream, version in keys:
            row = self.leaf_of(stream, version, of_deleted_events=False)
            if row is not None:
                found[(stream, version)] = row.leaf_hash
        return found

    def leaf_of(
        self, stream: str, version: int, *, of_deleted_events: bool = True
    ) -> LeafRow | None:
        """The leaf sealing this stream version: LEAF_OF_EVENT, and LEAF_SCAN where the
        event is not where its leaf is or, with `of_deleted_events`, has no row."""
        key = (_stored_id(stream), version)
        self.c.execute(LEAF_OF_EVENT.format(t=self.t), key)
        row = self.c.fetchone()
        if row is not None and row[0] is not None:
            return _leaf_row(row)
        if row is None and not of_deleted_events:
            return None
        self.c.execute(LEAF_SCAN.format(t=self.t), key)
        row = self.c.fetchone()
        return None if row is None else _leaf_row(row)

    def nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        rows: dict[int, tuple[bytes, bytes]] = {}
        for seq in sorted({completing_seq(level, idx) for level, idx in keys}):
            self.c.execute(f"SELECT leaf_hash, roots FROM {self.t}_leaves WHERE seq=?", (seq,))
            row = self.c.fetchone()
            if row is not None:
                rows[seq] = (bytes(row[0]), bytes(row[1]))
        return nodes_from_rows(keys, rows)

    def insert_seal(self, leaves: Sequence[Leaf], nodes: Sequence[NodeRow]) -> None:
        roots = roots_of(nodes)
        rows = [
            (x.seq, _hex(x.originator_id), x.originator_version, x.leaf_hash, roots.get(x.seq, b""))
            for x in leaves
        ]
        statement = f"INSERT INTO {self.t}_leaves VALUES (?,?,?,?,?)"
        if len(rows) == 1:  # a single command's event: execute costs less than executemany
            self.c.execute(statement, rows[0])
        else:
            self.c.executemany(statement, rows)

    def insert_receipt(self, receipt: Receipt) -> None:
        self.c.execute(
            f"INSERT INTO {self.t}_commands VALUES (?,?,?)",
            (receipt.command_id, receipt.fingerprint, receipt.result),
        )


def _stored_id(originator_id: str) -> str:
    """The events table's spelling of a stream id: 32 hex digits for a UUID."""
    return UUID(originator_id).hex if _is_uuid(originator_id) else originator_id


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def write_vault(c: SQLiteCursor, table: str, writes: VaultWrites) -> None:
    """Apply one command's vault changes on its transaction; deleted bytes are zeroed.

    `secure_delete` makes SQLite overwrite deleted cells and freed pages with zeros, so neither
    an erased key nor a page rebuilt while balancing the vault's b-trees leaves old bytes behind.
    A ciphertext is only stored under a live key: a key erased by a racing command fails it.
    """
    c.execute("PRAGMA secure_delete = ON")
    c.executemany(f"INSERT INTO {table}_subject_keys VALUES (?,?)", writes.new_keys.items())
    for value in writes.values:
        c.execute(
            f"INSERT INTO {table}_personal SELECT ?,?,? WHERE EXISTS "
            f"(SELECT 1 FROM {table}_subject_keys WHERE subject_id=? AND key IS NOT NULL)",
            (value.subject, value.digest, value.ciphertext, value.subject),
        )
        if c.sqlite_cursor.rowcount != 1:
            raise IntegrityError(f"{value.subject} has no live key (erased meanwhile?)")
    guard_keys(SQLiteKeyRows(c, table), writes)
    if writes.erase is not None:
        c.execute(f"DELETE FROM {table}_personal WHERE subject_id=?", (writes.erase,))
        c.execute(f"DELETE FROM {table}_subject_keys WHERE subject_id=?", (writes.erase,))
        c.execute(f"INSERT INTO {table}_subject_keys VALUES (?, NULL)", (writes.erase,))


class SQLiteKeyRows:
    """The subject-key table on a write transaction (ledger.personal.KeyRows, for guard_keys)."""

    def __init__(self, c: SQLiteCursor, table: str) -> None:
        self.c = c
        self.table = f"{table}_subject_keys"

    def key_of(self, subject: str) -> bytes | None:
        self.c.execute(f"SELECT key FROM {self.table} WHERE subject_id=?", (subject,))
        row = self.c.fetchone()
        return None if row is None or row[0] is None else bytes(row[0])

    def live_keys(self) -> list[tuple[str, bytes]]:
        self.c.execute(
            f"SELECT subject_id, key FROM {self.table} WHERE key IS NOT NULL ORDER BY subject_id"
        )
        return [(row[0], bytes(row[1])) for row in self.c.fetchall()]

    def replace_keys(self, rows: Sequence[tuple[str, bytes]]) -> None:
        self.c.executemany(
            f"INSERT INTO {self.table} VALUES (?,?) "
            "ON CONFLICT (subject_id) DO UPDATE SET key = excluded.key",
            rows,
        )


class SealingSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's recorder plus sealing and idempotency receipts in the same transaction."""

    def __init__(
        self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name)
        self._tip = NO_TIP  # the tree as of this recorder's last committed append
        self._append = threading.local()  # this thread's tip after its uncommitted append

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's insert; once it committed, remember the tree (TreeTip)."""
        self._append.after = None
        ids = super().insert_events(stored_events, **kwargs)
        committed: TreeTip | None = self._append.after
        if committed is not None:
            self._tip = committed
        return ids

    def construct_create_table_statements(self) -> list[str]:
        tables = [sql.format(t=self.events_table_name) for sql in SEAL_TABLES]
        return [*super().construct_create_table_statements(), *tables]

    def find_receipt(self, command_id: str) -> Receipt | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT * FROM {self.events_table_name}_commands WHERE command_id=?", (command_id,)
            )
            row = c.fetchone()
        return None if row is None else Receipt(row[0], row[1], row[2])

    def find_receipts(self, command_ids: Sequence[str]) -> dict[str, Receipt]:
        """The stored receipts among `command_ids`, in one read transaction."""
        found: dict[str, Receipt] = {}
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(command_ids), KEYS_PER_STATEMENT):
                chunk = command_ids[start : start + KEYS_PER_STATEMENT]
                c.execute(
                    f"SELECT * FROM {self.events_table_name}_commands "
                    f"WHERE command_id IN ({','.join(['?'] * len(chunk))})",
                    list(chunk),
                )
                found.update({r[0]: Receipt(r[0], r[1], r[2]) for r in c.fetchall()})
        return found

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if waiting_allowed():
            return self._insert_sealed(c, stored_events, **kwargs)
        with busy_timeout_off(c.execute, self._busy_timeout_ms()):  # the first INSERT takes
            return self._insert_sealed(c, stored_events, **kwargs)  # the write lock, or fails

    def _busy_timeout_ms(self) -> int:
        seconds = self.datastore.pool.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT
        return int(seconds * 1000)

    def _insert_sealed(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        receipt = kwargs.get("receipt")
        if stored_events or receipt is not None:
            cursor = SQLiteSealCursor(c, self.events_table_name, self._tip)
            self._append.after = seal(cursor, stored_events, receipt).after
        writes: VaultWrites | None = kwargs.get("vault")
        if writes:
            write_vault(c, self.events_table_name, writes)
        return notification_ids

    # -- the personal-data vault (ledger.personal.Vault) ----------------------------------

    def read_vault(self, subject: str, digest: str | None) -> VaultEntry:
        """A subject's key slot and one ciphertext, in one read transaction."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(VAULT_READ.format(t=self.events_table_name), (subject, digest))
            has_row, key, ciphertext = c.fetchone()
        slot = KeySlot(None if key is None else bytes(key), erased=bool(has_row) and key is None)
        return VaultEntry(slot, None if ciphertext is None else bytes(ciphertext))

    def personal_count(self, subject: str) -> int:
        """How many personal values the vault holds for a subject."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT COUNT(*) FROM {self.events_table_name}_personal WHERE subject_id=?",
                (subject,),
            )
            return int(c.fetchone()[0])


    def compact_vault(self) -> bool:
        """After an erasure: move every page into the database file and empty the WAL.

        Earlier WAL frames still hold the erased key's page as it was; a TRUNCATE checkpoint
        copies the zeroed pages home and truncates the WAL to zero bytes. False when another
        process's reader kept it from completing; the next erasure (or any later call) retries.
        """
        if self.datastore.pool.is_sqlite_memory_mode:
            return True
        with self.datastore.get_connection(commit=True) as conn:
            cursor = conn.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            busy, _log, _done = cursor.fetchone()
        return not busy

    # -- the read side of the log (ledger.trail.SealedLog) --------------------------------

    def sealed_size(self) -> int:
        """The largest sealed seq."""
        with self.datastore.transaction(commit=False) as c:
            return SQLiteSealCursor(c, self.events_table_name).tree_size()

    def node_reader(self) -> NodeReader:
        """Stored hashes, each batch read in its own transaction."""
        return _SQLiteNodeReader(self)

    def iter_events(self, after_position: int, limit: int) -> list[EventRow]:
        """A page of events after rowid ``after_position``, in rowid (commit) order."""
        columns = "rowid, originator_id, originator_version, topic, state"
        return [
            EventRow(int(r[0]), stream_key(r[1]), int(r[2]), str(r[3]), bytes(r[4]))
            for r in self._events_after(columns, after_position, limit)
        ]

    def select_states(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        """(rowid, state) of a page of events after rowid ``after``: the projector's read."""
        return [(r[0], r[1]) for r in self._events_after("rowid, state", after, limit)]

    def _events_after(self, columns: str, after: int, limit: int) -> list[sqlite3.Row]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT {columns} FROM {self.events_table_name} "
                "WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (after, limit),
            )
            rows: list[sqlite3.Row] = c.fetchall()
            return rows

    def iter_leaves(self, after_seq: int, limit: int) -> list[LeafRow]:
        """A page of leaves after ``after_seq``."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT seq, originator_id, originator_version, leaf_hash "
                f"FROM {self.events_table_name}_leaves WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            )
            return [_leaf_row(r) for r in c.fetchall()]

    def event_exists(self, originator_id: str, originator_version: int) -> bool:
        """Whether this stream version has an event row."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT 1 FROM {self.events_table_name} "
                "WHERE originator_id=? AND originator_version=?",
                (_stored_id(originator_id), originator_version),
            )
            return c.fetchone() is not None

    def leaf_of(self, originator_id: str, originator_version: int) -> LeafRow | None:
        """The leaf sealing this stream version; a full scan of the leaves only where the
        event's row is not where its leaf is (a tampered store: see LEAF_OF_EVENT)."""
        with self.datastore.transaction(commit=False) as c:
            return SQLiteSealCursor(c, self.events_table_name).leaf_of(
                originator_id, originator_version
            )

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The largest signed checkpoint."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT size, root_hash, note FROM {self.events_table_name}_checkpoints "
                "ORDER BY size DESC LIMIT 1"
            )
            row = c.fetchone()
        return None if row is None else StoredCheckpoint(int(row[0]), bytes(row[1]), str(row[2]))

    def all_checkpoints(self) -> list[StoredCheckpoint]:
        """Every signed checkpoint, smallest first."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT size, root_hash, note FROM {self.events_table_name}_checkpoints "
                "ORDER BY size"
            )
            return [StoredCheckpoint(int(r[0]), bytes(r[1]), str(r[2])) for r in c.fetchall()]

    def record_checkpoint(self, size: int, root: bytes, note: str) -> StoredCheckpoint:
        """Insert unless that size exists; return what is stored for the size."""
        table = f"{self.events_table_name}_checkpoints"
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"INSERT INTO {table} VALUES (?,?,?) ON CONFLICT (size) DO NOTHING",
                (size, root, note),
            )
            c.execute(f"SELECT size, root_hash, note FROM {table} WHERE size=?", (size,))
            row = c.fetchone()
        return StoredCheckpoint(int(row[0]), bytes(row[1]), str(row[2]))


def _leaf_row(row: Any) -> LeafRow:
    return LeafRow(int(row[0]), stream_key(row[1]), int(row[2]), bytes(row[3]))


class _SQLiteNodeReader:
    """A NodeReader over the recorder's tables; one read transaction per batch."""

    def __init__(self, recorder: SealingSQLiteRecorder) -> None:
        self.recorder = recorder

    def nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        with self.recorder.datastore.transaction(commit=False) as c:
            return SQLiteSealCursor(c, self.recorder.events_table_name).nodes(keys)
