"""Ninety days of operations: work orders, patrols, inspections, fixes, penalties and rulings."""

from __future__ import annotations

from datetime import datetime, timedelta

from ledger.domain.inspections import round_key
from ledger.envelope import CommandContext
from lvyue.demo.roster import MINIMUM_WAGE, WAGES, Property, phone_of
from lvyue.demo.schedule import Process, Step, call
from lvyue.demo.world import Finding, World, evidence_digest, first_event_id

KINDS = (
    ("repair", 0.55),
    ("cleaning", 0.12),
    ("security", 0.08),
    ("complaint", 0.17),
    ("emergency", 0.08),
)
LINE_OF = {
    "repair": "repair",
    "cleaning": "cleaning",
    "security": "security",
    "complaint": "complaint",
    "emergency": "emergency",
}
PROBLEMS = {
    "repair": (
        "卫生间漏水 leaking pipe",
        "灯不亮 light out",
        "门锁损坏 broken lock",
        "空调不制冷 AC not cooling",
    ),
    "cleaning": ("楼道有垃圾 rubbish in corridor", "地面湿滑 wet floor"),
    "security": ("陌生人尾随进门 tailgating", "车辆乱停 blocked fire lane"),
    "complaint": ("装修噪音 renovation noise", "物业费疑问 fee question", "宠物扰民 pet nuisance"),
    "emergency": ("水管爆裂 burst pipe", "电梯困人 elevator entrapment", "烟感报警 smoke alarm"),
}
AUTO_CLOSE_POLICY = "C-2026-001 §6.4 业主签收后三日内未答复视为验收 owner silent 3 days after sign-off"
AUTO_CLOSE_DAYS = 3
EXECUTORS = {"repair": "T", "emergency": "T", "cleaning": "C", "security": "G", "complaint": "DS"}


def executors(w: World, prop: Property, kind: str) -> list[str]:
    code = EXECUTORS[kind]
    if code == "DS":
        return [f"{prop.prefix}-DS"]
    count = {"T": 5, "C": 3, "G": 4}[code]
    people = [f"{prop.prefix}-{code}{i}" for i in range(1, count + 1)]
    return [p for p in people if p not in w.unavailable]


def spawn_tasks(w: World, prop: Property, per_day: float) -> None:
    """Each work order is its own process, so they overlap as they would on site."""
    for day in range(w.days):
        count = max(0, round(w.rng.gauss(per_day, per_day**0.5)))
        for n in range(count):
            at = w.day(day, _busy_hour(w))
            kind = _pick(w, KINDS)
            w.spawn(task_life(w, prop, f"{prop.prefix}-{day + 1:02d}{n:02d}", at, kind))


def _wake(_ctx: object) -> None:
    """A step that runs no command: it only lets a process look at the world at that time."""


def _busy_hour(w: World) -> float:
    return min(23.9, max(0.1, w.rng.gauss(13.5, 4.0)))


def _pick(w: World, weighted: tuple[tuple[str, float], ...]) -> str:
    roll, total = w.rng.random(), 0.0
    for value, weight in weighted:
        total += weight
        if roll < total:
            return value
    return weighted[-1][0]


def task_life(w: World, prop: Property, task_no: str, at: datetime, kind: str) -> Process:
    """One work order's whole story, with realistic detours."""
    app, rng, p = w.app, w.rng, prop.prefix
    area = f"{p}-{rng.choice(prop.buildings)}"
    line = LINE_OF[kind]
    if kind == "security":
        area = f"{p}-PUBLIC"
    reporter = f"O-{p}-{rng.choice(prop.units)}"
    priority = "urgent" if kind == "emergency" else rng.choice(("normal", "normal", "high", "low"))
    channel = rng.choice(("app", "hotline", "wechat", "visit"))
    ds = f"{p}-DS"
    yield Step(
        at,
        ds,
        lambda c: app.register_task(
            c,
            task_no,
            prop.property_id,
            area,
            kind,
            line,
            priority,
            channel,
            f"{area} {rng.choice(prop.units)}",
            rng.choice(PROBLEMS[kind]),
            reporter,
            reporter_phone=phone_of(reporter),
        ),
    )
    w.count("tasks")
    t = at + w.minutes(1, 8 if kind == "emergency" else 25)
    if rng.random() < 0.02:
        yield Step(
            t, ds, lambda c: app.cancel_task(c, task_no, "业主撤回 owner withdrew the request")
        )
        return
    responsible = app.responsible_for(area, line, t) or f"{p}-ES"
    pool = executors(w, prop, kind)
    executor = rng.choice(pool)
    yield Step(t, ds, lambda c: app.dispatch_task(c, task_no, responsible, executor, "manual"))
    if len(pool) > 1 and rng.random() < 0.07:
        t += w.minutes(2, 10)
        yield Step(
            t,
            executor,
            lambda c: app.decline_task(c, task_no, "正在处理其他急修 busy on another job"),
        )
        executor = rng.choice([x for x in pool if x != executor])
        t += w.minutes(1, 6)
        yield Step(t, ds, lambda c: app.dispatch_task(c, task_no, responsible, executor, "manual"))
    yield from work_and_sign(w, prop, task_no, t, kind, responsible, executor, reporter)


def work_and_sign(
    w: World,
    prop: Property,
    task_no: str,
    t: datetime,
    kind: str,
    responsible: str,
    executor: str,
    reporter: str,
) -> Process:
    """Accept, arrive, work (with holds and hand-overs), complete, sign off, owner decides."""
    app, rng = w.app, w.rng
    t += w.minutes(1, 8)
    yield Step(t, executor, lambda c: app.accept_task(c, task_no))
    pool = executors(w, prop, kind)
    if len(pool) > 1 and rng.random() < 0.05:
        t += w.minutes(5, 40)
        successor = rng.choice([x for x in pool if x != executor])
        old = executor
        yield Step(
            t,
            responsible,
            lambda c: app.reassign_task(
                c,
                task_no,
                responsible,
                successor,
                f"{old} 临时调往急修, 交接给 {successor} handed over",
            ),
        )
        executor = successor
        t += w.minutes(1, 10)
        yield Step(t, executor, lambda c: app.accept_task(c, task_no))
    late = rng.random() < (0.25 if kind == "emergency" else 0.15)
    t += w.minutes(31, 70) if late else w.minutes(6, 28)
    yield Step(t, executor, lambda c: app.arrive_on_site(c, task_no, rng.choice(("gps", "qr"))))
    t += w.minutes(1, 5)
    yield Step(t, executor, lambda c: app.start_work(c, task_no))
    if kind in ("repair", "cleaning") and rng.random() < 0.05:
        t += w.minutes(10, 30)
        photo = evidence_digest(rng)
        yield Step(
            t,
            executor,
            lambda c: app.put_task_on_hold(
                c, task_no, "owner", "业主不在家, 约定改期 owner not home, rescheduled"
            ),
            evidence=(photo,),
        )
        t += timedelta(hours=rng.uniform(2, 20))
        yield Step(t, executor, lambda c: app.resume_task(c, task_no))
    t += w.minutes(20, 150)
    photo = evidence_digest(rng)
    yield Step(t, executor, lambda c: app.complete_work(c, task_no, "已处理完毕 done", (photo,)))
    yield from sign_and_close(w, prop, task_no, t, kind, responsible, executor, reporter)


def sign_and_close(
    w: World,
    prop: Property,
    task_no: str,
    t: datetime,
    kind: str,
    responsible: str,
    executor: str,
    reporter: str,
) -> Process:
    app, rng = w.app, w.rng
    roll = rng.random()
    if roll < 0.10:  # signed a day or two later
        t += timedelta(hours=rng.uniform(20, 50))
        yield Step(t, responsible, lambda c: app.sign_off_completion(c, task_no, "good"))
        w.count("late sign-offs")
    elif roll < 0.15:  # signed on paper on site, entered the next day: a late entry
        signed = t + w.minutes(10, 40)
        t = signed + timedelta(hours=rng.uniform(16, 30))
        yield Step(
            t,
            responsible,
            lambda c: app.sign_off_completion(c, task_no, "good"),
            occurred_at=signed,
        )
        w.count("late entries")
    else:
        t += w.minutes(10, 120)
        yield Step(t, responsible, lambda c: app.sign_off_completion(c, task_no, "good"))
    decision = rng.random()
    t += timedelta(hours=rng.uniform(1, 30))
    ds = f"{prop.prefix}-DS"
    if decision < 0.06 and kind != "complaint":
        yield Step(
            t,
            reporter,
            lambda c: app.owner_return(c, task_no, "问题没有解决 still not fixed"),
            kind="owner",
        )
        w.count("owner returns")
        t += w.minutes(10, 60)
        yield Step(t, ds, lambda c: app.reopen_task(c, task_no, "业主退回 owner returned the work"))
        t += w.minutes(5, 30)
        yield Step(t, ds, lambda c: app.dispatch_task(c, task_no, responsible, executor, "manual"))
        yield from work_and_sign(w, prop, task_no, t, kind, responsible, executor, reporter)
        return
    if decision < 0.88:
        rating = max(1, min(5, round(rng.gauss(_skill(executor), 0.7))))
        on_phone = rng.random() < 0.3
        result_box: list[str] = []

        def accept(c: CommandContext) -> None:
            result = app.owner_accept(
                c, task_no, rating, "满意 satisfied" if rating >= 4 else "一般 so-so"
            )
            result_box.append(first_event_id(result))

        if on_phone:
            yield Step(t, ds, accept, on_behalf_of=reporter)
        else:
            yield Step(t, reporter, accept, kind="owner")
        if rating == 5 and result_box:
            w.five_stars.setdefault(executor, []).append(result_box[0])
        t += w.minutes(5, 120)
        yield Step(t, ds, lambda c: app.close_task(c, task_no, "accepted"))
    else:
        t += timedelta(days=3)
        yield Step(
            t,
            "watcher",
            lambda c: app.auto_close_task(c, task_no, AUTO_CLOSE_POLICY, AUTO_CLOSE_DAYS),
            kind="system",
        )
        w.count("auto-closed")
    if rng.random() < 0.3:
        t += timedelta(hours=rng.uniform(2, 48))
        yield Step(
            t,
            ds,
            lambda c: app.record_follow_up(
                c, task_no, "phone", rng.random() < 0.9, "回访 follow-up"
            ),
        )


def _skill(person: str) -> float:
    """A stable per-person service level, so rankings have something to find."""
    return 3.7 + (sum(map(ord, person)) % 10) / 10


def patrols(w: World, prop: Property) -> Process:
    """Key areas every two hours, by the guards; about 3% of windows are missed."""
    plan = f"PL-{prop.prefix}-PATROL"
    guards = [f"{prop.prefix}-G{i}" for i in range(1, 5)]
    for window in range(w.days * 12):
        start = w.start + timedelta(hours=2 * window)
        if w.rng.random() < 0.03:
            yield Step(
                start + timedelta(hours=2, minutes=1),
                "watcher",
                call(w.app.record_round_missed, plan, start),
                kind="system",
            )
            w.count("missed patrols")
            continue
        guard = guards[(window // 4) % 4]
        yield from patrol_round(w, plan, start, guard)


def patrol_round(w: World, plan: str, start: datetime, guard: str) -> Process:
    app = w.app
    rid = round_key(plan, start)
    t = start + w.minutes(3, 25)
    yield Step(t, guard, lambda c: app.start_inspection_round(c, plan, start))
    for checkpoint in ("GATE", "GARAGE"):
        t += w.minutes(8, 30)
        yield Step(t, guard, call(app.visit_checkpoint, rid, checkpoint, "qr"))
    t += w.minutes(1, 5)
    yield Step(t, guard, lambda c: app.record_checklist_item(c, rid, "P1", "pass"))
    t += w.minutes(1, 3)
    yield Step(t, guard, lambda c: app.complete_inspection_round(c, rid))


def cleaning_inspections(w: World, prop: Property) -> Process:
    """The quality inspector's daily round; flags and fails raise findings and fixes."""
    app, rng, p = w.app, w.rng, prop.prefix
    plan, qi = f"PL-{p}-CLEAN", f"{p}-QI"
    for day in range(w.days):
        start = w.day(day)
        rid = round_key(plan, start)
        t = w.day(day, 10 + rng.uniform(0, 3))
        yield Step(t, qi, call(app.start_inspection_round, plan, start))
        t += w.minutes(2, 10)
        yield Step(t, qi, call(app.visit_checkpoint, rid, "LOBBY", "qr"))
        for code in ("C1", "C2", "C3", "C4"):
            t += w.minutes(2, 8)
            result = _pick(w, (("pass", 0.86), ("flag", 0.10), ("fail", 0.04)))
            yield Step(t, qi, call(app.record_checklist_item, rid, code, result))
            if result != "pass":
                t += w.minutes(1, 4)
                yield from finding(w, prop, rid, code, result, t)
        t += w.minutes(1, 5)
        yield Step(t, qi, call(app.complete_inspection_round, rid))


def finding(w: World, prop: Property, rid: str, code: str, result: str, t: datetime) -> Process:
    app, rng, p = w.app, w.rng, prop.prefix
    finding_id = f"F-{rid.rsplit('/', maxsplit=1)[-1][:10]}-{code}"
    action_id = f"CA-{p}-{finding_id[2:]}"
    photo = evidence_digest(rng)
    owner = app.responsible_for(f"{p}-{prop.buildings[0]}", "cleaning", t) or f"{p}-CS"

    def raise_it(c: CommandContext) -> None:
        outcome = app.raise_finding(
            c,
            rid,
            finding_id,
            "major" if result == "fail" else "minor",
            f"{code} 不合格 not up to standard",
            item_code=code,
            open_action_id=action_id,
            action_owner_id=owner,
            action_due=t + timedelta(days=2),
        )
        points = 10 if result == "fail" else 5
        w.findings.append(Finding(prop.property_id, owner, first_event_id(outcome), points, t))

    yield Step(t, f"{p}-QI", raise_it, evidence=(photo,))
    w.count("findings")
    w.spawn(corrective_loop(w, prop, action_id, owner, t))


def corrective_loop(w: World, prop: Property, action_id: str, owner: str, t: datetime) -> Process:
    """Plan → implement (a cleaner) → verify (the inspector) → close, sometimes failing once."""
    app, rng, p = w.app, w.rng, prop.prefix
    t += timedelta(hours=rng.uniform(0.5, 4))
    yield Step(
        t,
        owner,
        lambda c: app.plan_corrective_action(
            c,
            action_id,
            "排班不足 staffing gap at peak",
            "增加午间保洁 add a midday round",
            t + timedelta(days=2),
        ),
    )
    cleaner = f"{p}-C{rng.randint(1, 3)}"
    for attempt in range(2):
        t += timedelta(hours=rng.uniform(2, 20))
        yield Step(
            t,
            cleaner,
            lambda c: app.implement_corrective_action(c, action_id, "已整改 fixed"),
            evidence=(evidence_digest(rng),),
        )
        t += timedelta(hours=rng.uniform(1, 10))
        passed = attempt == 1 or rng.random() < 0.85
        yield Step(
            t,
            f"{p}-QI",
            call(app.verify_corrective_action, action_id, passed, "复查 re-inspected"),
            evidence=(evidence_digest(rng),),
        )
        if passed:
            t += w.minutes(5, 60)
            yield Step(t, f"{p}-QI", lambda c: app.close_corrective_action(c, action_id))
            return
        t += w.minutes(5, 60)
        yield Step(
            t,
            f"{p}-QI",
            lambda c: app.reopen_corrective_action(c, action_id, "复查未通过 failed re-check"),
        )
        t += w.minutes(10, 90)
        yield Step(
            t,
            owner,
            call(
                app.plan_corrective_action,
                action_id,
                "方法不当 wrong method",
                "更换清洁剂 change the detergent",
                t + timedelta(days=2),
            ),
        )


def elevator_maintenance(w: World, prop: Property) -> Process:
    """Every 15 days, signed by the safety manager (TSG T5002)."""
    app, p = w.app, prop.prefix
    plan, sm = f"PL-{p}-LIFT", f"{p}-SM"
    for cycle in range(w.days // 15):
        start = w.start + timedelta(days=15 * cycle)
        rid = round_key(plan, start)
        t = start + timedelta(days=w.rng.randint(2, 12), hours=14)
        yield Step(t, sm, call(app.start_inspection_round, plan, start))
        t += w.minutes(5, 20)
        yield Step(t, sm, call(app.visit_checkpoint, rid, "MACHINE-ROOM", "nfc"))
        for code in ("E1", "E2", "E3"):
            t += w.minutes(10, 30)
            yield Step(t, sm, call(app.record_checklist_item, rid, code, "pass"))
        t += w.minutes(5, 15)
        yield Step(t, sm, call(app.complete_inspection_round, rid))


def monthly_penalties(w: World, prop: Property) -> Process:
    """At each month's end the inspector proposes penalties for the heaviest findings; some are
    appealed and ruled on by the performance officer, who never proposed them."""
    app, p = w.app, prop.prefix
    for month in range(1, w.days // 30 + 1):
        t = w.day(30 * month - 1, 17)
        yield Step(t, "", _wake)  # read the findings as they stand at the month's end
        window = [
            f
            for f in w.findings
            if f.property_id == prop.property_id
            and w.day(30 * (month - 1)) <= f.at < w.day(30 * month)
            and f.points >= 10
        ]
        for n, found in enumerate(window[:3]):
            case = f"PEN-{p}-{month:02d}{n:02d}"
            wage = (
                WAGES["cleaner"]
                if found.responsible_id[-3:-1] == "-C"
                else WAGES["site_supervisor"]
            )
            t += w.minutes(5, 30)
            yield Step(
                t,
                f"{p}-QI",
                call(
                    app.propose_penalty,
                    case,
                    prop.property_id,
                    found.responsible_id,
                    "WR-RP",
                    1,
                    "第3条 保洁不合格",
                    2,
                    "100.00",
                    wage,
                    MINIMUM_WAGE,
                    (found.event_id,),
                    "保洁检查不合格 failed cleaning inspection",
                ),
            )
            w.count("penalties proposed")
            w.spawn(penalty_path(w, prop, case, found.responsible_id, t))


def penalty_path(w: World, prop: Property, case: str, subject: str, t: datetime) -> Process:
    app, rng, p = w.app, w.rng, prop.prefix
    t += timedelta(hours=rng.uniform(15, 30))
    deadline = t + timedelta(days=5)
    yield Step(t, f"{p}-PM", lambda c: app.notify_penalty(c, case, "in_app", True, deadline))
    if rng.random() < 0.45:
        t += timedelta(days=rng.uniform(0.5, 4))
        yield Step(
            t,
            subject,
            lambda c: app.file_appeal(c, case, "当天人手不足, 已报告主管 short-staffed, reported"),
        )
        w.count("appeals")
        t += timedelta(days=rng.uniform(1, 4))
        decision = _pick(w, (("upheld", 0.5), ("reduced", 0.3), ("overturned", 0.2)))
        points, amount = (1, "50.00") if decision == "reduced" else (None, None)
        yield Step(
            t,
            "HQ-PO",
            lambda c: app.rule_appeal(
                c,
                case,
                decision,
                "经复核 after review of the inspection evidence",
                ("HQ-PO", "HQ-LD"),
                points,
                amount,
            ),
        )
        w.count(f"rulings {decision}")
    else:
        t = deadline + timedelta(hours=rng.uniform(1, 30))
        yield Step(t, f"{p}-PM", lambda c: app.confirm_penalty(c, case))


def responsibility_changes(w: World) -> Process:
    """A hand-over of a building's repairs on day 40 and a technician leaving on day 62."""
    app = w.app
    t = w.day(40, 9)
    yield Step(
        t,
        "GD-PM",
        lambda c: app.hand_over_responsibility(
            c, "GD-B2", "repair", "GD-T4", "GD-T2 调任工程组长助理 reassigned"
        ),
    )
    yield Step(
        t + timedelta(minutes=20),
        "GD-T4",
        lambda c: app.accept_responsibility(c, "GD-B2", "repair"),
    )
    w.unavailable.add("GD-T5")  # from day 55 no new work goes to the leaver
    yield Step(
        w.day(62, 18),
        "admin",
        lambda c: app.offboard_staff(c, "GD-T5", "合同到期离职 contract ended"),
        kind="admin",
    )


def rewards(w: World) -> Process:
    """Praise letters for the technicians owners rated five stars most often."""
    app = w.app
    for n, at_day in enumerate((45, w.days - 1)):
        t = w.day(at_day, 16)
        yield Step(t, "", _wake)
        ranked = sorted(w.five_stars.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:2]
        for m, (person, events) in enumerate(ranked):
            prop = "P-GARDEN" if person.startswith("GD") else "P-TOWER"
            pm = "GD-PM" if person.startswith("GD") else "TW-PM"
            t += timedelta(minutes=10)
            yield Step(
                t,
                pm,
                call(
                    app.grant_reward,
                    f"RW-{n}{m}",
                    prop,
                    person,
                    "praise_letter",
                    tuple(events[:3]),
                    1,
                    "0.00",
                    "业主表扬信 owners' praise letters",
                ),
            )
            w.count("rewards")
