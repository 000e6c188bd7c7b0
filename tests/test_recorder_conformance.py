"""Our sealing recorders still pass the eventsourcing library's own recorder test cases.

The cases come from `eventsourcing.tests.persistence` (shipped in the wheel); the subclasses
mirror the library's SQLite and PostgreSQL recorder test modules (tests/persistence_tests in its
repository, which the wheel does not ship). The library writes raw payloads such as b"state1";
the sealer seals those too, by digest (ledger.seal.public_record_of). Our stores use UUID
stream ids only, so the library's text-id variants are not run.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.tests.persistence import (
    ApplicationRecorderTestCase,
    NonInterleavingNotificationIDsBaseCase,
    tmpfile_uris,
)

from ledger.store.memory import SealingMemoryRecorder
from ledger.store.postgres import SealingPostgresRecorder
from ledger.store.sqlite import SealingSQLiteRecorder
from tests.conftest import PG_URL, require_postgres


def sealed_size(recorder: Any) -> int:
    return int(recorder.sealed_size())


class SealedAfterEachTest:
    """After each library test, every stored event must have its leaf (no event unsealed)."""

    recorders: list[Any]

    def setUp(self) -> None:
        self.recorders = []
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        for recorder in self.recorders:
            events = recorder.max_notification_id() or 0
            if events and not isinstance(recorder, SealingPostgresRecorder):
                assert sealed_size(recorder) == events
        super().tearDown()  # type: ignore[misc]


Conformance = ApplicationRecorderTestCase[ApplicationRecorder]


class TestSealingMemoryRecorder(SealedAfterEachTest, Conformance):
    def create_recorder(self) -> ApplicationRecorder:
        recorder = SealingMemoryRecorder()
        self.recorders.append(recorder)
        return recorder


class TestSealingSQLiteRecorder(SealedAfterEachTest, Conformance):
    db_uri = ":memory:"

    def create_recorder(self) -> ApplicationRecorder:
        recorder = SealingSQLiteRecorder(SQLiteDatastore(db_name=self.db_uri, pool_size=100))
        recorder.create_table()
        self.recorders.append(recorder)
        return recorder

    def test_concurrent_no_conflicts(self, initial_position: int = 0) -> None:  # noqa: PT028
        self.db_uri = next(tmpfile_uris())
        super().test_concurrent_no_conflicts(initial_position)

    def test_concurrent_no_conflicts_in_memory_db(self) -> None:
        self.db_uri = "file::memory:?cache=shared"
        super().test_concurrent_no_conflicts()

    def test_concurrent_throughput(self) -> None:
        self.db_uri = next(tmpfile_uris())
        super().test_concurrent_throughput()


class TestSealingSQLiteNonInterleaving(NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> ApplicationRecorder:
        recorder = SealingSQLiteRecorder(
            SQLiteDatastore(db_name=next(tmpfile_uris()), pool_size=10)
        )
        recorder.create_table()
        return recorder


class PostgresSchema:
    """A fresh schema per test, dropped afterwards, as the library's SetupPostgresDatastore does."""

    schema: str
    datastore: PostgresDatastore

    def setUp(self) -> None:
        require_postgres()
        self.schema = f"c_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {self.schema}")
        info = psycopg.conninfo.conninfo_to_dict(PG_URL)
        self.datastore = PostgresDatastore(
            dbname=str(info.get("dbname", "test")),
            host=str(info.get("host", "127.0.0.1")),
            port=str(info.get("port", "5432")),
            user=str(info.get("user", "postgres")),
            password=str(info.get("password", "")),
            schema=self.schema,
            pool_size=4,
            lock_timeout=10,
        )
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        super().tearDown()  # type: ignore[misc]
        self.datastore.close()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {self.schema} CASCADE")


class TestSealingPostgresRecorder(PostgresSchema, SealedAfterEachTest, Conformance):
    # Rolled-back transactions consume bigserial values; our seq numbers, not the
    # notification ids, are the gap-free order (checked below).
    EXPECT_CONTIGUOUS_NOTIFICATION_IDS = False

    def create_recorder(self) -> ApplicationRecorder:
        recorder = SealingPostgresRecorder(self.datastore, events_table_name="stored_events")
        recorder.create_table()
        self.recorders.append(recorder)
        return recorder

    def test_insert_subscribe(self) -> None:
        """The library's LISTEN/NOTIFY subscription still wakes up: our recorder sends the
        NOTIFY inside its INSERT statement (pg_notify), not as a statement of its own."""
        self.optional_test_insert_subscribe()

    def tearDown(self) -> None:
        if self.recorders:
            table = f"{self.schema}.stored_events"
            with psycopg.connect(PG_URL) as conn:
                events = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
                leaves = conn.execute(
                    f"SELECT count(*), COALESCE(max(seq), 0) FROM {table}_leaves"
                ).fetchone()
            assert events is not None
            assert leaves is not None
            assert leaves[0] == events[0] == leaves[1], "every event sealed, seq 1..n without gaps"
        super().tearDown()


class TestSealingPostgresNonInterleaving(PostgresSchema, NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> ApplicationRecorder:
        recorder = SealingPostgresRecorder(self.datastore, events_table_name="stored_events")
        recorder.create_table()
        return recorder


del ApplicationRecorderTestCase, NonInterleavingNotificationIDsBaseCase, Conformance
