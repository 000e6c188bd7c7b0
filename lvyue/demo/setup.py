"""Day 0: the organisation, contract, calendars, areas, rules, checklists and plans."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date, datetime, timedelta

import chinese_calendar

from lvyue.demo.roster import GARDEN, PROPERTIES, TOWER, areas_of, everyone, name_of
from lvyue.demo.schedule import Process, Step, call
from lvyue.demo.world import PHOTO_PREFIX, World

CONTRACT = "C-2026-001"
CHAIN_LEVELS = (
    "executor:PT0M",
    "site_supervisor:PT15M",
    "project_manager:PT30M",
    "performance_officer:PT1H",
    "leadership:PT2H",
)
PATROL_ITEMS = ("P1|门窗消防通道正常 doors, exits and fire lanes clear|pass_fail|10",)
CLEANING_ITEMS = (
    "C1|大堂地面洁净 lobby floor clean|pass_flag_fail|10",
    "C2|垃圾清运及时 refuse removed|pass_flag_fail|10",
    "C3|楼梯间无杂物 stairwells clear|pass_flag_fail|8",
    "C4|卫生间无异味 restrooms fresh|pass_flag_fail|6",
)
LIFT_ITEMS = (
    "E1|制动器检查 brake check|pass_fail|20",
    "E2|门锁与光幕 door locks and light curtain|pass_fail|20",
    "E3|五方通话 emergency intercom|pass_fail|10",
)


def holidays(first: date, last: date) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Statutory holidays and 调休 make-up workdays from the maintained chinese-calendar data."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    off = tuple(d.isoformat() for d in days if chinese_calendar.is_holiday(d) and d.weekday() < 5)
    makeup = tuple(
        d.isoformat() for d in days if chinese_calendar.is_workday(d) and d.weekday() >= 5
    )
    return off, makeup


def setup(w: World) -> Process:
    """Every set-up command, a few seconds apart, on the night before operations start."""
    app, t = w.app, w.start - timedelta(hours=6)

    def tick() -> datetime:
        nonlocal t
        t += timedelta(seconds=7)
        return t

    for number, person in enumerate(everyone(), 1):
        yield Step(
            tick(),
            "admin",
            call(
                app.onboard_staff,
                person.person_id,
                f"E{number:04d}",
                person.family,
                name=name_of(number),
            ),
            kind="admin",
        )
    for person in everyone():
        yield Step(
            tick(),
            "admin",
            call(
                app.assign_position,
                person.person_id,
                person.position,
                person.property_id,
                person.supervisor,
            ),
            kind="admin",
        )
    yield from organisation(w, tick)
    yield from contract(w, tick)
    yield from areas(w, tick)
    yield from notices(w, tick)
    yield from rules_and_plans(w, tick)


Tick = Callable[[], datetime]


def organisation(w: World, tick: Tick) -> Process:
    app = w.app
    units = [
        ("HQ", "总部 headquarters", "department", None),
        ("HQ-QS", "履约监督部 performance supervision", "performance_supervision", "HQ"),
    ]
    units += [
        (f"{p.prefix}-OFFICE", f"{p.name.split()[0]} 项目部 project office", "project_office", "HQ")
        for p in PROPERTIES
    ]
    for unit_id, name, kind, parent in units:
        yield Step(
            tick(), "admin", call(app.create_org_unit, unit_id, name, kind, parent), kind="admin"
        )
    for prop in PROPERTIES:
        yield Step(
            tick(),
            "HQ-LD",
            call(app.define_escalation_chain, f"ESC-{prop.prefix}", prop.property_id, CHAIN_LEVELS),
        )


CLAUSES = (
    (
        "EMG-ACK",
        "emergency",
        "ack",
        "PT30M",
        "CAL-24X7",
        ("emergency",),
        True,
        "合同 §5.1 紧急事件30分钟内响应",
    ),
    (
        "REP-ARR",
        "repair",
        "arrival",
        "PT30M",
        "CAL-24X7",
        ("repair",),
        True,
        "合同 §5.2 急修30分钟到场",
    ),
    (
        "REP-RES",
        "repair",
        "resolution",
        "P3D",
        "CAL-WORK",
        ("repair",),
        False,
        "合同 §5.3 一般维修3个工作日内完成",
    ),
    (
        "CMP-ACK",
        "complaint",
        "ack",
        "PT24H",
        "CAL-24X7",
        ("complaint",),
        False,
        "合同 §6.1 投诉24小时内答复",
    ),
    (
        "PATROL",
        "patrol",
        "frequency",
        "PT2H",
        "CAL-24X7",
        (),
        False,
        "合同 §7.1 重点区域每2小时巡查",
    ),
    ("CLEAN-INSP", "cleaning", "frequency", "P1D", "CAL-24X7", (), False, "合同 §8.2 每日保洁检查"),
    (
        "LIFT-MAINT",
        "elevator",
        "frequency",
        "P15D",
        "CAL-24X7",
        (),
        False,
        "TSG T5002 电梯每15日维保, 使用单位安全管理员签字",
    ),
)


def contract(w: World, tick: Tick) -> Process:
    app = w.app
    off, makeup = holidays(w.start.date(), (w.start + timedelta(days=w.days + 30)).date())
    source = "chinese-calendar package (statutory holidays and 调休)"
    yield Step(tick(), "HQ-LD", call(app.publish_calendar, "CAL-24X7", "24x7", "", (), (), source))
    yield Step(
        tick(),
        "HQ-LD",
        call(app.publish_calendar, "CAL-WORK", "working_hours", "09:00-18:00", off, makeup, source),
    )
    yield Step(
        tick(),
        "HQ-LD",
        call(
            app.register_contract,
            CONTRACT,
            "selected",
            "lvyue 物业服务有限公司",
            "业主委员会 owners' committees",
            (GARDEN.property_id, TOWER.property_id),
            w.start,
            w.start + timedelta(days=3 * 365),
            "lump_sum",
            "3.20",
            "c0" * 32,
        ),
    )
    for clause_id, line, metric, target, calendar, kinds, urgent_only, source_ref in CLAUSES:
        yield Step(
            tick(),
            "HQ-LD",
            call(
                app.define_clause,
                CONTRACT,
                clause_id,
                line,
                metric,
                target,
                calendar,
                "ESC-GD",
                "奖惩制度 第3条",
                source_ref,
                match_kinds=kinds,
                match_emergency_only=urgent_only,
                penalty_points=2,
                penalty_amount="100.00",
                pause_on=("owner_hold",) if metric == "resolution" else (),
                requires_signer_position="safety_manager" if clause_id == "LIFT-MAINT" else None,
            ),
        )


def areas(w: World, tick: Tick) -> Process:
    app = w.app
    for prop in PROPERTIES:
        for plan in areas_of(prop):
            yield Step(
                tick(),
                f"{prop.prefix}-PM",
                call(
                    app.define_area,
                    plan.area_id,
                    plan.property_id,
                    plan.name,
                    plan.kind,
                    tuple(plan.lines),
                ),
            )
            for line, person in plan.lines.items():
                yield Step(
                    tick(),
                    f"{prop.prefix}-PM",
                    call(app.assign_responsibility, plan.area_id, line, person),
                )
                yield Step(tick(), person, call(app.accept_responsibility, plan.area_id, line))


NOTICES = (
    ("responsible_persons", "服务事项与责任人公示 service items and responsible persons", ("board", "app")),
    ("fees", "物业服务收费标准公示 property service fees", ("board", "app", "wechat")),
)


def content_digest(*parts: str) -> str:
    """A stable content-address for a simulated file (no randomness: setup draws none)."""
    return hashlib.sha256("/".join((PHOTO_PREFIX, *parts)).encode()).hexdigest()


def notices(w: World, tick: Tick) -> Process:
    """民法典 943: each project office posts who answers for what, and its fees, before day 1;
    the board copy is photographed, and the photo is the command's evidence."""
    for prop in PROPERTIES:
        for kind, title, channels in NOTICES:
            notice_id = f"N-{prop.prefix}-{kind.upper().replace('_', '-')}"
            yield Step(
                tick(),
                f"{prop.prefix}-PM",
                call(
                    w.app.publish_notice,
                    notice_id,
                    prop.property_id,
                    kind,
                    f"{prop.name.split()[0]} {title}",
                    (),
                    channels,
                    w.start,
                    None if kind == "responsible_persons" else w.start + timedelta(days=365),
                    content_digest("notice", notice_id),
                ),
                evidence=(content_digest("board-photo", notice_id),),
            )
            w.count("notices")


CHECKLISTS = (
    ("CL-PATROL", "重点区域巡查 key-area patrol", "patrol", PATROL_ITEMS),
    ("CL-CLEAN", "每日保洁检查 daily cleaning inspection", "cleaning", CLEANING_ITEMS),
    ("CL-LIFT", "电梯半月维保 elevator maintenance", "elevator", LIFT_ITEMS),
)


def rules_and_plans(w: World, tick: Tick) -> Process:
    app = w.app
    yield Step(
        tick(),
        "HQ-LD",
        call(
            app.publish_work_rule,
            "WR-RP",
            "员工奖惩制度 staff rewards and penalties",
            "d0" * 32,
            "2026年6月职工代表大会决议 staff congress resolution 2026-06",
            w.start,
        ),
    )
    for checklist in CHECKLISTS:
        yield Step(tick(), "HQ-PO", call(app.publish_checklist, *checklist))
    for prop in PROPERTIES:
        p = prop.prefix
        guards = tuple(f"{p}-G{i}" for i in range(1, 5))
        plans = (
            (
                f"PL-{p}-PATROL",
                f"{p}-PUBLIC",
                "CL-PATROL",
                ("GATE", "GARAGE"),
                "PT2H",
                guards,
                None,
            ),
            (
                f"PL-{p}-CLEAN",
                f"{p}-{prop.buildings[0]}",
                "CL-CLEAN",
                ("LOBBY",),
                "P1D",
                (f"{p}-QI",),
                None,
            ),
            (
                f"PL-{p}-LIFT",
                f"{p}-LIFT",
                "CL-LIFT",
                ("MACHINE-ROOM",),
                "P15D",
                (f"{p}-SM",),
                "safety_manager",
            ),
        )
        for plan_id, area, checklist_id, points, freq, who, signer in plans:
            yield Step(
                tick(),
                f"{p}-PM",
                call(
                    app.schedule_inspection_plan,
                    plan_id,
                    prop.property_id,
                    area,
                    checklist_id,
                    1,
                    points,
                    freq,
                    w.start,
                    who,
                    signer,
                ),
            )
    # Everyone acknowledges the work rule in the first days; some take their time.
    for n, person in enumerate(sorted(x.person_id for x in everyone())):
        at = w.start + timedelta(hours=9 + (n % 10), days=w.rng.choice((0, 0, 0, 1, 2, 5)))
        yield Step(at, person, call(app.acknowledge_work_rule, "WR-RP", person, 1))
