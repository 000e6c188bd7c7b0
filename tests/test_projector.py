"""The batched projector: rebuild equals incremental, crashes roll back whole pages, resumes lose
nothing and count nothing twice, and two projectors never apply the same page."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, Table, select
from typer.testing import CliRunner

from ledger.domain.areas import Area
from ledger.domain.tasks import Task
from ledger.errors import DomainError
from ledger.ids import stream_id
from ledger.ledger import Ledger
from lvyue import projection_commands
from lvyue.cli import app as cli
from lvyue.projection_commands import progress_line
from projections import projector as projector_module
from projections.database import views_engine
from projections.page_reader import state_reader
from projections.projector import Projector, View
from projections.schema import Record, positions
from projections.views import all_views
from tests.clock import PHOTO, T0, Clock
from tests.conftest import PG_URL
from tests.test_inspections import record_all_pass
from tests.test_inspections import setup as inspection_setup
from tests.test_inspections import start as start_round

DOC = "cd" * 32
BASIS = ("6c1b7a52-2d63-5d0f-9d7e-0c1f3a4b5c6d",)

Snapshot = dict[str, list[tuple[Any, ...]]]


# -- helpers shared with test_views --------------------------------------------------------------


def views_for(app: Ledger) -> Engine:
    """The views' engine on the same database as the ledger's events."""
    module = str(app.env.get("PERSISTENCE_MODULE"))
    if "sqlite" in module:
        return views_engine(f"sqlite:///{app.env.get('SQLITE_DBNAME')}")
    if "postgres" in module:
        return views_engine(PG_URL, schema=app.env.get("POSTGRES_SCHEMA"))
    return views_engine("memory://")


@contextlib.contextmanager
def projected(app: Ledger, views: Sequence[View] | None = None, page_size: int = 1000
              ) -> Iterator[Projector]:
    engine = views_for(app)
    try:
        yield Projector(app, engine, views, page_size)
    finally:
        engine.dispose()


def snapshot(engine: Engine, views: Sequence[View] | None = None) -> Snapshot:
    """Every row of every view table (and the positions), in primary-key order."""
    tables: list[Table] = [positions, *(t for v in views or all_views() for t in v.tables)]
    with engine.connect() as conn:
        return {
            table.name: [tuple(row) for row in conn.execute(
                select(table).order_by(*table.primary_key.columns)
            )]
            for table in tables
        }


class Stepping:
    """Calls through to the ledger and catches the views up after every command."""

    def __init__(self, app: Ledger, projector: Projector) -> None:
        self.app = app
        self.projector = projector

    def __getattr__(self, name: str) -> Any:
        command = getattr(self.app, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return command(*args, **kwargs)
            finally:
                self.projector.catch_up()

        return call


def scenario(app: Any, clock: Clock) -> None:
    """Every view's events: inspections, areas, work rules, two tasks, a penalty, a correction."""
    inspection_setup(app, clock)
    round_id = start_round(app, clock)
    record_all_pass(app, clock, round_id)
    app.complete_inspection_round(clock.ctx("I1"), round_id)
    for person, family, position in (
        ("S1", "management", "project_manager"), ("S2", "management", "site_supervisor"),
        ("S3", "engineering", "technician"), ("S4", "engineering", "technician"),
        ("D1", "customer_service", "dispatcher"), ("Q1", "quality", "quality_inspector"),
    ):
        app.onboard_staff(clock.admin(), person, f"E-{person}", family)
        app.assign_position(clock.admin(), person, position, "P1")
    app.define_area(clock.admin(), "A1", "P1", "1号楼 Building 1", "building",
                    ("repair", "cleaning"))
    app.assign_responsibility(clock.ctx("S2"), "A1", "repair", "S3",
                              effective_from=T0 - timedelta(days=30))
    app.accept_responsibility(clock.ctx("S3"), "A1", "repair")
    app.assign_responsibility(clock.ctx("S4"), "A1", "cleaning", "S4")
    app.publish_work_rule(clock.admin(), "R1", "奖惩制度 v1", DOC, "职代会决议 2026-03", T0)
    app.acknowledge_work_rule(clock.ctx("S3"), "R1", "S3", 1)
    task_lifecycle(app, clock)
    app.hand_over_responsibility(clock.ctx("S2"), "A1", "repair", "S4", "轮岗 rotation",
                                 effective_at=clock.now)
    clock.advance(hours=3)
    late = clock.now - timedelta(hours=2)
    app.register_task(clock.ctx("D1", occurred_at=late), "T2", "P1", "A1", "repair", "repair",
                      "normal", "hotline", "B1-0101", "灯不亮 light out")
    app.cancel_task(clock.ctx("D1"), "T2", "duplicate")
    app.release_responsibility(clock.ctx("S2"), "A1", "cleaning", "离岗 left the post",
                               effective_to=clock.now)
    accountability(app, clock)


def task_lifecycle(app: Any, clock: Clock) -> None:
    """T1: decline, hold, sign-off, owner return, reopen, hand-over, second sign-off, close."""
    app.register_task(clock.ctx("D1"), "T1", "P1", "A1", "repair", "repair", "normal", "app",
                      "B1-1203", "卫生间漏水 leaking pipe", reporter_id="O1")
    app.dispatch_task(clock.ctx("D1"), "T1", "S3", "S4")
    app.decline_task(clock.ctx("S4"), "T1", "on leave")
    app.dispatch_task(clock.ctx("D1"), "T1", "S3", "S3")
    for step in (app.accept_task, app.arrive_on_site, app.start_work):
        step(clock.ctx("S3"), "T1")
    app.put_task_on_hold(clock.ctx("S3"), "T1", "company", "waiting for parts")
    app.resume_task(clock.ctx("S3"), "T1")
    app.complete_work(clock.ctx("S3"), "T1", "换了阀门 replaced the valve", (PHOTO,))
    app.sign_off_completion(clock.ctx("S3"), "T1", "good")
    app.owner_return(clock.ctx("D1", on_behalf_of="O1"), "T1", "still leaking")
    app.reopen_task(clock.ctx("D1"), "T1", "owner returned")
    app.dispatch_task(clock.ctx("D1"), "T1", "S3", "S4")
    app.reassign_task(clock.ctx("S3"), "T1", "S2", "S3", "S4 off sick; S3 takes over")
    for step in (app.accept_task, app.arrive_on_site, app.start_work):
        step(clock.ctx("S3"), "T1")
    app.complete_work(clock.ctx("S3"), "T1", "换了整段管 replaced the pipe", (PHOTO,))
    app.sign_off_completion(clock.ctx("S2"), "T1", "good")
    app.owner_accept(clock.ctx("O1", "owner"), "T1", 4, "ok")
    app.close_task(clock.ctx("D1"), "T1", "accepted")


def accountability(app: Any, clock: Clock) -> None:
    """A penalty acknowledged, appealed and upheld; a corrective action verified; a notice."""
    app.propose_penalty(clock.ctx("S1"), "C1", "P1", "S4", "R1", 1, "§4.2 late", 1, "50.00",
                        "3000.00", "2000.00", BASIS, "arrived late")
    app.notify_penalty(clock.ctx("S1"), "C1", "paper", True, clock.now + timedelta(days=3))
    app.file_appeal(clock.ctx("S4"), "C1", "the lift was broken")
    app.rule_appeal(clock.ctx("S2"), "C1", "upheld", "CCTV shows the lift worked", ("Q1",))
    due = clock.now + timedelta(days=7)
    app.open_corrective_action(clock.admin(), "CA1", "P1", "complaint", "T1",
                               "漏水反复 recurring leak", "S2", due)
    app.plan_corrective_action(clock.ctx("S2"), "CA1", "阀门老化 worn valve", "更换 replace", due)
    app.implement_corrective_action(clock.ctx("S3", evidence=(PHOTO,)), "CA1", "已更换 replaced")
    app.verify_corrective_action(clock.ctx("Q1"), "CA1", True, "ok")
    app.publish_notice(clock.ctx("D1", evidence=(PHOTO,)), "N1", "P1", "responsible_persons",
                       "责任人公示 responsible persons", ("A1",), ("board", "app"), T0, None, DOC)


# -- rebuild equals incremental --------------------------------------------------------------


def test_rebuild_equals_incremental_on_every_store(any_ledger: Ledger) -> None:
    """Catching up after every command, in pages of 7, gives exactly what a rebuild gives."""
    with projected(any_ledger, page_size=7) as projector:
        scenario(Stepping(any_ledger, projector), Clock())
        incremental = snapshot(projector.engine)
        events = projector.rebuild()
        rebuilt = snapshot(projector.engine)

    assert incremental == rebuilt
    assert len(incremental["notices"]) == 1
    assert events == len(incremental["trail_events"]) == len(list(_all_notifications(any_ledger)))
    assert {row[1] for row in incremental["projection_positions"]} == {
        any_ledger.recorder.max_notification_id()
    }


def _all_notifications(app: Ledger) -> Iterator[int]:
    start = 0
    while page := app.recorder.select_notifications(start, 500, inclusive_of_start=False):
        yield from (n.id for n in page)
        start = page[-1].id


PEOPLE = ("S1", "S2", "S3", "D1")
NEXT = {  # the lifecycle the generator mostly follows (cancel and hand-over are detours)
    None: ("register",),
    "registered": ("dispatch",),
    "dispatched": ("accept", "accept", "decline"),
    "declined": ("dispatch",),
    "accepted": ("arrive",),
    "on_site": ("start",),
    "in_progress": ("complete", "complete", "hold"),
    "on_hold": ("resume",),
    "completed": ("sign_off",),
    "signed_off": ("owner_accept", "owner_return", "close_auto"),
    "owner_accepted": ("close",),
    "returned": ("reopen",),
    "reopened": ("dispatch",),
    "closed": (),
    "cancelled": (),
}
EVERY_TASK_COMMAND = (*sorted({c for commands in NEXT.values() for c in commands}),
                      "reassign", "cancel")
AREA_NEXT = {None: ("assign_area",), False: ("accept_area", "hand_over_area", "release_area"),
             True: ("hand_over_area", "release_area")}
AREA_COMMANDS = ("assign_area", "accept_area", "hand_over_area", "release_area")


def _task_state(app: Ledger, task_no: str) -> Task | None:
    try:
        task: object = app.repository.get(stream_id("task", task_no))
    except AggregateNotFoundError:
        return None
    assert isinstance(task, Task)
    return task


def _right_actor(command: str, task: Task | None, holder: dict[str, Any] | None) -> str:
    """Who may issue the command now (the generator usually, not always, picks them)."""
    if command in ("accept", "decline", "arrive", "start", "complete", "hold", "resume"):
        return str(task.executor_id) if task is not None else "D1"
    if command == "sign_off":
        return str(task.responsible_id) if task is not None else "D1"
    if command == "accept_area":
        return str(holder["responsible_id"]) if holder else "D1"
    return "D1"


def _draw_step(data: st.DataObject, app: Ledger) -> tuple[str, str, str, str, str, int]:
    """(command, task, actor, person, person, minutes late): mostly legal, sometimes not."""
    task_no = data.draw(st.sampled_from(("T1", "T2", "T1", "T2", "area")), label="target")
    task = None if task_no == "area" else _task_state(app, task_no)
    area: Area = app.repository.get(stream_id("area", "A1"))
    holder = area.holders.get("repair")
    legal: tuple[str, ...]
    anything: tuple[str, ...]
    if task_no == "area":
        legal = AREA_NEXT[None if holder is None else bool(holder["accepted"])]
        anything = AREA_COMMANDS
    else:
        legal = NEXT[None if task is None else task.status]
        anything = EVERY_TASK_COMMAND
    command = data.draw(st.sampled_from(legal * 20 + anything), label="command")
    right = _right_actor(command, task, holder)
    actor = data.draw(st.sampled_from((*[right] * 8, *PEOPLE)), label="actor")
    people = st.sampled_from(PEOPLE[:3])
    late = data.draw(st.sampled_from((0, 0, 0, 1, 5, 30, 200)), label="minutes late")
    return command, task_no, actor, data.draw(people), data.draw(people), late


def _command(app: Ledger, clock: Clock, step: tuple[str, str, str, str, str, int]) -> Any:
    """Run one generated command; refused ones raise their domain error."""
    name, task, actor, p1, p2, late_minutes = step
    ctx = clock.ctx(actor, occurred_at=clock.now - timedelta(minutes=late_minutes))
    owner = clock.ctx("O1", "owner")
    table: dict[str, Callable[[], Any]] = {
        "register": lambda: app.register_task(
            ctx, task, "P1", "A1", "repair", "repair", "normal", "app", "B1", "漏水",
            reporter_id="O1"),
        "dispatch": lambda: app.dispatch_task(ctx, task, p1, p2),
        "accept": lambda: app.accept_task(ctx, task),
        "decline": lambda: app.decline_task(ctx, task, "busy"),
        "reassign": lambda: app.reassign_task(ctx, task, p1, p2, "hand-over"),
        "arrive": lambda: app.arrive_on_site(ctx, task),
        "start": lambda: app.start_work(ctx, task),
        "hold": lambda: app.put_task_on_hold(ctx, task, "company", "parts"),
        "resume": lambda: app.resume_task(ctx, task),
        "complete": lambda: app.complete_work(ctx, task, "done", (PHOTO,)),
        "sign_off": lambda: app.sign_off_completion(ctx, task),
        "owner_accept": lambda: app.owner_accept(owner, task, 5),
        "owner_return": lambda: app.owner_return(owner, task, "no"),
        "reopen": lambda: app.reopen_task(ctx, task, "returned"),
        "close": lambda: app.close_task(ctx, task, "accepted"),
        "close_auto": lambda: app.auto_close_task(
            clock.ctx(actor, occurred_at=clock.advance(days=1)), task, "policy §1", 1),
        "cancel": lambda: app.cancel_task(ctx, task, "dup"),
        "assign_area": lambda: app.assign_responsibility(ctx, "A1", "repair", p1),
        "accept_area": lambda: app.accept_responsibility(ctx, "A1", "repair"),
        "hand_over_area": lambda: app.hand_over_responsibility(ctx, "A1", "repair", p1, "rota"),
        "release_area": lambda: app.release_responsibility(ctx, "A1", "repair", "leave"),
    }
    return table[name]()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), page_size=st.integers(1, 6), length=st.integers(0, 60))
def test_rebuild_equals_incremental_for_random_commands(
    data: st.DataObject, page_size: int, length: int
) -> None:
    """Random task lifecycles and area hand-overs by random actors (some refused, some reported
    late), caught up in small pages after every command, give exactly a one-page rebuild."""
    app = Ledger("memory://")
    clock = Clock()
    for person in PEOPLE:
        app.onboard_staff(clock.admin(), person, f"E-{person}", "engineering")
        app.assign_position(clock.admin(), person, "technician", "P1")
    app.define_area(clock.admin(), "A1", "P1", "1号楼", "building", ("repair",))
    with projected(app, page_size=page_size) as projector:
        projector.catch_up()
        for _ in range(length):
            with contextlib.suppress(DomainError):
                _command(app, clock, _draw_step(data, app))
            clock.advance(minutes=7)
            projector.catch_up()
        incremental = snapshot(projector.engine)
        projector.page_size = 1000
        projector.rebuild()

        assert snapshot(projector.engine) == incremental
    app.close()


# -- crashes and resumes -----------------------------------------------------------------------


class Failing:
    """A view that raises on its Nth apply, after the other views wrote their part of the page."""

    def __init__(self, inner: View, fail_on_call: int) -> None:
        self.inner = inner
        self.fail_on_call = fail_on_call
        self.calls = 0
        self.armed = True

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def tables(self) -> Sequence[Table]:
        return self.inner.tables

    def apply(self, conn: Connection, records: Sequence[Record], ids: Sequence[int]) -> None:
        self.calls += 1
        self.inner.apply(conn, records, ids)  # rows written, then the failure: all must roll back
        if self.armed and self.calls == self.fail_on_call:
            raise RuntimeError("injected failure")


def test_a_failed_page_rolls_back_and_resume_matches_an_uninterrupted_run(
    any_ledger: Ledger,
) -> None:
    """A view failing mid-page leaves every position and row as before; resuming gives exactly the
    rows of a run that never failed."""
    scenario(any_ledger, Clock())
    views = all_views()
    failing = Failing(views[-1], fail_on_call=3)
    with projected(any_ledger, [*views[:-1], failing], page_size=10) as projector:
        with pytest.raises(RuntimeError, match="injected"):
            projector.catch_up()
        twentieth = list(_all_notifications(any_ledger))[19]
        assert set(projector.positions().values()) == {twentieth}  # two pages committed
        before = snapshot(projector.engine)
        failing.calls = 2
        with pytest.raises(RuntimeError, match="injected"):
            projector.step()
        assert snapshot(projector.engine) == before

        failing.armed = False
        projector.catch_up()
        resumed = snapshot(projector.engine)
        projector.rebuild()

        assert snapshot(projector.engine) == resumed
    assert failing.calls > 3


def test_resume_after_restart_applies_only_new_events(any_ledger: Ledger) -> None:
    """A new projector (a restarted process) starts at the stored positions: new events only."""
    clock = Clock()
    scenario(any_ledger, clock)
    engine = views_for(any_ledger)
    Projector(any_ledger, engine).catch_up()
    any_ledger.comment_on_task(clock.ctx("D1"), "T1", "follow-up call made")
    in_memory = "popo" in str(any_ledger.env.get("PERSISTENCE_MODULE")).lower() or (
        "memory" in str(any_ledger.env.get("PERSISTENCE_MODULE"))
    )
    restarted = engine if in_memory else views_for(any_ledger)  # memory views die with the engine
    second = Projector(any_ledger, restarted)

    assert second.catch_up() == 1
    assert second.catch_up() == 0
    assert set(second.positions().values()) == {any_ledger.recorder.max_notification_id()}
    engine.dispose()
    restarted.dispose()


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_two_projectors_never_apply_the_same_page(
    store: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two projectors racing over one database (no in-process lock) serialise on the position
    rows: no page is applied twice (a duplicate would violate a primary key) and the result
    equals a rebuild."""
    from tests.conftest import make_ledger

    schema = request.getfixturevalue("pg_schema") if store == "postgres" else None
    app = make_ledger(store, tmp_path, schema)
    scenario(app, Clock())
    monkeypatch.setattr(projector_module, "_IN_PROCESS", contextlib.nullcontext())
    engines = [views_for(app), views_for(app)]
    projectors = [Projector(app, engine, page_size=3) for engine in engines]
    errors: list[BaseException] = []

    def run(projector: Projector) -> None:
        try:
            projector.catch_up()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(p,)) for p in projectors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    raced = snapshot(engines[0])
    projectors[0].rebuild()

    assert errors == []
    assert snapshot(engines[0]) == raced
    for engine in engines:
        engine.dispose()
    app.close()


def test_a_changed_view_table_is_rebuilt_on_start(ledger: Ledger) -> None:
    """A view whose DDL changed since its rows were written is dropped and rebuilt."""
    scenario(ledger, Clock())
    engine = views_engine("memory://")
    Projector(ledger, engine).catch_up()
    with engine.begin() as conn:
        conn.execute(positions.update().where(positions.c.view == "trail").values(fingerprint="x"))
    projector = Projector(ledger, engine)

    assert projector.positions()["trail"] == 0
    assert projector.positions()["chain"] == ledger.recorder.max_notification_id()
    projector.catch_up()
    assert len(snapshot(engine)["trail_events"]) == ledger.recorder.max_notification_id()


@pytest.mark.parametrize("stop", [1, 7, 23])
def test_catching_up_to_a_position_applies_nothing_after_it(ledger: Ledger, stop: int) -> None:
    """`catch_up(stop=)` ends exactly at `stop`, even inside a page (a ranking recomputed
    as published replays the log only up to its pinned position)."""
    scenario(ledger, Clock())
    assert (ledger.recorder.max_notification_id() or 0) > stop
    engine = views_engine("memory://")
    projector = Projector(ledger, engine, page_size=10)
    assert projector.catch_up(stop=stop) == stop
    assert set(projector.positions().values()) == {stop}
    assert [row[0] for row in snapshot(engine)["trail_events"]] == list(range(1, stop + 1))
    assert projector.catch_up(stop=stop) == 0


def test_the_raw_page_read_is_the_notifications_id_and_state(any_ledger: Ledger) -> None:
    """`select_states` (the projector's read) skips the notification objects, nothing else."""
    scenario(any_ledger, Clock())
    recorder = any_ledger.recorder
    select = state_reader(any_ledger)
    assert select.__name__ == "select_states"  # the store's own read, not the fallback
    last = recorder.max_notification_id() or 0
    for after, limit in ((0, 5), (3, 4), (0, last + 10), (last, 5)):
        notes = recorder.select_notifications(after, limit, inclusive_of_start=False)
        assert select(after, limit) == [(n.id, n.state) for n in notes]
    assert len(select(0, last + 10)) == last


def test_a_library_recorder_is_read_through_its_notifications() -> None:
    """A recorder without `select_states` (the eventsourcing library's own) still serves the
    projector's page read, with the same ids and states."""
    app: Application[UUID] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    for _ in range(5):
        app.save(Aggregate())
    select = state_reader(app)
    assert select.__name__ == "from_notifications"
    for after, limit in ((0, 3), (2, 10), (5, 1)):
        notes = app.recorder.select_notifications(after, limit, inclusive_of_start=False)
        assert select(after, limit) == [(n.id, n.state) for n in notes]
    assert [i for i, _ in select(0, 10)] == [1, 2, 3, 4, 5]


def test_a_retired_view_is_dropped_on_start(ledger: Ledger) -> None:
    """The old stream_index view (now columns of the trail) leaves no table or position."""
    scenario(ledger, Clock())
    engine = views_engine("memory://")
    Projector(ledger, engine).catch_up()
    before = snapshot(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE stream_index (stream_id TEXT, version INTEGER)")
        conn.execute(positions.insert().values(view="stream_index", position=3, fingerprint="f"))

    Projector(ledger, engine)

    with engine.connect() as conn:
        views = set(conn.execute(select(positions.c.view)).scalars())
        tables = set(conn.exec_driver_sql("SELECT name FROM sqlite_master").scalars())
    assert "stream_index" not in views | tables
    assert views == {view.name for view in all_views()}
    assert snapshot(engine) == before  # the live views are untouched


def test_unknown_view_names_are_refused(ledger: Ledger) -> None:
    with pytest.raises(projector_module.UnknownView, match="nope"):
        Projector(ledger, views_engine("memory://")).rebuild(["trail", "nope"])


def test_a_rebuild_reports_each_committed_page_up_to_the_head(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario(ledger, Clock())
    head = int(ledger.recorder.max_notification_id() or 0)
    heard: list[tuple[int, int]] = []
    monkeypatch.setattr(projector_module, "REBUILD_PAGE_SIZE", 5)
    projector = Projector(ledger, views_engine("memory://"), page_size=5)

    events = projector.rebuild(progress=lambda at, top: heard.append((at, top)))

    assert events == head > 10
    assert [at for at, _ in heard] == [min(5 * k, head) for k in range(1, -(-head // 5) + 1)]
    assert {top for _, top in heard} == {head}
    assert projector.head() == head


def test_catching_up_reports_every_page_and_stays_silent_when_current(ledger: Ledger) -> None:
    scenario(ledger, Clock())
    head = int(ledger.recorder.max_notification_id() or 0)
    heard: list[tuple[int, int]] = []
    projector = Projector(ledger, views_engine("memory://"), page_size=7)
    projector.catch_up(progress=lambda at, top: heard.append((at, top)))
    projector.catch_up(progress=lambda at, top: heard.append((at, top)))

    assert [at for at, _ in heard] == [min(7 * k, head) for k in range(1, -(-head // 7) + 1)]
    assert {top for _, top in heard} == {head}


def test_rebuilding_one_view_leaves_the_others_alone(ledger: Ledger) -> None:
    scenario(ledger, Clock())
    engine = views_engine("memory://")
    projector = Projector(ledger, engine)
    projector.catch_up()
    before = snapshot(engine)

    projector.rebuild(["signatures"])

    assert snapshot(engine) == before


# -- `lvyue rebuild` -------------------------------------------------------------------------


def test_progress_line_says_where_a_rebuild_is_and_how_long_is_left() -> None:
    line = progress_line(120_000, 1_000_000, 8.0)
    assert line == (
        "重建中 rebuilding: 120,000 / 1,000,000 (12%), 15,000 events/s, about 59 s left"
    )
    assert progress_line(10, 10, 1.0).endswith("(100%), 10 events/s")
    assert progress_line(0, 0, 0.0) == "重建中 rebuilding: 0 / 0 (100%), 0 events/s"


def test_the_rebuild_command_reports_progress_and_the_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'lvyue.db'}"
    monkeypatch.setenv("LVYUE_DATABASE_URL", url)
    monkeypatch.setattr(projection_commands, "PROGRESS_EVERY", 0.0)
    app = Ledger(url)
    scenario(app, Clock())
    head = app.recorder.max_notification_id()
    app.close()

    result = CliRunner().invoke(cli, ["rebuild", "trail"])

    assert result.exit_code == 0, result.output
    assert f"重建中 rebuilding: {head:,} / {head:,} (100%)" in result.output
    assert f"重建 rebuilt trail: {head:,} events" in result.output

