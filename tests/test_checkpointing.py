"""Automatic checkpoints: by event count, by elapsed time, and a final one at the end of a run."""

from __future__ import annotations

from pathlib import Path

from ledger.checkpoint import SigningKey
from ledger.ledger import Ledger
from ledger.trail import SealedLog
from lvyue.checkpointing import Checkpointer
from tests.clock import Clock

ORIGIN = "test.example/ledger"


def onboard(app: Ledger, clock: Clock, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        app.onboard_staff(clock.admin(), f"S{i}", f"E{i}", "engineering")


def checkpointer(
    app: Ledger, tmp_path: Path, every: int, seconds: float, now: list[float]
) -> Checkpointer:
    key = SigningKey.load_or_create(tmp_path / "key", ORIGIN, lambda: bytes(range(32)))
    log = app.recorder
    assert isinstance(log, SealedLog)
    return Checkpointer(log, key, ORIGIN, every, seconds, lambda: now[0])


def test_signs_every_n_events_and_not_before(tmp_path: Path) -> None:
    app, clock, now = Ledger("memory://"), Clock(), [0.0]
    signer = checkpointer(app, tmp_path, every=5, seconds=float("inf"), now=now)
    onboard(app, clock, 4)
    assert signer.maybe_sign() is None
    onboard(app, clock, 1, start=4)
    note = signer.maybe_sign()
    assert note is not None
    assert note.splitlines()[1] == "5"
    assert signer.maybe_sign() is None


def test_signs_after_the_interval_when_anything_is_new(tmp_path: Path) -> None:
    app, clock, now = Ledger("memory://"), Clock(), [1000.0]
    signer = checkpointer(app, tmp_path, every=1000, seconds=60, now=now)
    onboard(app, clock, 2)
    first = signer.maybe_sign()
    assert first is not None
    now[0] += 30
    onboard(app, clock, 1, start=2)
    assert signer.maybe_sign() is None
    now[0] += 31
    second = signer.maybe_sign()
    assert second is not None
    assert second.splitlines()[1] == "3"
    now[0] += 120
    assert signer.maybe_sign() is None  # nothing new: no empty checkpoint


def test_final_checkpoint_covers_the_tail(tmp_path: Path) -> None:
    app, clock, now = Ledger("memory://"), Clock(), [0.0]
    signer = checkpointer(app, tmp_path, every=1000, seconds=float("inf"), now=now)
    assert signer.maybe_sign_final() is None
    onboard(app, clock, 3)
    note = signer.maybe_sign_final()
    assert note is not None
    assert note.splitlines()[1] == "3"
    assert signer.maybe_sign_final() == note
