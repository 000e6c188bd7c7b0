"""Create commands: the store's unique (stream, version) key answers "already exists".

A create command no longer reads whether its stream exists before it writes (`require_new`):
saving version 1 of an existing stream fails on the key, and the runner then refuses the
command exactly as the up-front read did — AlreadyExists with the same message, nothing
written, a retry of the first command still answered by its receipt — on every store.
"""

from __future__ import annotations

from typing import Any

import pytest

from ledger.application import Acting, CommandResult
from ledger.domain.base import LedgerAggregate
from ledger.errors import AlreadyExists, CommandIdReused, InvalidValue
from ledger.ledger import Ledger
from tests.clock import Clock


@pytest.fixture
def app(any_ledger: Ledger) -> Ledger:
    return any_ledger


class ReadCounter:
    """Counts the recorder's `select_events` calls (the up-front existence read)."""

    def __init__(self, app: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = app.recorder.select_events

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(app.recorder, "select_events", counted)


def onboard(app: Ledger, clock: Clock, person: str = "S1", **kw: Any) -> CommandResult:
    return app.onboard_staff(clock.admin(**kw), person, f"E-{person}", "engineering")


def test_a_new_stream_is_created_without_reading_the_store_first(
    app: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = ReadCounter(app, monkeypatch)
    result = onboard(app, Clock())
    assert reads.calls == 0
    assert len(result.events) == 1
    assert not result.repeated


def test_an_existing_stream_is_refused_by_the_unique_key_and_nothing_is_written(
    app: Ledger,
) -> None:
    clock = Clock()
    onboard(app, clock)
    before = app.recorder.max_notification_id()
    with pytest.raises(AlreadyExists, match="staff 'S1' already exists"):
        onboard(app, clock)
    assert app.recorder.max_notification_id() == before
    assert app.stored_receipt(f"cmd-{clock.counter}") is None  # no receipt either


def test_an_existing_stream_is_refused_before_any_later_check(app: Ledger) -> None:
    """The pre-read refused first; a later argument check must not change the answer."""
    clock = Clock()
    onboard(app, clock)
    with pytest.raises(AlreadyExists):
        app.onboard_staff(clock.admin(), "S1", "E-S1", "engineering", name="   ")
    with pytest.raises(InvalidValue):  # a new stream still gets the argument's refusal
        app.onboard_staff(clock.admin(), "S2", "E-S2", "engineering", name="   ")


def test_a_retry_gets_its_first_result_and_a_reused_id_is_refused(app: Ledger) -> None:
    clock = Clock()
    first = onboard(app, clock, command_id="same")
    again = onboard(app, clock, command_id="same")
    assert again == CommandResult(first.command_id, first.events, repeated=True)
    with pytest.raises(CommandIdReused):
        app.onboard_staff(clock.admin(command_id="same"), "S1", "E-other", "engineering")


def test_a_stream_created_by_another_command_meanwhile_is_already_exists(
    app: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer creates the stream between this command's act and its save: the key
    refuses the save, and the refusal is AlreadyExists, not a conflict to retry."""
    clock = Clock()
    original = app.save

    def racing_save(*objs: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(app, "save", original)
        onboard(app, clock)  # the other writer, first
        return original(*objs, **kwargs)

    monkeypatch.setattr(app, "save", racing_save)
    before = app.recorder.max_notification_id()
    with pytest.raises(AlreadyExists):
        onboard(app, clock)
    assert app.recorder.max_notification_id() == (before or 0) + 1  # only the other's event


def test_in_a_batch_the_stream_is_read_up_front(app: Ledger) -> None:
    """A batch saves once, so a second create of the same id is refused when staged."""
    clock = Clock()
    with app.batch() as staged:
        onboard(app, clock)
        with pytest.raises(AlreadyExists):
            onboard(app, clock)
        app.save_batch(staged)
    assert app.recorder.max_notification_id() is not None


def test_a_required_stream_the_command_does_not_create_is_read(app: Ledger) -> None:
    """`require_new` for a stream the command leaves alone cannot rely on the key."""
    clock = Clock()
    onboard(app, clock)

    def act(_: Acting) -> list[LedgerAggregate]:
        app.require_new("staff", "S1", "staff 'S1' already exists")
        return []

    before = app.recorder.max_notification_id()
    with pytest.raises(AlreadyExists):
        app.run(clock.admin(), "probe", {}, act)
    assert app.recorder.max_notification_id() == before


def test_a_failure_other_than_a_refusal_still_reports_an_existing_stream(
    app: Ledger,
) -> None:
    clock = Clock()
    onboard(app, clock)

    def act(_: Acting) -> list[LedgerAggregate]:
        app.require_new("staff", "S1", "staff 'S1' already exists")
        raise RuntimeError("a fault after the check")

    with pytest.raises(AlreadyExists):
        app.run(clock.admin(), "probe", {}, act)

    def fresh(_: Acting) -> list[LedgerAggregate]:
        app.require_new("staff", "S9", "staff 'S9' already exists")
        raise RuntimeError("a fault after the check")

    with pytest.raises(RuntimeError):
        app.run(clock.admin(), "probe", {}, fresh)
