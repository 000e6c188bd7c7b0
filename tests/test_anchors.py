"""LedgerAnchored: a receipt can only vouch for a checkpoint this store signed, once per platform.

The event's root and note hash come from the store, never from the caller; every refusal writes
nothing; the CLI reads the receipt file, hashes it and lists what is anchored where.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger.domain.anchors import Anchor, anchor_key
from ledger.errors import AlreadyExists, DomainError, InvalidValue, NotFound
from ledger.ids import stream_id
from ledger.ledger import Ledger
from ledger.trail import sign_checkpoint
from lvyue.cli import app as cli
from tests.clock import Clock
from tests.test_trail import ORIGIN, onboard, sealed, signing_key

RECEIPT = hashlib.sha256(b"TSA token").hexdigest()


def signed(app: Ledger, clock: Clock) -> int:
    """A few events and a signed checkpoint of all of them; its size."""
    onboard(app, clock)
    note = sign_checkpoint(sealed(app), signing_key(), ORIGIN)
    return int(note.splitlines()[1])


def anchor(app: Ledger, clock: Clock, size: int, platform: str = "rfc3161_tsa") -> None:
    ctx = clock.ctx("admin", "admin", evidence=(RECEIPT,))
    app.record_anchor(ctx, platform, size, clock.now - timedelta(minutes=5), "tsa-42", RECEIPT)


def test_an_anchor_copies_the_stores_checkpoint_on_every_store(any_ledger: Ledger) -> None:
    clock = Clock()
    size = signed(any_ledger, clock)

    anchor(any_ledger, clock, size)
    anchor(any_ledger, clock, size, "judicial_chain")  # another platform: a second anchor

    stored = any_ledger.signed_checkpoint(size)
    found: object = any_ledger.repository.get(stream_id("anchor", anchor_key("rfc3161_tsa", size)))
    assert isinstance(found, Anchor)
    assert (found.tree_size, found.root_hash) == (size, stored.root_hash.hex())
    assert found.checkpoint_sha256 == hashlib.sha256(stored.note.encode()).hexdigest()
    assert (found.receipt_ref, found.receipt_sha256) == ("tsa-42", RECEIPT)
    with pytest.raises(AlreadyExists, match="already anchored"):
        anchor(any_ledger, clock, size)
    assert [a.platform for a in any_ledger.anchors_of(size)] == ["rfc3161_tsa", "judicial_chain"]
    assert any_ledger.anchors_of(size + 1) == []


def _refusal(app: Ledger, clock: Clock, size: int, change: str) -> None:
    ctx = clock.ctx("admin", "admin", evidence=() if change == "no evidence" else (RECEIPT,))
    args: dict[str, Any] = {
        "platform": "rfc3161_tsa", "tree_size": size, "anchored_at": clock.now,
        "receipt_ref": "tsa-42", "receipt_sha256": RECEIPT,
    }  # fmt: skip
    changes: dict[str, dict[str, Any]] = {
        "unknown size": {"tree_size": size + 1},
        "unknown platform": {"platform": "wechat"},
        "receipt from the future": {"anchored_at": clock.now + timedelta(hours=1)},
        "naive time": {"anchored_at": clock.now.replace(tzinfo=None)},
        "receipt not a digest": {"receipt_sha256": "TSA token"},
        "blank reference": {"receipt_ref": " "},
        "zero size": {"tree_size": 0},
        "no evidence": {},
    }
    app.record_anchor(ctx, **{**args, **changes[change]})


REFUSALS = [
    ("unknown size", NotFound),
    ("unknown platform", InvalidValue),
    ("receipt from the future", InvalidValue),
    ("naive time", InvalidValue),
    ("receipt not a digest", InvalidValue),
    ("blank reference", InvalidValue),
    ("zero size", InvalidValue),
    ("no evidence", InvalidValue),
]


@pytest.mark.parametrize(("change", "error"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_write_nothing(ledger: Ledger, change: str, error: type[DomainError]) -> None:
    clock = Clock()
    size = signed(ledger, clock)
    before = ledger.recorder.max_notification_id()
    with pytest.raises(error):
        _refusal(ledger, clock, size, change)
    assert ledger.recorder.max_notification_id() == before


def test_lvyue_anchor_records_the_receipt_and_lists_checkpoints(tmp_path: Path) -> None:
    env = {
        "LVYUE_DATABASE_URL": f"sqlite:///{tmp_path / 'lvyue.db'}",
        "LVYUE_SIGNING_KEY": str(tmp_path / "signing.key"),
        "LVYUE_ORIGIN": ORIGIN,
    }
    app = Ledger(env["LVYUE_DATABASE_URL"])
    onboard(app, Clock())
    app.close()
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, list(args), env=env)
        return result.exit_code, result.output

    assert "no signed checkpoint yet" in run("anchor", "checkpoints")[1]
    code, note = run("checkpoint")
    assert code == 0
    size = note.splitlines()[1]
    receipt = tmp_path / "receipt.tsr"
    receipt.write_bytes(b"TSA token")
    record = ("anchor", "record", "--size", size, "--platform", "rfc3161_tsa",
              "--receipt", str(receipt), "--ref", "tsa-42",
              "--anchored-at", "2026-07-01T12:00:00+08:00")  # fmt: skip

    code, out = run(*record)
    assert code == 0, out
    assert f"receipt sha256 {RECEIPT}" in out
    # a property's bundle carries the anchor in full; the offline verifier checks its root
    assert run("export", str(tmp_path / "bundle"), "--property", "P-ELSEWHERE")[0] == 0
    code, out = run("verify", str(tmp_path / "bundle"))
    assert code == 0, out
    assert f"anchored (存证): the first {size} events" in out
    assert "ref tsa-42" in out
    assert "rfc3161_tsa" in run("anchor", "checkpoints")[1]
    assert run("checkpoint")[0] == 0  # a second, larger one after the anchor's event
    newest = run("anchor", "checkpoints", "--limit", "1")[1].splitlines()
    assert len(newest) == 1
    assert "not anchored" in newest[0]
    assert run(*record)[0] == 1  # anchored there already
    missing = list(record)
    missing[7] = str(tmp_path / "nowhere.tsr")
    assert run(*missing)[0] == 2
    unknown = list(record)
    unknown[3] = "99999"
    code, out = run(*unknown)
    assert code == 1
    assert "no signed checkpoint of size 99999" in out
