"""The embedded store: the library's SQLite recorder, sealing each batch in its transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from ledger.seal import Leaf, Receipt, seal

SEAL_TABLES = (
    "CREATE TABLE IF NOT EXISTS {t}_leaves ("
    "seq INTEGER PRIMARY KEY, originator_id TEXT NOT NULL, "
    "originator_version INTEGER NOT NULL, leaf_hash BLOB NOT NULL, "
    "UNIQUE (originator_id, originator_version))",
    "CREATE TABLE IF NOT EXISTS {t}_nodes ("
    "level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, "
    "PRIMARY KEY (level, idx)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS {t}_commands ("
    "command_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, result TEXT NOT NULL)",
)


def _hex(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


class SQLiteSealCursor:
    """Sealing statements for SQLite, on the recorder's open transaction."""

    def __init__(self, c: SQLiteCursor, table: str) -> None:
        self.c = c
        self.t = table

    def tree_size(self) -> int:
        self.c.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {self.t}_leaves")
        return int(self.c.fetchone()[0])

    def leaf_hashes_of(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], bytes]:
        found: dict[tuple[str, int], bytes] = {}
        for stream, version in keys:
            self.c.execute(
                f"SELECT leaf_hash FROM {self.t}_leaves "
                "WHERE originator_id=? AND originator_version=?",
                (UUID(stream).hex if _is_uuid(stream) else stream, version),
            )
            row = self.c.fetchone()
            if row is not None:
                found[(stream, version)] = bytes(row[0])
        return found

    def nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        found: dict[tuple[int, int], bytes] = {}
        for level, idx in keys:
            if level == 0:
                self.c.execute(f"SELECT leaf_hash FROM {self.t}_leaves WHERE seq=?", (idx + 1,))
            else:
                self.c.execute(
                    f"SELECT hash FROM {self.t}_nodes WHERE level=? AND idx=?", (level, idx)
                )
            row = self.c.fetchone()
            if row is not None:
                found[(level, idx)] = bytes(row[0])
        return found

    def insert_leaves(self, leaves: Sequence[Leaf]) -> None:
        self.c.executemany(
            f"INSERT INTO {self.t}_leaves VALUES (?,?,?,?)",
            [(x.seq, _hex(x.originator_id), x.originator_version, x.leaf_hash) for x in leaves],
        )

    def insert_nodes(self, rows: Sequence[tuple[int, int, bytes]]) -> None:
        self.c.executemany(f"INSERT INTO {self.t}_nodes VALUES (?,?,?)", rows)

    def insert_receipt(self, receipt: Receipt) -> None:
        self.c.execute(
            f"INSERT INTO {self.t}_commands VALUES (?,?,?)",
            (receipt.command_id, receipt.fingerprint, receipt.result),
        )


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


class SealingSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's recorder plus sealing and idempotency receipts in the same transaction."""

    def __init__(
        self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name)

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

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        receipt = kwargs.get("receipt")
        if stored_events or receipt is not None:
            seal(SQLiteSealCursor(c, self.events_table_name), stored_events, receipt)
        return notification_ids
