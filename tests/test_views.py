"""The dispute views answer from the event stream: chains, area terms, signatures, the audit trail
and as-of replay through the time index — each answer with the event ids behind it."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import Engine

from ledger.domain.areas import Area
from ledger.ids import stream_id
from ledger.ledger import Ledger
from ledger.replay import TimeAxis, replay
from projections import queries
from projections.database import views_engine
from projections.projector import Projector
from projections.schema import metadata
from projections.views.chain import ChainView
from projections.views.trail import LATE_AFTER
from tests.clock import PHOTO, T0, Clock
from tests.test_projector import scenario, views_for

US = timedelta(microseconds=1)


@pytest.fixture
def views(ledger: Ledger) -> Iterator[Engine]:
    """The scenario of test_projector on the in-memory store, projected."""
    scenario(ledger, Clock())
    engine = views_engine("memory://")
    Projector(ledger, engine).catch_up()
    yield engine
    engine.dispose()


def trail_ids(engine: Engine) -> dict[int, str]:
    """Position → event id, from the audit trail."""
    page = queries.trail(engine, limit=1000)
    return {entry.position: entry.event_id for entry in page.items}


# -- chain -------------------------------------------------------------------------------------


def test_the_chain_names_responsible_and_executor_after_every_link(views: Engine) -> None:
    chain = queries.task_chain(views, "T1")

    assert [(link.kind, link.responsible_id, link.executor_id) for link in chain] == [
        ("registered", "S3", None),  # from the area's holder when it was reported
        ("dispatched", "S3", "S4"),
        ("declined", "S3", None),
        ("dispatched", "S3", "S3"),
        ("accepted", "S3", "S3"),
        ("arrived", "S3", "S3"),
        ("started", "S3", "S3"),
        ("on_hold", "S3", "S3"),
        ("resumed", "S3", "S3"),
        ("completed", "S3", "S3"),
        ("signed_off", "S3", "S3"),
        ("owner_returned", "S3", "S3"),
        ("reopened", "S3", None),
        ("dispatched", "S3", "S4"),
        ("reassigned", "S2", "S3"),
        ("accepted", "S2", "S3"),
        ("arrived", "S2", "S3"),
        ("started", "S2", "S3"),
        ("completed", "S2", "S3"),
        ("signed_off", "S2", "S3"),
        ("owner_accepted", "S2", "S3"),
        ("closed", "S2", "S3"),
    ]
    handed_over = chain[14]
    assert (handed_over.responsible_before, handed_over.executor_before) == ("S3", "S4")
    assert handed_over.note == "S4 off sick; S3 takes over"
    assert [link.signer_id for link in chain if link.kind == "signed_off"] == ["S3", "S2"]
    assert chain[11].on_behalf_of == "O1"
    assert [link.link_no for link in chain] == list(range(1, 23))
    ids = trail_ids(views)
    assert all(ids[link.position] == link.event_id for link in chain)


def test_who_held_a_task_at_any_moment(views: Engine) -> None:
    chain = queries.task_chain(views, "T1")
    reassigned = chain[14]

    before = queries.holders_at(views, "T1", reassigned.occurred_at - US)
    after = queries.holders_at(views, "T1", reassigned.occurred_at)

    assert before is not None
    assert after is not None
    assert (before.responsible_id, before.executor_id) == ("S3", "S4")
    assert (after.responsible_id, after.executor_id, after.event_id) == (
        "S2", "S3", reassigned.event_id
    )
    assert queries.holders_at(views, "T1", chain[0].occurred_at - US) is None
    assert queries.task_chain(views, "T404") == []


def test_sla_breaches_and_escalations_join_the_chain_of_their_task(ledger: Ledger) -> None:
    """`SlaBreached` / `SlaEscalated` on an SlaClock stream name the task by number."""
    scenario(ledger, Clock())
    records = [json.loads(n.state) for n in ledger.recorder.select_notifications(1, 1000)]
    task = next(r for r in records if r["data"].get("task_no") == "T2")
    clock_stream = str(stream_id("sla_clock", "T2/CL-EMERGENCY"))
    sla = {**task, "stream_type": "SlaClock", "stream_id": clock_stream,
           "actor": {"id": "sla-watcher", "kind": "system", "role": "system"}}
    breach = {**sla, "type": "SlaBreached", "stream_version": 2, "event_id": str(UUID(int=1)),
              "data": {"task_no": "T2", "breach_at": task["occurred_at"],
                       "responsible_at_breach": "S4", "responsible_role": "technician",
                       "executor_at_breach": None, "business_elapsed_seconds": 1800}}
    escalation = {**sla, "type": "SlaEscalated", "stream_version": 3, "event_id": str(UUID(int=2)),
                  "data": {"task_no": "T2", "level": 2, "role": "site_supervisor",
                           "notified_id": "S1", "channel": "sms",
                           "escalated_at": task["recorded_at"]}}
    unknown = {**escalation, "event_id": str(UUID(int=3)), "data": {"task_no": "T404"}}
    engine = views_engine("memory://")
    view = ChainView()
    metadata.create_all(engine, tables=list(view.tables))
    n = len(records)
    with engine.begin() as conn:
        view.apply(conn, records, list(range(1, n + 1)))
        view.apply(conn, [breach, escalation, unknown], [n + 5, n + 6, n + 7])

    chain = queries.task_chain(engine, "T2")
    assert [link.kind for link in chain] == ["registered", "cancelled", "sla_breached", "escalated"]
    assert (chain[2].detail, chain[2].event_id) == ("S4", breach["event_id"])
    last = chain[-1]
    assert (last.level, last.notified_id, last.detail, last.note) == (
        2, "S1", "site_supervisor", "sms"
    )
    assert (last.status, last.responsible_id, last.event_id) == (
        "cancelled", "S4", escalation["event_id"]
    )


# -- areas -------------------------------------------------------------------------------------


def test_area_terms_record_assignment_acceptance_and_release(views: Engine) -> None:
    terms = queries.area_history(views, "A1")

    assert [(t.service_line, t.term_no, t.responsible_id, t.accepted) for t in terms] == [
        ("cleaning", 1, "S4", True),  # assigned by S4 themselves: signed at assignment
        ("repair", 1, "S3", True),
        ("repair", 2, "S4", False),
    ]
    cleaning, first, second = terms
    assert first.valid_from == T0 - timedelta(days=30)
    assert first.valid_to == second.valid_from
    assert (first.successor_id, first.release_reason) == ("S4", "轮岗 rotation")
    assert second.valid_to is None
    assert cleaning.valid_to is not None
    assert cleaning.accepted_event_id == cleaning.assigned_event_id
    ids = trail_ids(views)
    assert ids[first.assigned_position] == first.assigned_event_id
    assert ids[first.accepted_position or 0] == first.accepted_event_id
    assert ids[first.released_position or 0] == first.released_event_id


def test_responsible_at_matches_the_area_history(ledger: Ledger, views: Engine) -> None:
    """The view answers "who answered for A1 × line at T" as the aggregate's history does."""
    area: object = ledger.repository.get(stream_id("area", "A1"))
    assert isinstance(area, Area)
    terms = queries.area_history(views, "A1")
    edges = {t.valid_from for t in terms} | {t.valid_to for t in terms if t.valid_to}
    far = T0 + timedelta(days=999)
    moments = sorted({e + d for e in edges for d in (-US, timedelta(0), US)} | {far})

    for line in ("repair", "cleaning", "security"):
        for moment in moments:
            term = queries.responsible_at(views, "A1", line, moment)
            expected = area.responsible_at(line, moment) if line != "security" else None
            assert (term.responsible_id if term else None) == expected, (line, moment)


# -- signatures --------------------------------------------------------------------------------


def test_every_signature_bearing_event_is_listed_with_its_signer(views: Engine) -> None:
    page = queries.signatures(views, limit=1000)

    assert [(s.kind, s.signer_id, s.subject) for s in page.items] == [
        ("InspectionRoundCompleted", "I1", "inspection_round/PL1/2026-07-01T08:00:00+00:00"),
        ("ResponsibilityAccepted", "S3", "area/A1#repair"),
        ("ResponsibilityAssigned", "S4", "area/A1#cleaning"),
        ("WorkRuleAcknowledged", "S3", "work_rule/R1@v1"),
        ("CompletionSignedOff", "S3", "task/T1"),
        ("CompletionSignedOff", "S2", "task/T1"),
        ("PenaltyNotified", "S4", "penalty/C1"),  # the subject acknowledged; S1 delivered it
        ("AppealRuled", "S2", "penalty/C1"),
        ("CorrectiveActionVerified", "Q1", "corrective_action/CA1"),
    ]
    notified = page.items[6]
    assert (notified.actor_id, notified.signer_role) == ("S1", None)
    assert page.items[0].signer_role == "quality_inspector"
    assert page.next_after is None
    ids = trail_ids(views)
    assert all(ids[s.position] == s.event_id for s in page.items)


def test_signatures_filter_by_signer_property_kind_and_period(views: Engine) -> None:
    by_s3 = queries.signatures(views, signer_id="S3").items
    signed_off = queries.signatures(views, kind="CompletionSignedOff", property_id="P1").items
    everything = queries.signatures(views, limit=1000).items
    cut = everything[4].occurred_at

    assert [s.kind for s in by_s3] == [
        "ResponsibilityAccepted", "WorkRuleAcknowledged", "CompletionSignedOff"
    ]
    assert [s.signer_id for s in signed_off] == ["S3", "S2"]
    assert queries.signatures(views, property_id="P9").items == ()
    assert queries.signatures(views, until=cut).items == everything[:4]
    assert queries.signatures(views, since=cut).items == everything[4:]


def test_signatures_page_by_position(views: Engine) -> None:
    seen: list[queries.Signature] = []
    after = None
    while True:
        page = queries.signatures(views, limit=2, after=after)
        seen.extend(page.items)
        if page.next_after is None:
            break
        after = page.next_after

    assert seen == list(queries.signatures(views, limit=1000).items)
    assert len(seen) == 9


# -- trail -------------------------------------------------------------------------------------


def test_the_trail_flags_late_records_and_filters_by_stream_actor_and_property(
    ledger: Ledger, views: Engine
) -> None:
    everything = queries.trail(views, limit=1000).items
    late = [entry for entry in everything if entry.late]
    t2 = queries.trail(views, stream="task/T2").items

    assert len(everything) == ledger.recorder.max_notification_id()
    assert [(e.type, e.delay_seconds) for e in late] == [("TaskRegistered", 7201)]
    assert all(e.delay_seconds <= LATE_AFTER.total_seconds() for e in everything if not e.late)
    assert [e.type for e in t2] == ["TaskRegistered", "TaskCancelled"]
    assert queries.trail(views, stream=str(stream_id("task", "T2"))).items == t2
    assert {e.actor_id for e in queries.trail(views, actor_id="S3").items} == {"S3"}
    assert all(e.property_id == "P1" for e in queries.trail(views, property_id="P1").items)
    assert [e.position for e in everything] == sorted(e.position for e in everything)


def test_trail_pages_continue_where_the_last_one_ended(views: Engine) -> None:
    first = queries.trail(views, property_id="P1", limit=5)
    second = queries.trail(views, property_id="P1", limit=5, after=first.next_after)
    both = queries.trail(views, property_id="P1", limit=10)

    assert first.items + second.items == both.items


# -- as-of replay through the index --------------------------------------------------------------


def late_arrival(app: Ledger, clock: Clock) -> None:
    """T3: the arrival is reported two hours late and happened before the acceptance."""
    start = clock.now
    app.register_task(clock.ctx("D1"), "T3", "P1", "A1", "repair", "repair", "urgent", "app",
                      "B1-0707", "水管爆裂 burst pipe", reporter_id="O1")
    app.dispatch_task(clock.ctx("D1"), "T3", "S3", "S3")
    clock.advance(minutes=20)
    app.accept_task(clock.ctx("S3"), "T3")
    clock.advance(hours=2)
    app.arrive_on_site(clock.ctx("S3", occurred_at=start + timedelta(minutes=5)), "T3")
    app.start_work(clock.ctx("S3"), "T3")
    app.complete_work(clock.ctx("S3"), "T3", "关阀换管 fixed", (PHOTO,))


def moments(app: Ledger, ref: str) -> list[datetime]:
    """Every event time on both axes, a microsecond either side, and midpoints between events."""
    from ledger.replay import parse_stream_ref

    records = [json.loads(s.state) for s in app.recorder.select_events(parse_stream_ref(ref))]
    times = sorted({datetime.fromisoformat(r[f"{axis}_at"]) for r in records
                    for axis in ("occurred", "recorded")})
    around = {t + d for t in times for d in (-US, timedelta(0), US)}
    between = {a + (b - a) / 2 for a, b in itertools.pairwise(times)}
    return sorted(around | between | {times[0] - timedelta(days=1), times[-1] + timedelta(days=1)})


REPLAYED = ("task/T1", "task/T2", "task/T3", "area/A1", "penalty/C1")


def test_replay_through_the_index_equals_the_ledgers_replay(any_ledger: Ledger) -> None:
    """For every version and the moments between events, on both axes, including late records."""
    clock = Clock()
    scenario(any_ledger, clock)
    late_arrival(any_ledger, clock)
    engine = views_for(any_ledger)
    Projector(any_ledger, engine).catch_up()
    axes: tuple[TimeAxis, ...] = ("occurred", "recorded")

    for ref in REPLAYED:
        versions_seen = set()
        for at in moments(any_ledger, ref):
            for axis in axes:
                expected = replay(any_ledger, ref, as_of=at, axis=axis)
                actual = queries.replay_as_of(any_ledger, engine, ref, at, axis)
                assert _plain(actual) == _plain(expected), (ref, at, axis)
                versions_seen.add(actual.version)
        latest = replay(any_ledger, ref).latest_version
        assert {0, latest} <= versions_seen
        if ref == "task/T1":  # one event per command, each at its own time: every version is hit
            assert versions_seen == set(range(latest + 1))
    engine.dispose()


def test_a_late_record_never_leaks_into_an_earlier_occurred_state(ledger: Ledger) -> None:
    """T3's arrival happened 5 minutes in but was recorded 2 hours later: by occurred time it
    counts only once every earlier event had happened; by recorded time only once recorded."""
    clock = Clock()
    scenario(ledger, clock)
    start = clock.now
    late_arrival(ledger, clock)
    engine = views_engine("memory://")
    Projector(ledger, engine).catch_up()
    accepted_at = start + timedelta(minutes=20, seconds=3)

    def status(at: datetime, axis: TimeAxis) -> tuple[int, str]:
        found = queries.replay_as_of(ledger, engine, "task/T3", at, axis)
        return found.version, found.state["status"]

    assert status(start + timedelta(minutes=10), "occurred") == (2, "dispatched")
    assert status(accepted_at, "occurred") == (4, "on_site")
    assert status(accepted_at, "recorded") == (3, "accepted")
    assert status(start + timedelta(hours=3), "recorded") == (6, "completed")


def _plain(state: Any) -> Any:
    return (state.stream_id, state.stream_type, state.version, state.latest_version, state.state,
            state.events)
