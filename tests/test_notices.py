"""Public notices (公示): publishing, every refusal writing nothing, and the notices view."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from ledger.domain.notices import Notice
from ledger.errors import ActorNotActive, AlreadyExists, DomainError, InvalidValue
from ledger.ids import event_id, stream_id
from ledger.ledger import Ledger
from projections import notice_queries
from projections.database import views_engine
from projections.projector import Projector
from projections.views.notices import NoticesView
from tests.clock import PHOTO, T0, Clock
from tests.test_projector import projected, snapshot

PUBLISHER = "D1"
DOC = "ef" * 32
YEAR = T0 + timedelta(days=365)


def onboard(app: Ledger, clock: Clock) -> None:
    """A customer-service clerk who posts notices."""
    app.onboard_staff(clock.admin(), PUBLISHER, f"E-{PUBLISHER}", "customer_service")
    app.assign_position(clock.admin(), PUBLISHER, "customer_service", "P1")


def publish(
    app: Ledger,
    clock: Clock,
    notice_id: str = "N1",
    *,
    actor: str = PUBLISHER,
    kind: str = "fees",
    title: str = "物业服务收费标准 property service fees",
    scope: tuple[str, ...] = ("B1", "B2"),
    channels: tuple[str, ...] = ("board", "app"),
    valid_from: datetime = T0,
    valid_to: datetime | None = YEAR,
    doc: str = DOC,
    evidence: tuple[str, ...] = (PHOTO,),
    property_id: str = "P1",
    actor_kind: str = "staff",
) -> Any:
    return app.publish_notice(
        clock.ctx(actor, actor_kind, evidence=evidence), notice_id, property_id, kind, title,
        scope, channels, valid_from, valid_to, doc,
    )


def types_of(app: Ledger) -> list[str]:
    return [n.topic for n in app.recorder.select_notifications(1, 10_000)]


def refused(app: Ledger, error: type[DomainError], command: Callable[[], object]) -> None:
    """The command raises exactly `error` and writes nothing."""
    before = app.recorder.max_notification_id()
    with pytest.raises(error) as caught:
        command()
    assert type(caught.value) is error
    assert app.recorder.max_notification_id() == before


# -- publishing -----------------------------------------------------------------------------


def test_notice_published_on_every_store(any_ledger: Ledger) -> None:
    clock = Clock()
    onboard(any_ledger, clock)
    publish(any_ledger, clock)
    assert types_of(any_ledger)[-1] == "NoticePublished"
    notice: object = any_ledger.repository.get(stream_id("notice", "N1"))
    assert isinstance(notice, Notice)
    assert (notice.property_id, notice.kind, notice.published_by) == ("P1", "fees", PUBLISHER)
    assert (notice.scope, notice.channels) == (("B1", "B2"), ("board", "app"))
    assert (notice.valid_from, notice.valid_to, notice.doc_sha256) == (T0, YEAR, DOC)


def test_an_open_ended_notice_off_the_board_needs_no_photo(ledger: Ledger) -> None:
    clock = Clock()
    onboard(ledger, clock)
    publish(ledger, clock, kind="outage", scope=(), channels=("sms", "wechat"), valid_to=None,
            evidence=())
    notice: object = ledger.repository.get(stream_id("notice", "N1"))
    assert isinstance(notice, Notice)
    assert (notice.scope, notice.valid_to) == ((), None)


def test_repeated_notice_command_is_idempotent(ledger: Ledger) -> None:
    clock = Clock()
    onboard(ledger, clock)
    ctx = clock.ctx(PUBLISHER, evidence=(PHOTO,), command_id="notice-N1")
    args = ("N1", "P1", "safety_warning", "严禁高空抛物 no throwing objects from height", (),
            ("board",), T0, None, DOC)
    first = ledger.publish_notice(ctx, *args)
    before = ledger.recorder.max_notification_id()
    again = ledger.publish_notice(ctx, *args)
    assert again.repeated
    assert again.events == first.events
    assert ledger.recorder.max_notification_id() == before


NAIVE = datetime(2026, 7, 1, 8, 0)  # no offset: the point of the test
REFUSALS: list[tuple[str, Callable[[Ledger, Clock], object], type[DomainError]]] = [
    ("duplicate id", publish, AlreadyExists),  # N1 is published first
    ("bad kind", lambda a, c: publish(a, c, kind="gossip"), InvalidValue),
    ("empty title", lambda a, c: publish(a, c, title="  "), InvalidValue),
    ("title too long", lambda a, c: publish(a, c, title="公" * 201), InvalidValue),
    ("no channel", lambda a, c: publish(a, c, channels=()), InvalidValue),
    ("unknown channel", lambda a, c: publish(a, c, channels=("app", "fax")), InvalidValue),
    ("duplicate channel", lambda a, c: publish(a, c, channels=("app", "app")), InvalidValue),
    ("board without photo", lambda a, c: publish(a, c, evidence=()), InvalidValue),
    ("naive valid_from", lambda a, c: publish(a, c, valid_from=NAIVE, valid_to=None),
     InvalidValue),
    ("valid_to before valid_from", lambda a, c: publish(a, c, valid_to=T0 - timedelta(days=1)),
     InvalidValue),
    ("valid_to equals valid_from", lambda a, c: publish(a, c, valid_to=T0), InvalidValue),
    ("uppercase doc hash", lambda a, c: publish(a, c, doc="EF" * 32), InvalidValue),
    ("short doc hash", lambda a, c: publish(a, c, doc="ef" * 31), InvalidValue),
    ("duplicate scope", lambda a, c: publish(a, c, scope=("B1", "B1")), InvalidValue),
    ("empty notice id", lambda a, c: publish(a, c, notice_id=""), InvalidValue),
    ("empty property", lambda a, c: publish(a, c, property_id=""), InvalidValue),
    ("admin publisher", lambda a, c: publish(a, c, actor="admin", actor_kind="admin"),
     ActorNotActive),
    ("publisher not staff", lambda a, c: publish(a, c, actor="X9"), ActorNotActive),
]


@pytest.mark.parametrize(
    ("command", "error"),
    [pytest.param(command, error, id=name) for name, command, error in REFUSALS],
)
def test_notice_refusals_write_nothing(
    ledger: Ledger, command: Callable[[Ledger, Clock], object], error: type[DomainError]
) -> None:
    clock = Clock()
    onboard(ledger, clock)
    if error is AlreadyExists:
        publish(ledger, clock)
    refused(ledger, error, lambda: command(ledger, clock))


def test_an_offboarded_clerk_cannot_publish(ledger: Ledger) -> None:
    clock = Clock()
    onboard(ledger, clock)
    ledger.offboard_staff(clock.admin(), PUBLISHER, "resigned")
    refused(ledger, ActorNotActive, lambda: publish(ledger, clock))


# -- the notices view ---------------------------------------------------------------------------


def published_three(app: Ledger, clock: Clock) -> None:
    """Fees for a year, a responsible-person notice posted a week late, a P2 outage."""
    onboard(app, clock)
    publish(app, clock, "N-FEES")
    clock.advance(days=7)
    publish(app, clock, "N-PEOPLE", kind="responsible_persons", title="责任人 who answers",
            scope=(), valid_to=None)
    publish(app, clock, "N-P2", property_id="P2", kind="outage", channels=("sms",), evidence=())


def test_the_view_lists_a_propertys_notices_with_their_events(ledger: Ledger) -> None:
    clock = Clock()
    published_three(ledger, clock)
    engine = views_engine("memory://")
    Projector(ledger, engine).catch_up()

    page = notice_queries.notices(engine, "P1")

    assert [n.notice_id for n in page.items] == ["N-FEES", "N-PEOPLE"]
    fees = page.items[0]
    assert (fees.scope, fees.channels, fees.evidence) == (("B1", "B2"), ("board", "app"), (PHOTO,))
    assert (fees.publisher_id, fees.publisher_role) == (PUBLISHER, "customer_service")
    assert (fees.valid_from, fees.valid_to, fees.doc_sha256) == (T0, YEAR, DOC)
    assert fees.event_id == str(event_id(stream_id("notice", "N-FEES"), 1))
    assert [n.notice_id for n in notice_queries.notices(engine, "P2").items] == ["N-P2"]
    engine.dispose()


def test_in_force_means_posted_by_then_and_inside_the_validity(ledger: Ledger) -> None:
    clock = Clock()
    published_three(ledger, clock)
    engine = views_engine("memory://")
    Projector(ledger, engine).catch_up()

    def in_force(at: datetime, kind: str | None = None) -> list[str]:
        return [n.notice_id for n in notice_queries.notices(engine, "P1", kind=kind, as_of=at)
                .items]

    assert in_force(T0 - timedelta(seconds=1)) == []
    assert in_force(T0 + timedelta(days=1)) == ["N-FEES"]  # N-PEOPLE was not posted yet
    assert in_force(T0 + timedelta(days=8)) == ["N-FEES", "N-PEOPLE"]
    assert in_force(T0 + timedelta(days=8), "responsible_persons") == ["N-PEOPLE"]
    assert in_force(YEAR) == ["N-PEOPLE"]  # [valid_from, valid_to)
    engine.dispose()


def test_notices_are_keyset_paged(ledger: Ledger) -> None:
    clock = Clock()
    onboard(ledger, clock)
    for n in range(5):
        publish(ledger, clock, f"N{n}")
    engine = views_engine("memory://")
    Projector(ledger, engine).catch_up()

    first = notice_queries.notices(engine, "P1", limit=3)
    second = notice_queries.notices(engine, "P1", after=first.next_after, limit=3)

    assert [n.notice_id for n in first.items + second.items] == [f"N{n}" for n in range(5)]
    assert second.next_after is None
    with pytest.raises(InvalidValue):
        notice_queries.notices(engine, "P1", limit=0)
    engine.dispose()


def test_rebuild_equals_incremental_for_notices(any_ledger: Ledger) -> None:
    with projected(any_ledger, [NoticesView()], page_size=2) as projector:
        clock = Clock()
        onboard(any_ledger, clock)
        projector.catch_up()
        for n in range(5):
            publish(any_ledger, clock, f"N{n}", valid_to=None if n % 2 else YEAR)
            projector.catch_up()
        incremental = snapshot(projector.engine, [NoticesView()])
        projector.rebuild()
        assert snapshot(projector.engine, [NoticesView()]) == incremental
    assert len(incremental["notices"]) == 5
