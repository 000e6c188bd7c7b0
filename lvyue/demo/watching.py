"""The SLA engine in the demo: the deadline watcher runs every 15 simulated minutes.

Beside the everyday work (which mostly meets its clauses) this adds what makes the engine
speak: night emergencies accepted late, urgent repairs reached late, repairs left waiting for
parts past three working days, a hand-over during a late emergency, and a weekly fire-equipment
check (a clause of its own) that the safety manager sometimes skips — the watcher records
those windows as missed. Each breach and each missed round proposes the clause's penalty,
which then takes the usual path (notification, sometimes an appeal and a ruling).

The watcher ticks at :07, :22, :37 and :52, after the demo's own patrol process has recorded
the windows it skips (one minute after their end), so it never writes those a second time.
It has its own random source, so adding it leaves the rest of the demo's choices alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from ledger.domain.inspections import round_key
from ledger.domain.penalties import PenaltyCase
from ledger.envelope import CommandContext
from ledger.ledger import Ledger
from lvyue.demo import operations as ops
from lvyue.demo.roster import PROPERTIES, Property
from lvyue.demo.schedule import Process, Step, call
from lvyue.demo.setup import CONTRACT
from lvyue.demo.world import World, evidence_digest
from lvyue.watch import Watcher, WatchReport

WATCH_EVERY = timedelta(minutes=15)
WATCH_OFFSET = timedelta(minutes=7)
COUNTS = {
    "clocks started": "SLA计时 clocks started",
    "clocks stopped": "SLA完成 clocks stopped",
    "clocks paused": "SLA暂停 clocks paused",
    "clocks resumed": "SLA恢复 clocks resumed",
    "clocks cancelled": "SLA取消 clocks cancelled",
    "warnings": "SLA预警 warnings",
    "breaches": "SLA超时 breaches",
    "escalations": "SLA升级 escalations",
    "missed rounds": "漏检(监控) missed rounds by the watcher",
    "penalties proposed": "规则处罚 rule penalties",
}
FIRE_ITEMS = (
    "F1|灭火器压力正常 extinguisher pressure normal|pass_fail|10",
    "F2|消防泵房无杂物 pump room clear|pass_fail|10",
)
SlowStory = Callable[[World, random.Random, Property, str, datetime], Process]


def spawn_all(w: World, seed: int, until: datetime) -> None:
    """Add the SLA engine's processes to the demo (their own random source: `sla-<seed>`)."""
    rng = random.Random(f"sla-{seed}")
    w.spawn(fire_setup(w))
    for prop in PROPERTIES:
        w.spawn(fire_checks(w, rng, prop))
        w.spawn(slow_work(w, rng, prop))
    w.spawn(watcher(w, rng, until))


def watcher(w: World, rng: random.Random, until: datetime) -> Process:
    """Wake every 15 minutes and run one watcher pass at that simulated time.

    Plan windows are watched until operations end (`w.days`); clocks until `until`.
    """
    engine = Watcher(w.app, windows_until=w.day(w.days))
    t = w.start + WATCH_OFFSET
    while t < until:
        yield Step(t, "", _wake)
        report = engine.once(t)
        _tally(w, rng, report, t)
        t += WATCH_EVERY
    engine.flush()


def _wake(_ctx: CommandContext) -> None:
    """A step that runs no command: the watcher's pass runs when its process resumes."""


def _tally(w: World, rng: random.Random, report: WatchReport, t: datetime) -> None:
    for what, n in report.written.items():
        for _ in range(n):
            w.count(COUNTS.get(what, what))
    by_id = {p.property_id: p for p in PROPERTIES}
    for case, subject, property_id in report.penalties:
        w.spawn(rule_penalty_path(w, rng, by_id[property_id], case, subject, t))


def rule_penalty_path(
    w: World, rng: random.Random, prop: Property, case_id: str, subject: str, t: datetime
) -> Process:
    """Notified the next day; about a third are appealed and ruled by the performance officer
    (never the proposer, the watcher); the rest are confirmed when the appeal window closes."""
    app, pm = w.app, f"{prop.prefix}-PM"
    case = app.load(PenaltyCase, "penalty", case_id)
    t += timedelta(hours=rng.uniform(15, 30))
    deadline = t + timedelta(days=5)
    yield Step(t, pm, call(app.notify_penalty, case_id, "in_app", True, deadline))
    if rng.random() < 0.35:
        t += timedelta(days=rng.uniform(0.5, 3))
        yield Step(t, subject, call(app.file_appeal, case_id, "已按时处理, 系统记录有误 "
                                    "handled in time, the record is incomplete"))  # fmt: skip
        w.count("规则处罚申诉 rule-penalty appeals")
        t += timedelta(days=rng.uniform(1, 3))
        decision, points, amount = _ruling(rng, case.points, case.amount)
        yield Step(
            t, "HQ-PO",
            call(app.rule_appeal, case_id, decision, "经复核监控记录 after review of the clock "
                 "and its task events", ("HQ-PO", "HQ-LD"), points, amount),
        )  # fmt: skip
        w.count(f"规则处罚裁决 rule-penalty rulings {decision}")
    else:
        t = deadline + timedelta(hours=rng.uniform(1, 30))
        yield Step(t, pm, call(app.confirm_penalty, case_id))


def _ruling(rng: random.Random, points: int, amount: str) -> tuple[str, int | None, str | None]:
    """Upheld, halved, or overturned; a penalty that cannot be halved is overturned instead."""
    decision = rng.choice(("upheld", "upheld", "reduced", "overturned"))
    if decision != "reduced":
        return decision, None, None
    half = (Decimal(amount) / 2).quantize(Decimal("0.01"))
    fewer = max(points // 2, 1) if points else 0
    if (fewer, half) == (points, Decimal(amount)) or (fewer == 0 and half == 0):
        return "overturned", None, None
    return "reduced", fewer, f"{half:.2f}"


# -- the weekly fire-equipment check -----------------------------------------------------


def fire_setup(w: World) -> Process:
    """An hour before operations: the fire clause, checklist, areas and weekly plans."""
    app, t = w.app, w.start - timedelta(hours=1)

    def tick() -> datetime:
        nonlocal t
        t += timedelta(seconds=11)
        return t

    yield Step(
        tick(), "HQ-LD",
        call(app.define_clause, CONTRACT, "FIRE-WEEK", "fire", "frequency", "P7D", "CAL-24X7",
             "ESC-GD", "奖惩制度 第3条", "合同 §9.1 消防设施每周检查 weekly fire-equipment check",
             penalty_points=2, penalty_amount="100.00"),
    )  # fmt: skip
    yield Step(
        tick(), "HQ-PO",
        call(app.publish_checklist, "CL-FIRE", "消防设施周检 weekly fire check", "fire",
             FIRE_ITEMS),
    )  # fmt: skip
    for prop in PROPERTIES:
        p = prop.prefix
        area, sm = f"{p}-FIRE", f"{p}-SM"
        yield Step(
            tick(), f"{p}-PM",
            call(app.define_area, area, prop.property_id, "消防设施 fire equipment",
                 "asset_class", ("fire",)),
        )  # fmt: skip
        yield Step(tick(), f"{p}-PM", call(app.assign_responsibility, area, "fire", sm))
        yield Step(tick(), sm, call(app.accept_responsibility, area, "fire"))
        yield Step(
            tick(), f"{p}-PM",
            call(app.schedule_inspection_plan, f"PL-{p}-FIRE", prop.property_id, area, "CL-FIRE",
                 1, ("PUMP-ROOM",), "P7D", w.start, (sm,)),
        )  # fmt: skip


def fire_checks(w: World, rng: random.Random, prop: Property) -> Process:
    """The safety manager's weekly round; about one week in six it is skipped."""
    app, p = w.app, prop.prefix
    plan, sm = f"PL-{p}-FIRE", f"{p}-SM"
    for week in range(w.days // 7 + 1):
        start = w.start + timedelta(days=7 * week)
        if rng.random() < 0.17:
            continue  # nobody walks it: the watcher records the miss when the week ends
        rid = round_key(plan, start)
        t = start + timedelta(days=rng.randint(0, 5), hours=rng.uniform(9, 16))
        yield Step(t, sm, call(app.start_inspection_round, plan, start))
        t += timedelta(minutes=rng.uniform(5, 20))
        yield Step(t, sm, call(app.visit_checkpoint, rid, "PUMP-ROOM", "nfc"))
        for code in ("F1", "F2"):
            t += timedelta(minutes=rng.uniform(2, 10))
            yield Step(t, sm, call(app.record_checklist_item, rid, code, "pass"))
        t += timedelta(minutes=rng.uniform(2, 8))
        yield Step(t, sm, call(app.complete_inspection_round, rid))


# -- work that misses its clauses ----------------------------------------------------------


def slow_work(w: World, rng: random.Random, prop: Property) -> Process:
    """Every few days, one work order that goes wrong in a way the contract counts."""
    stories: tuple[SlowStory, ...] = (
        night_emergency, late_arrival, waiting_for_parts, handed_over_emergency,
    )  # fmt: skip
    day, n = rng.uniform(1, 4), 0
    while day < w.days:
        n += 1
        task_no = f"{prop.prefix}-S{n:03d}"
        story = stories[n % len(stories)]
        w.spawn(story(w, rng, prop, task_no, w.day(int(day))))
        day += rng.uniform(3, 6)
    return
    yield  # a generator that only spawns


def _register(
    app: Ledger, prop: Property, task_no: str, area: str, kind: str, priority: str, text: str
) -> Callable[[CommandContext], object]:
    line = "emergency" if kind == "emergency" else "repair"
    return lambda c: app.register_task(
        c, task_no, prop.property_id, area, kind, line, priority, "hotline",
        f"{area} {prop.units[len(task_no) % len(prop.units)]}", text,
        f"O-{prop.prefix}-{prop.units[0]}",
    )  # fmt: skip


def night_emergency(
    w: World, rng: random.Random, prop: Property, task_no: str, day: datetime
) -> Process:
    """A burst pipe at night; the duty technician accepts 40–110 minutes later (EMG-ACK 30 min)."""
    app, p = w.app, prop.prefix
    area = f"{p}-{prop.buildings[0]}"
    t = day + timedelta(hours=rng.uniform(1, 5))
    yield Step(t, f"{p}-DS", _register(app, prop, task_no, area, "emergency", "urgent",
                                       "夜间水管爆裂 burst pipe at night"))  # fmt: skip
    responsible = app.responsible_for(area, "emergency", t) or f"{p}-ES"
    executor = f"{p}-T{rng.randint(1, 2)}"
    t += timedelta(minutes=rng.uniform(3, 8))
    yield Step(t, f"{p}-DS", call(app.dispatch_task, task_no, responsible, executor, "manual"))
    t += timedelta(minutes=rng.uniform(40, 110))
    yield from _finish(w, rng, prop, task_no, t, "emergency", responsible, executor)


def late_arrival(
    w: World, rng: random.Random, prop: Property, task_no: str, day: datetime
) -> Process:
    """An urgent repair reached 45–90 minutes after it was reported (REP-ARR 30 min)."""
    app, p = w.app, prop.prefix
    area = f"{p}-{prop.buildings[-1]}"
    t = day + timedelta(hours=rng.uniform(8, 20))
    yield Step(t, f"{p}-DS", _register(app, prop, task_no, area, "repair", "urgent",
                                       "电梯厅停电 no power in the lift lobby"))  # fmt: skip
    responsible = app.responsible_for(area, "repair", t) or f"{p}-ES"
    executor = f"{p}-T{rng.randint(1, 2)}"
    t += timedelta(minutes=rng.uniform(2, 6))
    yield Step(t, f"{p}-DS", call(app.dispatch_task, task_no, responsible, executor, "manual"))
    t += timedelta(minutes=rng.uniform(2, 6))
    yield Step(t, executor, call(app.accept_task, task_no))
    t += timedelta(minutes=rng.uniform(40, 80))
    yield from _finish(w, rng, prop, task_no, t, "repair", responsible, executor, accepted=True)


def waiting_for_parts(
    w: World, rng: random.Random, prop: Property, task_no: str, day: datetime
) -> Process:
    """A repair held 4–7 days for parts: a company-caused hold never pauses REP-RES (P3D)."""
    app, p = w.app, prop.prefix
    area = f"{p}-{prop.buildings[0]}"
    t = day + timedelta(hours=rng.uniform(9, 16))
    yield Step(t, f"{p}-DS", _register(app, prop, task_no, area, "repair", "normal",
                                       "空调压缩机故障 AC compressor failed"))  # fmt: skip
    responsible = app.responsible_for(area, "repair", t) or f"{p}-ES"
    executor = responsible if responsible[-2] == "T" else f"{p}-T1"
    t += timedelta(minutes=rng.uniform(10, 30))
    yield Step(t, f"{p}-DS", call(app.dispatch_task, task_no, responsible, executor, "manual"))
    for step in (app.accept_task, app.arrive_on_site, app.start_work):
        t += timedelta(minutes=rng.uniform(5, 25))
        yield Step(t, executor, call(step, task_no))
    t += timedelta(minutes=rng.uniform(10, 30))
    yield Step(t, executor, call(app.put_task_on_hold, task_no, "company",
                                 "等待配件 waiting for parts"))  # fmt: skip
    t += timedelta(days=rng.uniform(4, 7))
    yield Step(t, executor, call(app.resume_task, task_no))
    t += timedelta(minutes=rng.uniform(30, 120))
    yield from _complete(w, rng, prop, task_no, t, "repair", responsible, executor)


def handed_over_emergency(
    w: World, rng: random.Random, prop: Property, task_no: str, day: datetime
) -> Process:
    """The first technician is pulled away; the task is handed over before it breaches, so the
    breach names the colleague who held it then, not the one who had it first."""
    app, p = w.app, prop.prefix
    area = f"{p}-{prop.buildings[0]}"
    t = day + timedelta(hours=rng.uniform(18, 22))
    yield Step(t, f"{p}-DS", _register(app, prop, task_no, area, "emergency", "urgent",
                                       "烟感报警 smoke alarm"))  # fmt: skip
    first, second = f"{p}-T1", f"{p}-T2"
    t += timedelta(minutes=rng.uniform(3, 8))
    yield Step(t, f"{p}-DS", call(app.dispatch_task, task_no, first, first, "manual"))
    t += timedelta(minutes=rng.uniform(8, 15))
    yield Step(t, f"{p}-ES", call(app.reassign_task, task_no, second, second,
                                  f"{first} 被调往另一处急修 pulled to another job"))  # fmt: skip
    t += timedelta(minutes=rng.uniform(30, 60))
    yield from _finish(w, rng, prop, task_no, t, "emergency", second, second)


def _finish(
    w: World, rng: random.Random, prop: Property, task_no: str, t: datetime, kind: str,
    responsible: str, executor: str, accepted: bool = False,
) -> Process:  # fmt: skip
    """Accept (unless already), arrive, work, complete, then sign and close as usual."""
    app = w.app
    steps = (app.arrive_on_site, app.start_work) if accepted else (
        app.accept_task, app.arrive_on_site, app.start_work
    )  # fmt: skip
    for step in steps:
        yield Step(t, executor, call(step, task_no))
        t += timedelta(minutes=rng.uniform(3, 15))
    t += timedelta(minutes=rng.uniform(20, 60))
    yield from _complete(w, rng, prop, task_no, t, kind, responsible, executor)


def _complete(
    w: World, rng: random.Random, prop: Property, task_no: str, t: datetime, kind: str,
    responsible: str, executor: str,
) -> Process:  # fmt: skip
    photo = evidence_digest(rng)
    yield Step(t, executor, call(w.app.complete_work, task_no, "已处理完毕 done", (photo,)))
    reporter = f"O-{prop.prefix}-{prop.units[0]}"
    yield from ops.sign_and_close(w, prop, task_no, t, kind, responsible, executor, reporter)
