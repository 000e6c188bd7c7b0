"""Production store: the library's PostgreSQL recorder, sealing each batch under its table lock.

The library takes `LOCK TABLE … IN EXCLUSIVE MODE` before inserting, so commit order equals
notification order; sealing inside that transaction numbers leaves gap-free even though the
bigserial notification ids may have gaps after a rollback.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, LiteralString
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier, Literal

from ledger.errors import ConcurrentModification
from ledger.merkle import NodeKey, NodeReader, NodeRow, frontier_rows
from ledger.personal import (
    KeySlot,
    VaultCorrupted,
    VaultEntry,
    VaultWrites,
    guard_keys,
)
from ledger.seal import (
    NO_TIP,
    AppendState,
    Leaf,
    Receipt,
    SealPlan,
    TreeTip,
    previous_keys,
    receipts_of,
    seal,
)
from ledger.seal_ahead import AheadPlan, RecentLeaves, plan_ahead
from ledger.subtree_roots import completing_seq, nodes_from_rows, roots_of
from ledger.trail import EventRow, LeafRow, StoredCheckpoint, stream_key

SEAL_TABLES = (
    # Inner nodes live in `roots`, in the row of the leaf that completed them
    # (ledger/subtree_roots.py): one table written per append, one INSERT.
    "CREATE TABLE IF NOT EXISTS {schema}.{leaves} ("
    "seq bigint PRIMARY KEY, originator_id uuid NOT NULL, "
    "originator_version bigint NOT NULL, leaf_hash bytea NOT NULL, "
    "UNIQUE (originator_id, originator_version), "
    "roots bytea NOT NULL DEFAULT ''::bytea)",
    "CREATE TABLE IF NOT EXISTS {schema}.{commands} ("
    "command_id text PRIMARY KEY, fingerprint text NOT NULL, result text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {schema}.{checkpoints} ("
    "size bigint PRIMARY KEY, root_hash bytea NOT NULL, note text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {schema}.{subject_keys} ("
    "subject_id text PRIMARY KEY, key bytea)",
    "CREATE TABLE IF NOT EXISTS {schema}.{personal} ("
    "subject_id text NOT NULL, digest text NOT NULL, ciphertext bytea NOT NULL, "
    "PRIMARY KEY (subject_id, digest))",
)


TIP_CTES: LiteralString = (
    "s AS (SELECT COALESCE(MAX(seq), 0)::bigint AS n FROM {leaves}), "
    "t AS (SELECT s.n, x.leaf_hash AS h FROM s LEFT JOIN {leaves} AS x ON x.seq = s.n)"
)
APPEND_CTES: LiteralString = (
    TIP_CTES
    + ", f AS (SELECT t.n FROM t WHERE t.n <> %s::bigint OR t.h IS DISTINCT FROM %s::bytea) "
)
APPEND_SELECT: LiteralString = (
    "SELECT 0 AS kind, NULL::uuid AS o, 0 AS a, t.n AS b, t.h AS h FROM t "
    "UNION ALL SELECT 1, NULL, g.l, (f.n >> g.l) - 1, substring(x.roots FROM 32 * g.l - 31 FOR 32) "
    "FROM f CROSS JOIN generate_series(1, 62) AS g(l) "
    "JOIN {leaves} AS x ON x.seq = (f.n >> g.l) << g.l AND length(x.roots) >= 32 * g.l "
    "WHERE (f.n >> g.l) & 1 = 1 "
    "UNION ALL SELECT 2, x.originator_id, 0, x.originator_version, x.leaf_hash FROM {leaves} AS x "
    "JOIN unnest(%s::uuid[], %s::bigint[]) AS k(id, v) "
    "ON x.originator_id = k.id AND x.originator_version = k.v"
)
APPEND_STATE: LiteralString = APPEND_CTES + APPEND_SELECT
"""What sealing reads under the lock. Kind 0: the tree size n and leaf n's hash; 1: a
frontier node above level 0 (level a, idx b: node a of the roots of leaf ((n >> a) << a)),
only when (n, leaf n) is not the tip passed in; 2: a previous leaf (o, b)."""
INSERT_EVENTS: LiteralString = (
    "WITH z AS (SELECT pg_notify(%s::text, '') AS sent), "
    "e AS (INSERT INTO {events} (originator_id, originator_version, topic, state) "
    "SELECT originator_id, originator_version, topic, state FROM unnest(%s::{event_type}[]) "
    "RETURNING notification_id), "
)
INSERT_RECEIPTS: LiteralString = (
    "r AS (INSERT INTO {commands} (command_id, fingerprint, result) "
    "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[])), "
)
SEAL_AHEAD: LiteralString = (
    ", a AS (INSERT INTO {leaves} (seq, originator_id, originator_version, leaf_hash, roots) "
    "SELECT * FROM unnest(%s::bigint[], %s::uuid[], %s::bigint[], %s::bytea[], %s::bytea[]) "
    "WHERE EXISTS (SELECT 1 FROM t WHERE t.n = %s::bigint AND t.h IS NOT DISTINCT FROM %s::bytea) "
    "AND NOT EXISTS (SELECT 1 FROM unnest(%s::uuid[], %s::bigint[], %s::bytea[]) AS p(id, v, h) "
    "WHERE NOT EXISTS (SELECT 1 FROM {leaves} AS x WHERE x.originator_id = p.id "
    "AND x.originator_version = p.v AND x.leaf_hash = p.h)) RETURNING seq) "
)
"""A seal planned before the lock (ledger/seal_ahead.py), inserted only if the log still
ends with the planned tip (t: read as the statement began, under the lock) and every leaf it
linked to is the stored one; its rows come back as kind 5."""
IDS: LiteralString = (
    " UNION ALL SELECT 3, NULL, 0, e.notification_id, NULL FROM e"
    " UNION ALL SELECT 4, NULL, 0, 0, NULL FROM z"
)
AHEAD_SELECT: LiteralString = (
    "SELECT 5 AS kind, NULL::uuid AS o, 0 AS a, a.seq AS b, NULL::bytea AS h FROM a"
)


LOCAL_SETTINGS = SQL(
    "SELECT set_config('lock_timeout', {0}, true), "
    "set_config('plan_cache_mode', 'force_generic_plan', true)"
)
"""The append transaction's settings, in the one statement the library spends on its lock
timeout. A generic plan from the first execution: the pool hands a lone writer each of its
connections in turn, and the first five executions of INSERT_AND_READ on every connection
were planned afresh (≈ 0.5 ms each) — the statement's plan does not depend on its values."""


def insert_and_read(receipts: bool, ahead: bool) -> LiteralString:
    """The library's NOTIFY and events INSERT, the receipts, and either the append-state
    read or a planned seal (SEAL_AHEAD) as ONE statement (kind 3: a notification id; kind 4:
    the notification was queued, which also makes the server evaluate z, exactly once).
    The read sees the tables as the statement began, under the lock already taken; the
    inserts run to completion even though nothing selects from r. A planned seal that does
    not land (a stale tip, another writer) is followed by the read: the lock still holds, so
    it sees what the statement saw; a lone writer's append skips the read's joins."""
    head = INSERT_EVENTS + INSERT_RECEIPTS if receipts else INSERT_EVENTS
    if ahead:  # the state is read (append_state) only if the plan does not land
        return head + TIP_CTES + SEAL_AHEAD + AHEAD_SELECT + IDS
    return head + APPEND_CTES + APPEND_SELECT + IDS


INSERT_SEAL: LiteralString = (
    "INSERT INTO {leaves} (seq, originator_id, originator_version, leaf_hash, roots) "
    "SELECT * FROM unnest(%s::bigint[], %s::uuid[], %s::bigint[], %s::bytea[], %s::bytea[])"
)


@functools.lru_cache(maxsize=256)
def _render(
    template: LiteralString, schema: str, table: str, event_type: str = "stored_event_uuid"
) -> bytes:
    """A sealing statement for one events table, composed once instead of per execute."""
    names = {
        part: SQL("{0}.{1}").format(Identifier(schema), Identifier(f"{table}_{part}"))
        for part in ("leaves", "commands")
    }
    names["events"] = SQL("{0}.{1}").format(Identifier(schema), Identifier(table))
    names["event_type"] = SQL("{0}.{1}").format(Identifier(schema), Identifier(event_type))
    return SQL(template).format(**names).as_bytes(None)


def _ints(values: Iterable[int]) -> str:
    """An array literal for a `%s::bigint[]` (or int[]) parameter.

    The sealing statements take their rows as arrays; psycopg adapts a Python list element
    by element in Python (≈ 15 µs per array), a literal is one string. Elements are
    rendered from ints, UUIDs and bytes only, so no element can carry a comma or a brace.
    """
    return "{" + ",".join(str(int(v)) for v in values) + "}"


def _uuids(values: Iterable[UUID | str]) -> str:
    """An array literal for `%s::uuid[]`; a stream id that is no UUID raises ValueError."""
    return "{" + ",".join(str(v if isinstance(v, UUID) else UUID(v)) for v in values) + "}"


def _hashes(values: Iterable[bytes]) -> str:
    """An array literal for `%s::bytea[]`: hex elements, quoted, backslash escaped."""
    return "{" + ",".join(f'"\\\\x{bytes(v).hex()}"' for v in values) + "}"




class PostgresSealCursor:
    """Sealing statements for PostgreSQL: one round trip per step, whatever the batch size."""

    def __init__(
        self,
        curs: Cursor[DictRow],
        schema: str,
        table: str,
        tip: TreeTip = NO_TIP,
        rows: Sequence[DictRow] | None = None,
    ) -> None:
        self.curs = curs
        self.schema = schema
        self.table = table
        self.tip = tip
        self.rows = rows  # the append-state rows, when they came with the events' insert
        self.receipts: list[Receipt] = []

    def _q(self, template: LiteralString) -> bytes:
        return _render(template, self.schema, self.table)

    def tree_size(self) -> int:
        self.curs.execute(self._q("SELECT COALESCE(MAX(seq), 0) AS n FROM {leaves}"))
        row = self.curs.fetchone()
        assert row is not None
        return int(row["n"])

    def append_state(self, previous: Sequence[tuple[str, int]]) -> AppendState:
        """The size, its frontier (level k of size n sits at index (n >> k) - 1 when bit k of
        n is set; level 0 is leaf n) unless `tip` holds it, and the previous leaves: from
        the rows that came back with the events' insert (INSERT_AND_READ), else read."""
        rows = self.rows
        if rows is None:
            self.curs.execute(
                self._q("WITH " + APPEND_STATE), self.state_params(self.tip, previous)
            )
            rows = self.curs.fetchall()
        size, last = 0, None
        frontier: dict[NodeKey, bytes] = {}
        previous_leaves: dict[tuple[str, int], bytes] = {}
        for r in rows:
            if r["kind"] == 0:
                size, last = int(r["b"]), None if r["h"] is None else bytes(r["h"])
            elif r["kind"] == 1:
                frontier[(int(r["a"]), int(r["b"]))] = bytes(r["h"])
            elif r["kind"] == 2:
                previous_leaves[(str(r["o"]), int(r["b"]))] = bytes(r["h"])
        if (size, last) == (self.tip.size, self.tip.last):
            return AppendState(size, previous_leaves, self.tip.frontier)
        if size & 1 and last is not None:
            frontier[(0, size - 1)] = last
        return AppendState(size, previous_leaves, frontier_rows(size, frontier))

    @staticmethod
    def state_params(tip: TreeTip, previous: Sequence[tuple[str, int]]) -> tuple[Any, ...]:
        """APPEND_STATE's parameters: the remembered tip, then the previous leaves' keys."""
        return (tip.size, tip.last, _uuids(k[0] for k in previous), _ints(k[1] for k in previous))

    def leaf_hashes_of(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], bytes]:
        self.curs.execute(
            self._q(
                "SELECT l.originator_id, l.originator_version, l.leaf_hash FROM {leaves} l "
                "JOIN unnest(%s::uuid[], %s::bigint[]) AS k(id, v) "
                "ON l.originator_id = k.id AND l.originator_version = k.v"
            ),
            ([UUID(k[0]) for k in keys], [k[1] for k in keys]),
        )
        return {
            (str(r["originator_id"]), int(r["originator_version"])): bytes(r["leaf_hash"])
            for r in self.curs.fetchall()
        }

    def nodes(self, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The rows of the leaves holding `keys` (ledger/subtree_roots.py), in one statement."""
        seqs = sorted({completing_seq(level, idx) for level, idx in keys})
        if not seqs:
            return {}
        self.curs.execute(
            self._q("SELECT seq, leaf_hash, roots FROM {leaves} WHERE seq = ANY(%s)"), (seqs,)
        )
        rows = {
            int(r["seq"]): (bytes(r["leaf_hash"]), bytes(r["roots"])) for r in self.curs.fetchall()
        }
        return nodes_from_rows(keys, rows)

    def insert_seal(self, leaves: Sequence[Leaf], nodes: Sequence[NodeRow]) -> None:
        """The leaves, each with the inner nodes it completed, in one prepared statement."""
        self.curs.execute(self._q(INSERT_SEAL), leaf_columns(leaves, nodes), prepare=True)

    def insert_receipt(self, receipt: Receipt) -> None:
        """Queue a receipt: the recorder sends the queue inside the events' INSERT statement
        (INSERT_AND_READ), where a repeated command id fails like a conflicting event."""
        self.receipts.append(receipt)

    def receipt_columns(self) -> tuple[list[str], list[str], list[str]]:
        """The queued receipts as INSERT_AND_READ's three array parameters."""
        return (
            [r.command_id for r in self.receipts],
            [r.fingerprint for r in self.receipts],
            [r.result for r in self.receipts],
        )


class PostgresVaultCursor:
    """Vault statements for PostgreSQL, on the recorder's transaction under its table lock."""

    def __init__(
        self, curs: Cursor[DictRow], schema: str, table: str, ahead: Cursor[DictRow] | None = None
    ) -> None:
        self.curs = curs
        self.ahead = ahead
        self.keys = SQL("{0}.{1}").format(Identifier(schema), Identifier(f"{table}_subject_keys"))
        self.values = SQL("{0}.{1}").format(Identifier(schema), Identifier(f"{table}_personal"))

    def write(self, writes: VaultWrites) -> int | None:
        """New keys, then ciphertexts (only under a live key), then an erasure's deletions.

        Returns the erasing transaction's id (xid8), which compaction waits to see pass.
        """
        if writes.new_keys:
            self.curs.execute(
                SQL(
                    "INSERT INTO {0} (subject_id, key) "
                    "SELECT * FROM unnest(%s::text[], %s::bytea[])"
                ).format(self.keys),
                (list(writes.new_keys), list(writes.new_keys.values())),
            )
        if writes.values:
            self._insert_values(writes)
        guard_keys(self, writes)
        if writes.erase is not None:
            self.curs.execute(
                SQL("DELETE FROM {0} WHERE subject_id = %s").format(self.values), (writes.erase,)
            )
            self.curs.execute(
                SQL(
                    "INSERT INTO {0} (subject_id, key) VALUES (%s, NULL) ON CONFLICT (subject_id) "
                    "DO UPDATE SET key = NULL RETURNING pg_current_xact_id()::text AS xid"
                ).format(self.keys),
                (writes.erase,),
            )
            rows = self.curs.fetchall()  # also surfaces any error inside the pipeline's try
            return int(rows[0]["xid"])
        return None

    # -- ledger.personal.KeyRows, for guard_keys -------------------------------------------

    def key_of(self, subject: str) -> bytes | None:
        statement = SQL("SELECT key FROM {0} WHERE subject_id = %s").format(self.keys)
        self.curs.execute(statement, (subject,))
        rows = self.curs.fetchall()
        return None if not rows or rows[0]["key"] is None else bytes(rows[0]["key"])

    def live_keys(self) -> list[tuple[str, bytes]]:
        self.curs.execute(
            SQL("SELECT subject_id, key FROM {0} WHERE key IS NOT NULL ORDER BY subject_id").format(
                self.keys
            )
        )
        return [(row["subject_id"], bytes(row["key"])) for row in self.curs.fetchall()]

    def replace_keys(self, rows: Sequence[tuple[str, bytes]]) -> None:
        self.curs.execute(
            SQL(
                "INSERT INTO {0} (subject_id, key) SELECT * FROM unnest(%s::text[], %s::bytea[]) "
                "ON CONFLICT (subject_id) DO UPDATE SET key = excluded.key"
            ).format(self.keys),
            ([subject for subject, _ in rows], [key for _, key in rows]),
        )

    def _insert_values(self, writes: VaultWrites) -> None:
        self.curs.execute(
            SQL(
                "INSERT INTO {0} (subject_id, digest, ciphertext) SELECT v.s, v.d, v.c "
                "FROM unnest(%s::text[], %s::text[], %s::bytea[]) AS v(s, d, c) "
                "JOIN {1} AS k ON k.subject_id = v.s AND k.key IS NOT NULL RETURNING 1"
            ).format(self.values, self.keys),
            (
                [v.subject for v in writes.values],
                [v.digest for v in writes.values],
                [v.ciphertext for v in writes.values],
            ),
        )
        if len(self.curs.fetchall()) != len(writes.values):
            reason = "personal data for a subject without a live key (erased meanwhile?)"
            abort_transaction(self.curs, reason, "integrity_constraint_violation")


def leaf_columns(leaves: Sequence[Leaf], nodes: Sequence[NodeRow]) -> tuple[str, ...]:
    """The leaf rows (seq, stream, version, hash, roots) as five array literals: the
    parameters INSERT_SEAL and SEAL_AHEAD start with."""
    roots = roots_of(nodes)
    return (
        _ints(x.seq for x in leaves),
        _uuids(x.originator_id for x in leaves),
        _ints(x.originator_version for x in leaves),
        _hashes(x.leaf_hash for x in leaves),
        _hashes(roots.get(x.seq, b"") for x in leaves),
    )


def ahead_params(ahead: AheadPlan) -> tuple[Any, ...]:
    """SEAL_AHEAD's parameters: the planned leaves, the tip, the leaves they link to."""
    return (
        *leaf_columns(ahead.plan.leaves, ahead.plan.nodes),
        ahead.tip.size,
        ahead.tip.last,
        _uuids(k[0] for k in ahead.previous),
        _ints(k[1] for k in ahead.previous),
        _hashes(ahead.previous.values()),
    )


def abort_transaction(curs: Cursor[DictRow], reason: str, errcode: str) -> None:
    """Fail the insert transaction in the server, which raises (psycopg maps the code).

    The library's insert path catches a Python exception raised after its INSERT and re-raises
    it only after its transaction block has exited, i.e. after COMMIT: events would be stored
    unsealed, or without their personal data. A server-side error aborts the transaction
    first, so its COMMIT becomes a rollback and nothing of the batch is stored.
    """
    curs.execute(
        SQL(
            "DO $abort$ BEGIN RAISE EXCEPTION USING ERRCODE = {0}, MESSAGE = {1}; END $abort$"
        ).format(Literal(errcode), Literal(reason.replace("$", "")[:500]))
    )
    curs.fetchall()
    raise IntegrityError(reason)  # not reached: the statement above raises


class StoreBusy(ConcurrentModification):
    """The log stayed locked by other writers past the lock timeout; nothing was written.

    Contention like a conflicting write, so it is a ConcurrentModification: retry the command
    (the API answers 409, the watcher retries after a reload).
    """


_LIBRARY_INSERT: Callable[..., Sequence[int] | None] = inspect.unwrap(
    PostgresApplicationRecorder.insert_events
)
"""The library's insert without its retry decorator (which also retries lock timeouts)."""
CONNECTION_RETRIES = 10
SIGNING_LOCK = 0x6C76_636B  # "lvck": with hashtext(schema.table), one checkpoint signer at a time


def _is_lock_timeout(error: BaseException) -> bool:
    cause = error if isinstance(error, psycopg.Error) else error.__cause__
    return isinstance(cause, psycopg.errors.LockNotAvailable)


class SealingPostgresRecorder(PostgresApplicationRecorder):
    """The library's recorder plus sealing and idempotency receipts in the same transaction."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        settings = LOCAL_SETTINGS.format(Literal(f"{self.datastore.lock_timeout}s"))
        _timeout, lock = self.lock_table_statements  # the library's SET LOCAL and LOCK TABLE
        assert isinstance(lock, Composed), lock
        # bytes: psycopg would compose (and escape) SQL objects again on every append
        self.lock_table_statements = [settings.as_bytes(None), lock.as_bytes(None)]
        self.erasures: list[int] = []  # xids of erasures not yet compacted away (compact_vault)
        self._append = threading.local()  # this thread's append: tip read, tip after
        self._insert_and_read = {
            (receipts, ahead): _render(
                insert_and_read(receipts, ahead),
                self.datastore.schema,
                events_table_name,
                self.stored_event_type_name,
            )
            for receipts in (True, False)
            for ahead in (True, False)
        }
        self._recent = RecentLeaves()  # the latest leaf of streams this recorder appended to
        self._tip = NO_TIP  # the tree as of this recorder's last committed append
        names = {
            "schema": Identifier(self.datastore.schema),
            "leaves": Identifier(f"{events_table_name}_leaves"),
            "commands": Identifier(f"{events_table_name}_commands"),
            "checkpoints": Identifier(f"{events_table_name}_checkpoints"),
            "subject_keys": Identifier(f"{events_table_name}_subject_keys"),
            "personal": Identifier(f"{events_table_name}_personal"),
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

    def find_receipts(self, command_ids: Sequence[str]) -> dict[str, Receipt]:
        """The stored receipts among `command_ids`, in one statement."""
        statement = SQL("SELECT * FROM {0}.{1} WHERE command_id = ANY(%s)").format(
            Identifier(self.datastore.schema), Identifier(f"{self.events_table_name}_commands")
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (list(command_ids),))
            rows = curs.fetchall()
        return {
            r["command_id"]: Receipt(r["command_id"], r["fingerprint"], r["result"]) for r in rows
        }

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """The library's lock, then its events INSERT extended with the receipts, the
        seal's read and, when it could be planned, the seal itself (`insert_and_read`): one
        statement, answered by the library's own sync."""
        self._lock_table(curs)  # the library's NOTIFY goes with the INSERT: one statement less
        self._append.tip = tip = self._tip  # one snapshot for the statement and its reader
        try:
            self._append.ahead = ahead = plan_ahead(tip, self._recent, stored_events)
            queue = PostgresSealCursor(curs, self.datastore.schema, self.events_table_name)
            for each in receipts_of(kwargs.get("receipt")):
                queue.insert_receipt(each)
            seal_params = (
                ahead_params(ahead)
                if ahead is not None
                else queue.state_params(tip, previous_keys(stored_events))
            )
            params = (
                self.channel_name,
                [
                    self.construct_pg_stored_event(
                        e.originator_id, e.originator_version, e.topic, e.state
                    )
                    for e in stored_events
                ],
                *(queue.receipt_columns() if queue.receipts else ()),
                *seal_params,
            )
        except Exception as error:  # the library would commit the lock and notify
            abort_transaction(curs, f"{type(error).__name__}: {error}", "internal_error")
            raise
        statement = self._insert_and_read[(bool(queue.receipts), ahead is not None)]
        curs.execute(statement, params, prepare=True)

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The notification ids (insert order is id order under the lock), then the seal."""
        rows = curs.fetchall()
        notification_ids = sorted(int(r["b"]) for r in rows if r["kind"] == 3)
        writes: VaultWrites | None = kwargs.get("vault")
        try:
            if len(notification_ids) != len(stored_events):
                raise ProgrammingError(
                    f"got {len(notification_ids)} notification ids for {len(stored_events)} events"
                )
            self._seal(curs, stored_events, rows)
            self.before_commit()
            if writes:
                vault = PostgresVaultCursor(curs, self.datastore.schema, self.events_table_name)
                erasing = vault.write(writes)
                if erasing is not None:
                    self.erasures.append(erasing)
        except psycopg.Error:
            raise  # the server already aborted the transaction
        except VaultCorrupted as error:  # a vault key refused: abort, and say so as such
            with contextlib.suppress(psycopg.Error):
                abort_transaction(curs, f"{type(error).__name__}: {error}", "internal_error")
            raise
        except Exception as error:
            abort_transaction(curs, f"{type(error).__name__}: {error}", "internal_error")
            raise
        return notification_ids

    def _seal(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], rows: list[DictRow]
    ) -> None:
        """Keep the planned seal if it landed (kind-5 rows), else seal from what was read."""
        ahead: AheadPlan | None = getattr(self._append, "ahead", None)
        landed = sum(1 for r in rows if r["kind"] == 5)
        if ahead is not None and landed == len(stored_events):
            self._append.sealed = ahead.plan
            return
        if landed:
            raise ProgrammingError(f"{landed} of {len(stored_events)} planned leaves landed")
        tip: TreeTip = getattr(self._append, "tip", NO_TIP)
        read = None if ahead is not None else rows  # a planned append did not read the state
        cursor = PostgresSealCursor(curs, self.datastore.schema, self.events_table_name, tip, read)
        self._append.sealed = seal(cursor, stored_events, None)  # receipts went with the insert

    def before_commit(self) -> None:
        """The batch is sealed and the COMMIT comes next (a point tests can stop at)."""

    # -- the personal-data vault (ledger.personal.Vault) ----------------------------------

    def read_vault(self, subject: str, digest: str | None) -> VaultEntry:
        """A subject's key slot and one ciphertext, in one statement (one snapshot)."""
        statement = SQL(
            "SELECT k.subject_id IS NOT NULL AS has_row, k.key, p.ciphertext "
            "FROM (SELECT %s::text AS s) AS q "
            "LEFT JOIN {0} AS k ON k.subject_id = q.s "
            "LEFT JOIN {1} AS p ON p.subject_id = q.s AND p.digest = %s::text"
        ).format(self._table("_subject_keys"), self._table("_personal"))
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (subject, digest))
            row = curs.fetchone()
        assert row is not None
        key, ciphertext = row["key"], row["ciphertext"]
        slot = KeySlot(None if key is None else bytes(key), erased=row["has_row"] and key is None)
        return VaultEntry(slot, None if ciphertext is None else bytes(ciphertext))

    def personal_count(self, subject: str) -> int:
        """How many personal values the vault holds for a subject."""
        statement = SQL("SELECT COUNT(*) AS n FROM {0} WHERE subject_id = %s")
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement.format(self._table("_personal")), (subject,))
            row = curs.fetchone()
        assert row is not None
        return int(row["n"])


    def compact_vault(self) -> bool:
        """After an erasure's commit: True once the erased key bytes left the live table files.

        An erased key stays in its heap page as a dead row version. VACUUM FULL writes the
        (small) key table afresh, but MVCC makes it copy dead versions that a snapshot older
        than the erasure might still see: while any session of this database (or a replication
        slot, a prepared transaction) holds such a snapshot, the key survives. So this first
        checks that the horizon passed the erasures recorded here (no erasure recorded: a
        fresh transaction id, conservatively), and reports False instead of vacuuming in
        vain; call it again later. Other roles' sessions are visible to that check only with
        pg_read_all_stats. VACUUM FULL gives up after 5 s waiting for its exclusive lock
        rather than stall every vault reader (False again). Ciphertexts are useless without
        their key, so plain VACUUM suffices for them. Copies in the WAL, WAL archives,
        replicas and backups remain (ledger/personal.py).
        """
        pending = list(self.erasures)
        with self.datastore.get_connection() as conn:
            erased = max(pending) if pending else _fresh_xid(conn)
            if not _horizon_passed(conn, erased):
                return False
            conn.execute("SET lock_timeout = '5s'")
            try:
                conn.execute(SQL("VACUUM FULL {0}").format(self._table("_subject_keys")))
                conn.execute(SQL("VACUUM {0}").format(self._table("_personal")))
            except psycopg.errors.LockNotAvailable:
                return False
            finally:
                conn.execute("RESET lock_timeout")
        self.erasures = [x for x in self.erasures if x not in pending]
        return True

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

    def select_states(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        """(notification_id, state) of a page of events after ``after``: the projector's read."""
        rows = self._events_after("notification_id, state", after, limit)
        return [(r["notification_id"], bytes(r["state"])) for r in rows]

    def iter_events(self, after_position: int, limit: int) -> list[EventRow]:
        """A page of events after ``after_position``, in notification_id (commit) order."""
        columns = "notification_id, originator_id, originator_version, topic, state"
        return [
            EventRow(
                int(r["notification_id"]),
                stream_key(r["originator_id"]),
                int(r["originator_version"]),
                str(r["topic"]),
                bytes(r["state"]),
            )
            for r in self._events_after(columns, after_position, limit)
        ]

    def _events_after(self, columns: LiteralString, after: int, limit: int) -> list[DictRow]:
        statement = SQL(
            "SELECT " + columns + " FROM {0} "
            "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(self._table())
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(statement, (after, limit))
            return curs.fetchall()

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

    @contextmanager
    def signing_lock(self) -> Iterator[None]:
        """One checkpoint signer at a time across processes (ledger.trail.sign_checkpoint).

        A session advisory lock on one pooled connection, awaited under the lock timeout (a
        blocked signer gets StoreBusy, never a hang) and released on exit; if the process dies
        the server ends its session, which releases the lock.
        """
        key = (SIGNING_LOCK, f"{self.datastore.schema}.{self.events_table_name}")
        with self.datastore.get_connection() as conn:
            try:
                with conn.transaction():
                    timeout = SQL("SET LOCAL lock_timeout = '{0}s'")
                    conn.execute(timeout.format(self.datastore.lock_timeout))
                    conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", key)
            except psycopg.errors.LockNotAvailable as error:
                raise StoreBusy("another process is signing a checkpoint; retry") from error
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", key)

    # -- writes: lock timeouts are contention, not a broken connection ----------------------

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's insert, retried on a dropped connection but never on a lock timeout.

        The library retries every OperationalError ten times, so a writer blocked behind the
        table lock used to wait ten lock timeouts (about 100 s) before failing. A lock timeout
        is raised at once as StoreBusy; its transaction rolled back, so nothing was written.
        A retry after a dropped connection is safe: a batch that did commit fails the retry
        with IntegrityError and the runner then finds its receipt.
        """
        for attempt in range(1, CONNECTION_RETRIES + 1):
            self._append.sealed = None
            try:
                ids = _LIBRARY_INSERT(self, stored_events, **kwargs)
            except (InterfaceError, OperationalError) as error:
                if _is_lock_timeout(error):
                    raise StoreBusy(
                        f"the event log stayed locked by other writers for more than "
                        f"{self.datastore.lock_timeout} s (POSTGRES_LOCK_TIMEOUT); "
                        "nothing was written: retry the command"
                    ) from error
                if attempt == CONNECTION_RETRIES:
                    raise
                time.sleep(0.2)
                continue
            sealed: SealPlan | None = self._append.sealed
            if sealed is not None and sealed.after is not None:
                self._tip = sealed.after  # committed: the next append may skip the frontier
                self._recent.remember(sealed.leaves)  # ... and plan its seal
            return ids
        raise AssertionError("unreachable")


HORIZON_PASSED = (
    "WITH e AS (SELECT ((%(xid8)s::bigint %% 4294967296)::text)::xid AS x) "
    "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity a, e WHERE a.pid <> pg_backend_pid() "
    "AND (a.datname = current_database() OR a.backend_type = 'walsender') "
    "AND ((a.backend_xmin IS NOT NULL AND age(a.backend_xmin) >= age(e.x)) "
    "OR (a.backend_xid IS NOT NULL AND age(a.backend_xid) >= age(e.x)))) "
    "AND NOT EXISTS (SELECT 1 FROM pg_replication_slots s, e "
    "WHERE s.xmin IS NOT NULL AND age(s.xmin) >= age(e.x)) "
    "AND NOT EXISTS (SELECT 1 FROM pg_prepared_xacts p, e "
    "WHERE p.database = current_database() AND age(p.transaction) >= age(e.x)) AS passed"
)


def _horizon_passed(conn: psycopg.Connection[DictRow], xid8: int) -> bool:
    """Whether no snapshot that could still see rows deleted by transaction `xid8` remains."""
    row = conn.execute(HORIZON_PASSED, {"xid8": xid8}).fetchone()
    return bool(row is not None and row["passed"])


def _fresh_xid(conn: psycopg.Connection[DictRow]) -> int:
    """A transaction id newer than every committed erasure (used when none was recorded)."""
    row = conn.execute("SELECT pg_current_xact_id()::text AS xid").fetchone()
    assert row is not None
    return int(row["xid"])


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
