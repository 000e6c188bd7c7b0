"""PostgreSQL sealing statements are prepared server-side and sent behind the events' insert
in one pipeline: a failed insert skips them, and the connection must stay usable after it
(psycopg must not believe a statement prepared whose PREPARE the server skipped)."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID, uuid5

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from ledger.ledger import Ledger
from ledger.seal import Receipt
from ledger.trail import SealedLog, audit
from tests.conftest import PG_URL, make_ledger
from tests.test_trail import signing_key

ONE_CONNECTION = {"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "0"}


def event(name: str, version: int = 1) -> StoredEvent:
    state = f'{{"type":"Noted","name":"{name}","v":{version}}}'.encode()
    return StoredEvent(uuid5(UUID(int=0), name), version, "topic", state)


@pytest.fixture
def pair(pg_schema: str, tmp_path: object) -> Iterator[tuple[Ledger, Ledger]]:
    """Two ledgers on one schema, each with a single pooled connection."""
    first = make_ledger("postgres", tmp_path, pg_schema)  # type: ignore[arg-type]
    second = Ledger(PG_URL, env={"POSTGRES_SCHEMA": pg_schema, **ONE_CONNECTION})
    yield first, second
    second.close()
    first.close()


def test_a_failed_insert_leaves_the_connection_usable(pair: tuple[Ledger, Ledger]) -> None:
    first, second = pair
    first.recorder.insert_events([event("taken")])
    for i in range(8):  # fresh connection first, then past psycopg's prepare threshold
        with pytest.raises(IntegrityError):
            second.recorder.insert_events([event("taken")], receipt=Receipt(f"c{i}", "f", "r"))
        second.recorder.insert_events([event(f"ok-{i}")], receipt=Receipt(f"c{i}", "f", "r"))
        second.recorder.insert_events([event(f"ok-{i}", 2)])
    log = second.recorder
    assert isinstance(log, SealedLog)
    assert log.sealed_size() == 17
    assert audit(log, signing_key()).ok


def test_a_repeated_receipt_leaves_the_connection_usable(pair: tuple[Ledger, Ledger]) -> None:
    _, second = pair
    for i in range(8):
        second.recorder.insert_events([event(f"a-{i}")], receipt=Receipt(f"r{i}", "f", "r"))
        with pytest.raises(IntegrityError):
            second.recorder.insert_events([event(f"b-{i}")], receipt=Receipt(f"r{i}", "f", "r"))
    log = second.recorder
    assert isinstance(log, SealedLog)
    assert log.sealed_size() == 8
    assert audit(log, signing_key()).ok
