"""Production store: the library's PostgreSQL recorder, sealing each batch under its table lock.

The library takes `LOCK TABLE … IN EXCLUSIVE MODE` before inserting, so commit order equals
notification order; sealing inside that transaction numbers leaves gap-free even though the
bigserial notification ids may have gaps after a rollback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from ledger.merkle import NodeKey, NodeReader
from ledger.seal import Leaf, Receipt, seal
from ledger.trail import EventRow, LeafRow, StoredCheckpoint, stream_key

SEAL_TABLES = (
    "CREATE TABLE IF NOT EXISTS {schema}.{leaves} ("
    "seq bigint PRIMARY KEY, originator_id uuid NOT NULL, "
    "originator_version bigint NOT NULL, leaf_hash bytea NOT NULL, "
    "UNIQUE (originator_id, originator_version))",
    "CREATE TABLE IF NOT EXISTS {schema}.{nodes} ("
    "level int NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL, PRIMARY KEY (level, idx))",
    "CREATE TABLE IF NOT EXISTS {schema}.{commands} ("
    "command_id text PRIMARY KEY, fingerprint text NOT NULL, result text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {schema}.{checkpoints} ("
    "size bigint PRIMARY KEY, root_hash bytea NOT NULL, note text NOT NULL)",
)


class PostgresSealCursor:
    """Sealing statements for PostgreSQL: one round trip per step, whatever the batch size."""

    def __init__(self, curs: Cursor[DictRow], schema: str, table: str) -> None:
        self.curs = curs
        self.leaves = SQL("{0}.{1}").format(Identifier(schema), Identifier(f"{table}_leaves"))
        self.node_table = SQL("{0}.{1}").format(Identifier(schema), Identifier(f"{table}_nodes"))
        self.commands = SQL("{0}.{1}").format(Identifier(schema), Identifier(f"{table}_commands"))

    def tree_size(self) -> int:
        self.curs.execute(SQL("SELECT COALESCE(MAX(seq), 0) AS n FROM {0}").format(self.leaves))
        row = self.curs.fetchone()
        assert row is not None
        return int(row["n"])

    def leaf_hashes_of(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], bytes]:
        self.curs.execute(
            SQL(
                "SELECT l.originator_id, l.originator_version, l.leaf_hash FROM {0} l "
                "JOIN unnest(%s::uuid[], %s::bigint[]) AS k(id, v) "
                "ON l.originator_id = k.id AND l.originator_version = k.v"
            ).format(self.leaves),
            ([UUID(k[0]) for k in keys], [k[1] for k in keys]),
        )
        return {
            (str(r["originator_id"]), int(r["originator_version"])): bytes(r["leaf_hash"])
            for r in self.curs.fetchall()
        }

    def nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        found: dict[tuple[int, int], bytes] = {}
        seqs = [idx + 1 for level, idx in keys if level == 0]
        upper = [(level, idx) for level, idx in keys if level > 0]
        if seqs:
            self.curs.execute(
                SQL("SELECT seq, leaf_hash FROM {0} WHERE seq = ANY(%s)").format(self.leaves),
                (seqs,),
            )
            found.update(
                {(0, int(r["seq"]) - 1): bytes(r["leaf_hash"]) for r in self.curs.fetchall()}
            )
        if upper:
            self.curs.execute(
                SQL(
                    "SELECT n.level, n.idx, n.hash FROM {0} n "
                    "JOIN unnest(%s::int[], %s::bigint[]) AS k(l, i) "
                    "ON n.level = k.l AND n.idx = k.i"
                ).format(self.node_table),
                ([k[0] for k in upper], [k[1] for k in upper]),
            )
            found.update(
                {(int(r["level"]), int(r["idx"])): bytes(r["hash"]) for r in self.curs.fetchall()}
            )
        return found

    def insert_leaves(self, leaves: Sequence[Leaf]) -> None:
        self.curs.execute(
            SQL(
                "INSERT INTO {0} (seq, originator_id, originator_version, leaf_hash) "
                "SELECT * FROM unnest(%s::bigint[], %s::uuid[], %s::bigint[], %s::bytea[])"
            ).format(self.leaves),
            (
                [x.seq for x in leaves],
                [x.originator_id for x in leaves],
                [x.originator_version for x in leaves],
                [x.leaf_hash for x in leaves],
            ),
        )

    def insert_nodes(self, rows: Sequence[tuple[int, int, bytes]]) -> None:
        if not rows:
            return
        self.curs.execute(
            SQL(
                "INSERT INTO {0} (level, idx, hash) "
                "SELECT * FROM unnest(%s::int[], %s::bigint[], %s::bytea[])"
            ).format(self.node_table),
            ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]),
        )

    def insert_receipt(self, receipt: Receipt) -> None:
        self.curs.execute(
            SQL("INSERT INTO {0} VALUES (%s, %s, %s)").format(self.commands),
            (receipt.command_id, receipt.fingerprint, receipt.result),
        )


class SealingPostgresRecorder(PostgresApplicationRecorder):
    """The library's recorder plus sealing and idempotency receipts in the same transaction."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        names = {
            "schema": Identifier(self.datastore.schema),
            "leaves": Identifier(f"{events_table_name}_leaves"),
            "nodes": Identifier(f"{events_table_name}_nodes"),
            "commands": Identifier(f"{events_table_name}_commands"),
            "checkpoints": Identifier(f"{events_table_name}_checkpoints"),
        }
        self.sql_create_statements.extend(SQL(s).format(**names) for s in SEAL_TABLES)

    def find_receipt(self, command_id: str) -> Receipt | None:
        statement = SQL("SELECT * FROM {0}.{1} WHERE command_id = %s").format(
            Identifier(self.datastore.schema), Identifier(f"{self.events_table_name}_commands")
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (command_id,))
            row = curs.fetchone()
        if row is None:
            return None
        return Receipt(row["command_id"], row["fingerprint"], row["result"])

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        receipt: Receipt | None = kwargs.get("receipt")
        cursor = PostgresSealCursor(curs, self.datastore.schema, self.events_table_name)
        seal(cursor, stored_events, receipt)
        return notification_ids

    # -- the read side of the log (ledger.trail.SealedLog) --------------------------------

    def _table(self, suffix: str = "") -> Composed:
        return SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(f"{self.events_table_name}{suffix}")
        )

    def sealed_size(self) -> int:
        """The largest sealed seq."""
        with self.datastore.transaction(commit=False) as curs:
            return PostgresSealCursor(
                curs, self.datastore.schema, self.events_table_name
            ).tree_size()

    def node_reader(self) -> NodeReader:
        """Stored hashes, each batch read in its own transaction."""
        return _PostgresNodeReader(self)

    def iter_events(self, after_position: int, limit: int) -> list[EventRow]:
        """A page of events after ``after_position``, in notification_id (commit) order."""
        statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {0} "
            "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(self._table())
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (after_position, limit))
            return [
                EventRow(
                    int(r["notification_id"]),
                    stream_key(r["originator_id"]),
                    int(r["originator_version"]),
                    str(r["topic"]),
                    bytes(r["state"]),
                )
                for r in curs.fetchall()
            ]

    def iter_leaves(self, after_seq: int, limit: int) -> list[LeafRow]:
        """A page of leaves after ``after_seq``."""
        statement = SQL(
            "SELECT seq, originator_id, originator_version, leaf_hash FROM {0} "
            "WHERE seq > %s ORDER BY seq LIMIT %s"
        ).format(self._table("_leaves"))
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (after_seq, limit))
            return [_leaf_row(r) for r in curs.fetchall()]

    def event_exists(self, originator_id: str, originator_version: int) -> bool:
        """Whether this stream version has an event row."""
        statement = SQL(
            "SELECT 1 AS found FROM {0} WHERE originator_id = %s AND originator_version = %s"
        ).format(self._table())
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (_uuid_or_text(originator_id), originator_version))
            return curs.fetchone() is not None

    def leaf_of(self, originator_id: str, originator_version: int) -> LeafRow | None:
        """The leaf sealing this stream version."""
        key = _uuid_or_text(originator_id)
        if not isinstance(key, UUID):
            return None  # the leaves table keys streams by uuid
        statement = SQL(
            "SELECT seq, originator_id, originator_version, leaf_hash FROM {0} "
            "WHERE originator_id = %s AND originator_version = %s"
        ).format(self._table("_leaves"))
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (key, originator_version))
            row = curs.fetchone()
        return None if row is None else _leaf_row(row)

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        """The largest signed checkpoint."""
        statement = SQL("SELECT size, root_hash, note FROM {0} ORDER BY size DESC LIMIT 1")
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement.format(self._table("_checkpoints")))
            row = curs.fetchone()
        return None if row is None else _checkpoint_row(row)

    def all_checkpoints(self) -> list[StoredCheckpoint]:
        """Every signed checkpoint, smallest first."""
        statement = SQL("SELECT size, root_hash, note FROM {0} ORDER BY size")
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement.format(self._table("_checkpoints")))
            return [_checkpoint_row(r) for r in curs.fetchall()]

    def record_checkpoint(self, size: int, root: bytes, note: str) -> StoredCheckpoint:
        """Insert unless that size exists; return what is stored for the size."""
        table = self._table("_checkpoints")
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(
                    "INSERT INTO {0} (size, root_hash, note) VALUES (%s, %s, %s) "
                    "ON CONFLICT (size) DO NOTHING"
                ).format(table),
                (size, root, note),
            )
            curs.execute(
                SQL("SELECT size, root_hash, note FROM {0} WHERE size = %s").format(table), (size,)
            )
            row = curs.fetchone()
        assert row is not None
        return _checkpoint_row(row)


def _uuid_or_text(originator_id: str) -> UUID | str:
    try:
        return UUID(originator_id)
    except ValueError:
        return originator_id


def _leaf_row(row: DictRow) -> LeafRow:
    return LeafRow(
        int(row["seq"]),
        stream_key(row["originator_id"]),
        int(row["originator_version"]),
        bytes(row["leaf_hash"]),
    )


def _checkpoint_row(row: DictRow) -> StoredCheckpoint:
    return StoredCheckpoint(int(row["size"]), bytes(row["root_hash"]), str(row["note"]))


class _PostgresNodeReader:
    """A NodeReader over the recorder's tables; one read transaction per batch."""

    def __init__(self, recorder: SealingPostgresRecorder) -> None:
        self.recorder = recorder

    def nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        recorder = self.recorder
        with recorder.datastore.transaction(commit=False) as curs:
            cursor = PostgresSealCursor(curs, recorder.datastore.schema, recorder.events_table_name)
            return cursor.nodes(keys)
