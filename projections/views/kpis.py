"""KPIs per person, team, property and period (domain.md §4.1) as traceable facts.

The view keeps one row per *fact* and per person it is attributed to (`kpi_facts`): an SLA
clock's outcome, a closed task, an owner's verdict or rating, an inspection round (done or
missed), a zone's inspection score, a finding, a penalty case, a reward, a corrective action.
Every row lists the event ids it came from, so every number built from it is traceable; each
fact also has a row for person `*` (the fact as a whole) so property totals never double count.
Aggregates (rates, medians, P90, means, sums) are computed on read from these rows
(`projections.kpi_queries`): there is no running counter that could drift, and a rebuild
equals the incremental result because every fact row is a function of its stream's state.

State between pages lives in `kpi_state` (one JSON document per followed stream: the task's
holders and completion cycles, the clock's breach and stop, the round's plan …); a page loads
the states it touches, folds its events in log order, writes the changed states, and rewrites
the facts of the streams that changed. Staff (job family, position, supervisor) go to
`kpi_staff` for peer groups and teams.

Attribution (who a fact counts for):
- SLA clock: one trial. A met stop counts for the task's responsible person and executor at the
  task event that stopped it; a late stop or a breach for `responsible_at_breach` and
  `executor_at_breach` (domain.md: "a breach is charged to responsible_at_breach"). A breach
  stays a failure when the clock is later cancelled; a clock cancelled unbreached counts nothing.
  Period: the stop instant, else the breach instant. Elapsed = business seconds at the stop.
- Closed task: every person who executed (`WorkCompleted`) or signed off
  (`CompletionSignedOff`) a completion of it. First-time fix for that person unless a
  completion they executed or signed was returned by the owner (rework). Workload units go to
  the executor of the accepted (last) completion only. Period: the closing instant.
- Owner verdicts (`OwnerAccepted` / `OwnerReturned`): the executor and signer of the completion
  judged. A rating counts once the task is closed and only if given within 7 days of the
  sign-off (domain.md §4.2 rating-solicitation rule).
- Inspection round completed: its inspector (checkpoints visited in the window / planned, the
  round's score, its workload), and the zone's responsible person for the checklist's service
  line at the completion instant (the round's score: "inspection score of own zones").
  A missed round counts against every assignee of the plan (nobody walked it; shared duty), at
  the window's end. The area's responsible person is charged for missed rounds by the watcher's
  rule penalties instead.
- Finding: the person it names. Penalty: its subject, in the period of the proposal (the
  offence), with the final points once confirmed or reduced. Reward: its recipient.
  Corrective action: its owner, in the period of its due time, on time iff closed by then.

Periods are calendar months and quarters in the property's zone (Asia/Shanghai).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    select,
)

from ledger.ids import stream_id
from projections.record_json import dumps_sorted, loads
from projections.schema import Record, UtcDateTime, insert_rows, metadata, update_rows, utc

PERIOD_ZONE = ZoneInfo("Asia/Shanghai")
ALL = "*"
"""The person id of a fact's whole row (property and company totals read only these)."""

# -- the work standard (domain.md §4.2): versioned, so a changed table is a new version ----------

WORK_STANDARD_VERSION = "lvyue-wu/1"
TASK_MINUTES: dict[str, int] = {
    "repair": 60,
    "emergency": 90,
    "complaint": 45,
    "cleaning": 30,
    "security": 30,
    "patrol_follow_up": 20,
}
ROUND_MINUTES: dict[str, int] = {"patrol": 30, "cleaning": 30, "fire": 60, "elevator": 120}
DEFAULT_TASK_MINUTES = 60
DEFAULT_ROUND_MINUTES = 30
EMERGENCY_FACTOR = Fraction(3, 2)
NIGHT_FACTOR = Fraction(6, 5)
NIGHT_HOURS = (22, 6)
"""Work started from 22:00 to before 06:00 local time is night work (factors multiply)."""
MINUTES_PER_WU = 60
"""One work unit is one standard hour; rows store weighted centi-minutes (exact integers)."""
CMIN_PER_WU = MINUTES_PER_WU * 100

RATING_WINDOW = timedelta(days=7)
SERIOUS_MARKERS: dict[str, str] = {
    "一票否决": "veto clause",
    "安全事故": "attributable safety accident",
    "伪造": "falsified records",
    "弄虚作假": "falsified records",
    "欺诈": "fraud",
    "受贿": "bribery",
    "行贿": "bribery",
    "重大投诉": "upheld serious complaint",
    "serious violation": "serious violation",
}
"""一票否决 offences (domain.md §4.3): a penalty whose rule or clause names one is serious."""
FINAL_PENALTY = ("confirmed", "reduced")
RESPONSE_METRICS = ("ack", "arrival")

kpi_state = Table(
    "kpi_state",
    metadata,
    Column("stream_id", String(36), primary_key=True),
    Column("kind", String(60), nullable=False),
    Column("state", Text, nullable=False),
)

kpi_staff = Table(
    "kpi_staff",
    metadata,
    Column("person_id", String(100), primary_key=True),
    Column("stream_id", String(36), nullable=False),
    Column("job_family", String(50), nullable=False),
    Column("position", String(50)),
    Column("property_id", String(100)),
    Column("supervisor_id", String(100)),
    Column("active", Boolean, nullable=False),
    Index("ix_kpi_staff_supervisor", "supervisor_id"),
)

kpi_facts = Table(
    "kpi_facts",
    metadata,
    Column("fact_key", String(250), primary_key=True),
    Column("person_id", String(100), primary_key=True),
    Column("stream_id", String(36), nullable=False),
    Column("metric", String(20), nullable=False),
    Column("capacity", String(60), nullable=False),
    Column("property_id", String(100)),
    Column("decided_at", UtcDateTime, nullable=False),
    Column("month", String(7), nullable=False),
    Column("quarter", String(6), nullable=False),
    Column("n", Integer, nullable=False),
    Column("ok", Integer, nullable=False),
    Column("value", Integer),
    Column("wu_cmin", Integer, nullable=False),
    Column("status", String(20)),
    Column("serious", Boolean, nullable=False),
    Column("detail", String(300)),
    Column("event_ids", Text, nullable=False),
    Index("ix_kpi_facts_person", "person_id", "quarter", "month"),
    Index("ix_kpi_facts_property", "property_id", "quarter", "month"),
    Index("ix_kpi_facts_stream", "stream_id"),
)

State = dict[str, Any]
CHUNK = 500


def periods(moment: datetime) -> tuple[str, str]:
    """(month "2026-07", quarter "2026Q3") of an instant, in the property's zone."""
    local = moment.astimezone(PERIOD_ZONE)
    return f"{local.year:04d}-{local.month:02d}", f"{local.year:04d}Q{(local.month - 1) // 3 + 1}"


def serious_offence(text: str) -> str | None:
    """The 一票否决 category a penalty's rule or clause names, if any."""
    lowered = text.lower()
    return next((what for mark, what in SERIOUS_MARKERS.items() if mark in lowered), None)


def work_cmin(minutes: int, emergency: bool, night: bool) -> int:
    """Weighted centi-minutes of one job: standard minutes × the difficulty factors."""
    factor = (EMERGENCY_FACTOR if emergency else 1) * (NIGHT_FACTOR if night else 1)
    weighted = Fraction(minutes * 100) * factor
    if weighted.denominator != 1:
        raise ValueError(f"work standard {minutes} min × {factor} is not a whole centi-minute")
    return int(weighted)


def is_night(moment: datetime) -> bool:
    hour = moment.astimezone(PERIOD_ZONE).hour
    start, end = NIGHT_HOURS
    return hour >= start or hour < end


# -- the page cache of stream states ----------------------------------------------------------


class States:
    """Stream states loaded for one page, folded in memory, written back once."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.loaded: dict[str, State | None] = {}
        self.stored: dict[str, str] = {}
        self.kinds: dict[str, str] = {}
        self.dirty: set[str] = set()

    def prefetch(self, sids: Iterable[str]) -> None:
        wanted = sorted({sid for sid in sids if sid not in self.loaded})
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            query = select(kpi_state).where(kpi_state.c.stream_id.in_(chunk))
            for row in self.conn.execute(query):
                self.loaded[row.stream_id] = loads(row.state)
                self.stored[row.stream_id] = row.state
                self.kinds[row.stream_id] = row.kind
        for sid in wanted:
            self.loaded.setdefault(sid, None)

    def get(self, sid: str) -> State | None:
        if sid not in self.loaded:
            self.prefetch([sid])
        return self.loaded[sid]

    def of(self, kind: str, key: str | None) -> State | None:
        """The state of the stream of `kind` named `key` (None if unknown)."""
        return None if not key else self.get(sid_of(kind, key))

    def put(self, sid: str, kind: str, state: State) -> None:
        self.loaded[sid] = state
        self.kinds[sid] = kind
        self.dirty.add(sid)

    def touch(self, sid: str) -> None:
        self.dirty.add(sid)

    def flush(self) -> list[str]:
        """Write the changed states; returns the stream ids whose state really changed."""
        new, changed = [], []
        for sid in sorted(self.dirty):
            state = self.loaded[sid]
            if state is None:
                continue
            text = dumps_sorted(state)
            if sid not in self.stored:
                new.append({"stream_id": sid, "kind": self.kinds[sid], "state": text})
            elif text != self.stored[sid]:
                changed.append({"stream_id": sid, "state": text})
            else:
                continue
            self.stored[sid] = text
        insert_rows(self.conn, kpi_state, new)
        update_rows(self.conn, kpi_state, ["stream_id"], changed)
        self.dirty.clear()
        return sorted([row["stream_id"] for row in new] + [row["stream_id"] for row in changed])


# -- folding events into stream states ------------------------------------------------------

Step = Callable[[States, State, Record], None]


def _data(record: Record) -> dict[str, Any]:
    return record.get("data") or {}


def _holders(state: State) -> list[str | None]:
    return [state["responsible"], state["executor"]]


def _role(state: State, person: str | None, role: str) -> None:
    if person:
        roles = state["people"].setdefault(person, [])
        if role not in roles:
            roles.append(role)
            roles.sort()


def task_registered(record: Record) -> State:
    data = _data(record)
    return {
        "task_no": data["task_no"],
        "property_id": data.get("property_id") or record.get("property_id"),
        "kind": data.get("kind"),
        "priority": data.get("priority"),
        "emergency": bool(data.get("is_emergency")),
        "responsible": data.get("responsible_id"),
        "executor": None,
        "started_at": None,
        "signed_at": None,
        "cycle": {},
        "cycle_events": [],
        "returned": [],
        "people": {},
        "final_executor": None,
        "events": [record["event_id"]],
        "marks": {},
        "verdicts": [],
        "closed": None,
    }


def _dispatched(_s: States, task: State, record: Record) -> None:
    data = _data(record)
    task["responsible"], task["executor"] = data.get("responsible_id"), data.get("executor_id")


def _reassigned(_s: States, task: State, record: Record) -> None:
    data = _data(record)
    task["responsible"] = data.get("to_responsible_id")
    task["executor"] = data.get("to_executor_id")


def _declined(_s: States, task: State, _record: Record) -> None:
    task["executor"] = None


def _marked(_s: States, task: State, record: Record) -> None:
    """Remember the holders at a task event that may stop a clock."""
    task["marks"][record["event_id"]] = _holders(task)


def _started(_s: States, task: State, record: Record) -> None:
    task["started_at"] = record["occurred_at"]


def _completed(states: States, task: State, record: Record) -> None:
    _marked(states, task, record)
    executor = task["executor"] or record["actor"]["id"]
    task["cycle"]["executor"] = executor
    task["final_executor"] = executor
    _role(task, executor, "executor")
    task["cycle_events"].append(record["event_id"])
    task["events"].append(record["event_id"])


def _signed(_s: States, task: State, record: Record) -> None:
    signer = _data(record).get("signer_id") or record["actor"]["id"]
    task["cycle"]["signer"] = signer
    task["signed_at"] = record["occurred_at"]
    _role(task, signer, "signer")
    task["cycle_events"].append(record["event_id"])
    task["events"].append(record["event_id"])


def _verdict(task: State, record: Record, ok: int, rating: int | None) -> None:
    signed = task["signed_at"]
    in_window = signed is not None and (
        utc(record["occurred_at"]) - utc(signed) <= RATING_WINDOW
    )
    task["verdicts"].append({
        "e": record["event_id"],
        "at": record["occurred_at"],
        "ok": ok,
        "rating": rating,
        "in_window": in_window,
        "cycle": dict(task["cycle"]),
        "cycle_events": list(task["cycle_events"]),
    })  # fmt: skip


def _owner_accepted(_s: States, task: State, record: Record) -> None:
    rating = _data(record).get("rating")
    _verdict(task, record, 1, rating if isinstance(rating, int) else None)


def _owner_returned(_s: States, task: State, record: Record) -> None:
    _verdict(task, record, 0, None)
    returned = set(task["returned"]) | {p for p in task["cycle"].values() if p}
    task["returned"] = sorted(returned)
    task["events"].append(record["event_id"])


def _reopened(_s: States, task: State, record: Record) -> None:
    task["cycle"], task["cycle_events"] = {}, []
    task["executor"] = None
    task["events"].append(record["event_id"])


def _closed(_s: States, task: State, record: Record) -> None:
    task["closed"] = {"e": record["event_id"], "at": record["occurred_at"]}
    task["events"].append(record["event_id"])


def _corrected(_s: States, task: State, record: Record) -> None:
    data = _data(record)
    if data.get("field") == "priority":
        task["priority"] = data.get("new")
        task["emergency"] = task["kind"] == "emergency" or data.get("new") == "urgent"


TASK_STEPS: dict[str, Step] = {
    "TaskDispatched": _dispatched,
    "TaskReassigned": _reassigned,
    "TaskDeclined": _declined,
    "TaskAccepted": _marked,
    "ArrivedOnSite": _marked,
    "WorkStarted": _started,
    "WorkCompleted": _completed,
    "CompletionSignedOff": _signed,
    "OwnerAccepted": _owner_accepted,
    "OwnerReturned": _owner_returned,
    "TaskReopened": _reopened,
    "TaskClosed": _closed,
    "TaskAutoClosed": _closed,
    "TaskFieldCorrected": _corrected,
}


def clock_started(record: Record) -> State:
    data = _data(record)
    return {
        "task_no": data.get("task_no"),
        "property_id": data.get("property_id") or record.get("property_id"),
        "metric": data.get("metric"),
        "clause_id": data.get("clause_id"),
        "start_e": record["event_id"],
        "breach": None,
        "stop": None,
        "cancel": None,
    }


def _breached(_s: States, clock: State, record: Record) -> None:
    data = _data(record)
    clock["breach"] = {
        "e": record["event_id"],
        "at": data.get("breach_at") or record["occurred_at"],
        "responsible": data.get("responsible_at_breach"),
        "executor": data.get("executor_at_breach"),
    }


def _stopped(states: States, clock: State, record: Record) -> None:
    data = _data(record)
    task = states.of("task", clock["task_no"])
    stop_event = data.get("stop_event_id")
    marks = task["marks"] if task else {}
    responsible, executor = marks.get(stop_event, [None, None])
    clock["stop"] = {
        "e": record["event_id"],
        "at": data.get("stopped_at") or record["occurred_at"],
        "met": bool(data.get("met")),
        "business": data.get("business_elapsed_seconds"),
        "task_e": stop_event,
        "responsible": responsible,
        "executor": executor,
    }


def _clock_cancelled(_s: States, clock: State, record: Record) -> None:
    clock["cancel"] = record["event_id"]


CLOCK_STEPS: dict[str, Step] = {
    "SlaBreached": _breached,
    "SlaClockStopped": _stopped,
    "SlaClockCancelled": _clock_cancelled,
}


def _plan_facts(states: States, data: dict[str, Any]) -> tuple[State | None, str | None]:
    """The round's plan state and the service line of its checklist."""
    plan = states.of("inspection_plan", data.get("plan_id"))
    checklist = states.of("checklist", data.get("checklist_id"))
    return plan, (checklist or {}).get("service_line")


def round_started(record: Record) -> State:
    data = _data(record)
    return {
        "round_id": data.get("round_id"),
        "plan_id": data.get("plan_id"),
        "property_id": data.get("property_id") or record.get("property_id"),
        "area_id": data.get("area_id"),
        "checklist_id": data.get("checklist_id"),
        "inspector": data.get("inspector_id") or record["actor"]["id"],
        "start_e": record["event_id"],
        "findings": [],
        "done": None,
        "missed": None,
    }


def round_missed(states: States, record: Record) -> State:
    data = _data(record)
    plan, line = _plan_facts(states, data)
    state = round_started(record)
    state["inspector"] = None
    state["missed"] = {
        "e": record["event_id"],
        "at": data.get("window_end") or record["occurred_at"],
        "assignees": list((plan or {}).get("assignees", [])),
        "planned": (plan or {}).get("checkpoints", 0),
        "line": line,
    }
    return state


def _finding(_s: States, inspection: State, record: Record) -> None:
    data = _data(record)
    inspection["findings"].append({
        "e": record["event_id"],
        "at": record["occurred_at"],
        "responsible": data.get("responsible_id"),
        "points": int(data.get("deduction_points") or 0),
    })  # fmt: skip


def _round_completed(states: States, inspection: State, record: Record) -> None:
    data = _data(record)
    plan, line = _plan_facts(states, inspection)
    area = states.of("area", inspection["area_id"])
    inspection["done"] = {
        "e": record["event_id"],
        "at": record["occurred_at"],
        "score": int(data.get("score") or 0),
        "planned": (plan or {}).get("checkpoints", 0),
        "missed": len(data.get("missed_checkpoints") or ()),
        "signer": data.get("signer_id") or record["actor"]["id"],
        "line": line,
        "zone": responsible_at(area, line, utc(record["occurred_at"])),
    }


ROUND_STEPS: dict[str, Step] = {
    "FindingRaised": _finding,
    "InspectionRoundCompleted": _round_completed,
}


def responsible_at(area: State | None, line: str | None, at: datetime) -> str | None:
    """Who answered for the area's service line at `at` (terms are [from, to))."""
    if area is None or line is None:
        return None
    for start, end, person in reversed(area["terms"].get(line, [])):
        if utc(start) <= at and (end is None or at < utc(end)):
            return str(person)
    return None


def _area_assigned(_s: States, area: State, record: Record) -> None:
    data = _data(record)
    term = [data["effective_from"], None, data["responsible_id"]]
    area["terms"].setdefault(data["service_line"], []).append(term)


def _area_released(_s: States, area: State, record: Record) -> None:
    data = _data(record)
    terms = area["terms"].get(data["service_line"], [])
    if terms and terms[-1][1] is None:
        terms[-1][1] = data["effective_to"]


AREA_STEPS: dict[str, Step] = {
    "ResponsibilityAssigned": _area_assigned,
    "ResponsibilityReleased": _area_released,
}


def penalty_proposed(record: Record) -> State:
    data = _data(record)
    basis = f"{data.get('rule_id')} v{data.get('rule_version')} {data.get('clause')}"
    return {
        "case_id": data.get("case_id"),
        "property_id": data.get("property_id") or record.get("property_id"),
        "subject": data.get("subject_id"),
        "basis": basis[:300],
        "serious": serious_offence(basis) is not None,
        "points": int(data.get("points") or 0),
        "final": None,
        "status": "proposed",
        "at": record["occurred_at"],
        "events": [record["event_id"]],
    }


def _penalty_step(status: str | None) -> Step:
    def step(_s: States, case: State, record: Record) -> None:
        data = _data(record)
        case["events"].append(record["event_id"])
        if status is None:
            return
        case["status"] = status
        if status in FINAL_PENALTY:
            case["final"] = int(data.get("points") or 0)
        elif status == "revoked":
            case["final"] = 0

    return step


PENALTY_STEPS: dict[str, Step] = {
    "PenaltyNotified": _penalty_step("notified"),
    "AppealFiled": _penalty_step("appealed"),
    "AppealRuled": _penalty_step(None),
    "PenaltyConfirmed": _penalty_step("confirmed"),
    "PenaltyReduced": _penalty_step("reduced"),
    "PenaltyRevoked": _penalty_step("revoked"),
}


def capa_opened(record: Record) -> State:
    data = _data(record)
    return {
        "action_id": data.get("action_id"),
        "property_id": data.get("property_id") or record.get("property_id"),
        "owner": data.get("owner_id"),
        "due": data.get("due"),
        "closed_at": None,
        "events": [record["event_id"]],
    }


def _capa_step(field: str | None) -> Step:
    def step(_s: States, action: State, record: Record) -> None:
        action["events"].append(record["event_id"])
        if field == "due":
            action["due"] = _data(record).get("due") or action["due"]
        elif field == "closed":
            action["closed_at"] = record["occurred_at"]
        elif field == "reopened":
            action["closed_at"] = None

    return step


CAPA_STEPS: dict[str, Step] = {
    "CorrectiveActionPlanned": _capa_step("due"),
    "CorrectiveActionImplemented": _capa_step(None),
    "CorrectiveActionVerified": _capa_step(None),
    "CorrectiveActionClosed": _capa_step("closed"),
    "CorrectiveActionReopened": _capa_step("reopened"),
}


def staff_onboarded(record: Record) -> State:
    data = _data(record)
    return {
        "person_id": data["person_id"],
        "job_family": data.get("job_family") or "",
        "position": None,
        "property_id": None,
        "supervisor_id": None,
        "active": True,
    }


def _position(_s: States, person: State, record: Record) -> None:
    data = _data(record)
    person["position"] = data.get("position")
    person["property_id"] = data.get("property_id")
    person["supervisor_id"] = data.get("supervisor_id")


def _position_revoked(_s: States, person: State, record: Record) -> None:
    if _data(record).get("position") == person["position"]:
        person["position"] = None


def _offboarded(_s: States, person: State, _record: Record) -> None:
    person["active"] = False


STAFF_STEPS: dict[str, Step] = {
    "PositionAssigned": _position,
    "PositionRevoked": _position_revoked,
    "StaffOffboarded": _offboarded,
}

Create = Callable[[States, Record], State]


def _simple(make: Callable[[Record], State]) -> Create:
    return lambda _states, record: make(record)


def _plan(record: Record) -> State:
    data = _data(record)
    return {
        "plan_id": data.get("plan_id"),
        "area_id": data.get("area_id"),
        "checklist_id": data.get("checklist_id"),
        "checkpoints": len(data.get("checkpoints") or ()),
        "assignees": sorted(data.get("assignee_ids") or ()),
    }


def _checklist(record: Record) -> State:
    data = _data(record)
    return {"checklist_id": data.get("checklist_id"), "service_line": data.get("service_line")}


def _area(record: Record) -> State:
    return {"area_id": _data(record).get("area_id"), "terms": {}}


def _reward(record: Record) -> State:
    data = _data(record)
    return {
        "reward_id": data.get("reward_id"),
        "property_id": data.get("property_id") or record.get("property_id"),
        "person": data.get("person_id"),
        "kind": data.get("kind"),
        "points": int(data.get("points") or 0),
        "at": record["occurred_at"],
        "e": record["event_id"],
    }


CREATES: dict[str, Create] = {
    "TaskRegistered": _simple(task_registered),
    "SlaClockStarted": _simple(clock_started),
    "InspectionRoundStarted": _simple(round_started),
    "InspectionRoundMissed": round_missed,
    "InspectionPlanScheduled": _simple(_plan),
    "ChecklistTemplatePublished": _simple(_checklist),
    "ResponsibilityAreaDefined": _simple(_area),
    "PenaltyProposed": _simple(penalty_proposed),
    "RewardGranted": _simple(_reward),
    "CorrectiveActionOpened": _simple(capa_opened),
    "StaffOnboarded": _simple(staff_onboarded),
}
STEPS: dict[str, Step] = {
    **TASK_STEPS,
    **CLOCK_STEPS,
    **ROUND_STEPS,
    **AREA_STEPS,
    **PENALTY_STEPS,
    **CAPA_STEPS,
    **STAFF_STEPS,
}
REFS = (("task_no", "task"), ("plan_id", "inspection_plan"), ("checklist_id", "checklist"),
        ("area_id", "area"))  # fmt: skip
"""Fields naming another stream whose state a step reads (prefetched with the page) …"""
READERS = ("SlaClockStarted", "SlaClockStopped", "InspectionRoundStarted",
           "InspectionRoundMissed", "InspectionRoundCompleted")  # fmt: skip
"""… in the data of these events or in the state of their stream."""


@functools.lru_cache(maxsize=65_536)
def sid_of(kind: str, key: str) -> str:
    """The stream id of `kind`/`key` (a UUIDv5, cached: pages name the same streams often)."""
    return str(stream_id(kind, key))


# -- deriving fact rows from a stream's state ------------------------------------------------


def _fanout(
    key: str,
    sid: str,
    holders: dict[str, set[str]],
    whole: dict[str, Any],
    per_person: Callable[[str], dict[str, Any]] | None = None,
) -> list[Record]:
    """The fact's whole row (person `*`) and one row per attributed person.

    `whole` holds the columns of the fact plus `at` (the instant that decides its period) and
    `event_ids` (a list, kept in order without repeats).
    """
    at = utc(whole["at"])
    month, quarter = periods(at)
    columns = {name: value for name, value in whole.items() if name not in ("at", "event_ids")}
    base = {
        "fact_key": key,
        "stream_id": sid,
        "decided_at": at,
        "month": month,
        "quarter": quarter,
        "value": None,
        "wu_cmin": 0,
        "status": None,
        "serious": False,
        "detail": None,
        **columns,
        "event_ids": ",".join(dict.fromkeys(e for e in whole["event_ids"] if e)),
    }
    rows = [{**base, "person_id": ALL, "capacity": "all"}]
    for person in sorted(holders):
        extra = per_person(person) if per_person else {}
        capacity = ",".join(sorted(holders[person]))
        rows.append({**base, **extra, "person_id": person, "capacity": capacity})
    return rows


def _who(**roles: str | None) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for role, person in roles.items():
        if person:
            found.setdefault(person, set()).add(role)
    return found


def task_facts(sid: str, task: State) -> list[Record]:
    rows = []
    closed = task["closed"]
    for verdict in task["verdicts"]:
        cycle = verdict["cycle"]
        who = _who(executor=cycle.get("executor"), signer=cycle.get("signer"))
        common = {
            "metric": "acceptance",
            "property_id": task["property_id"],
            "n": 1,
            "ok": verdict["ok"],
            "detail": task["kind"],
            "at": verdict["at"],
            "event_ids": [*verdict["cycle_events"], verdict["e"]],
        }
        rows += _fanout(f"accept:{verdict['e']}", sid, who, common)
        if closed and verdict["rating"] is not None and verdict["in_window"]:
            rating = {**common, "metric": "rating", "ok": 1, "value": verdict["rating"],
                      "event_ids": [verdict["e"], closed["e"]]}  # fmt: skip
            rows += _fanout(f"rating:{verdict['e']}", sid, who, rating)
    if closed:
        rows += _closed_task_facts(sid, task, closed)
    return rows


def _closed_task_facts(sid: str, task: State, closed: dict[str, Any]) -> list[Record]:
    started = task["started_at"]
    night = started is not None and is_night(utc(started))
    minutes = TASK_MINUTES.get(task["kind"], DEFAULT_TASK_MINUTES)
    wu = work_cmin(minutes, bool(task["emergency"]), night)
    returned = set(task["returned"])
    holders = {person: set(roles) for person, roles in task["people"].items()}
    difficulty = [task["kind"]] + ["emergency"] * bool(task["emergency"]) + ["night"] * night
    whole = {
        "metric": "task",
        "property_id": task["property_id"],
        "n": 1,
        "ok": int(not returned),
        "value": len(returned),
        "wu_cmin": wu,
        "detail": " ".join(difficulty),
        "status": "reworked" if returned else "first_time_fix",
        "at": closed["at"],
        "event_ids": task["events"],
    }

    def per_person(person: str) -> dict[str, Any]:
        reworked = person in returned
        return {
            "ok": int(not reworked),
            "value": int(reworked),
            "status": "reworked" if reworked else "first_time_fix",
            "wu_cmin": wu if person == task["final_executor"] else 0,
        }

    return _fanout(f"task:{task['task_no']}", sid, holders, whole, per_person)


def clock_facts(sid: str, clock: State) -> list[Record]:
    stop, breach = clock["stop"], clock["breach"]
    if stop is not None:
        failed_by = breach if (breach is not None and not stop["met"]) else stop
        ok, at, value = int(stop["met"]), stop["at"], stop["business"]
        status = "met" if stop["met"] else "late"
    elif breach is not None:
        failed_by, ok, at, value, status = breach, 0, breach["at"], None, "breached"
    else:
        return []
    who = _who(responsible=failed_by["responsible"], executor=failed_by["executor"])
    metric = "response" if clock["metric"] in RESPONSE_METRICS else "resolution"
    events = [clock["start_e"], (breach or {}).get("e"), (stop or {}).get("task_e"),
              (stop or {}).get("e")]  # fmt: skip
    whole = {"metric": metric, "property_id": clock["property_id"], "n": 1, "ok": ok,
             "value": value, "status": status, "detail": f"{clock['metric']}:{clock['clause_id']}",
             "at": at, "event_ids": events}  # fmt: skip
    return _fanout(f"clock:{clock['task_no']}/{clock['clause_id']}", sid, who, whole)


def round_facts(sid: str, inspection: State) -> list[Record]:
    rows = []
    key, prop = inspection["round_id"], inspection["property_id"]
    for finding in inspection["findings"]:
        whole = {"metric": "finding", "property_id": prop, "n": 1, "ok": 0,
                 "value": finding["points"], "detail": inspection["plan_id"], "at": finding["at"],
                 "event_ids": [finding["e"]]}  # fmt: skip
        rows += _fanout(f"finding:{finding['e']}", sid, _who(responsible=finding["responsible"]),
                        whole)  # fmt: skip
    done, missed = inspection["done"], inspection["missed"]
    if done is not None:
        planned = max(done["planned"], 1)
        visited = planned - min(done["missed"], planned) if done["planned"] else 1
        minutes = ROUND_MINUTES.get(done["line"] or "", DEFAULT_ROUND_MINUTES)
        events = [inspection["start_e"], done["e"]]
        whole = {"metric": "round", "property_id": prop, "n": planned, "ok": visited,
                 "value": done["score"], "wu_cmin": work_cmin(minutes, False, False),
                 "status": "completed", "detail": inspection["plan_id"], "at": done["at"],
                 "event_ids": events}  # fmt: skip
        rows += _fanout(f"round:{key}", sid, _who(inspector=done["signer"]), whole)
        zone = {**whole, "metric": "zone", "n": 1, "ok": 1, "wu_cmin": 0,
                "detail": f"{inspection['area_id']}#{done['line']}"}  # fmt: skip
        rows += _fanout(f"zone:{key}", sid, _who(zone=done["zone"]), zone)
    elif missed is not None:
        planned = max(missed["planned"], 1)
        holders = {person: {"assignee"} for person in missed["assignees"]}
        whole = {"metric": "round", "property_id": prop, "n": planned, "ok": 0,
                 "status": "missed", "detail": inspection["plan_id"], "at": missed["at"],
                 "event_ids": [missed["e"]]}  # fmt: skip
        rows += _fanout(f"round:{key}", sid, holders, whole)
    return rows


def penalty_facts(sid: str, case: State) -> list[Record]:
    final = case["status"] in FINAL_PENALTY
    whole = {"metric": "penalty", "property_id": case["property_id"], "n": 1, "ok": int(final),
             "value": case["final"] if case["final"] is not None else case["points"],
             "status": case["status"], "serious": bool(case["serious"]), "detail": case["basis"],
             "at": case["at"], "event_ids": case["events"]}  # fmt: skip
    return _fanout(f"penalty:{case['case_id']}", sid, _who(subject=case["subject"]), whole)


def reward_facts(sid: str, reward: State) -> list[Record]:
    whole = {"metric": "reward", "property_id": reward["property_id"], "n": 1, "ok": 1,
             "value": reward["points"], "status": "granted", "detail": reward["kind"],
             "at": reward["at"], "event_ids": [reward["e"]]}  # fmt: skip
    return _fanout(f"reward:{reward['reward_id']}", sid, _who(recipient=reward["person"]), whole)


def capa_facts(sid: str, action: State) -> list[Record]:
    if action["due"] is None:
        return []
    closed, due = action["closed_at"], utc(action["due"])
    on_time = closed is not None and utc(closed) <= due
    whole = {"metric": "capa", "property_id": action["property_id"], "n": 1, "ok": int(on_time),
             "status": "closed" if closed else "open", "detail": action["action_id"],
             "at": action["due"], "event_ids": action["events"]}  # fmt: skip
    return _fanout(f"capa:{action['action_id']}", sid, _who(owner=action["owner"]), whole)


FACTS: dict[str, Callable[[str, State], list[Record]]] = {
    "Task": task_facts,
    "SlaClock": clock_facts,
    "InspectionRound": round_facts,
    "PenaltyCase": penalty_facts,
    "Reward": reward_facts,
    "CorrectiveAction": capa_facts,
}


def _staff_row(sid: str, person: State) -> Record:
    return {
        "person_id": person["person_id"],
        "stream_id": sid,
        "job_family": person["job_family"],
        "position": person["position"],
        "property_id": person["property_id"],
        "supervisor_id": person["supervisor_id"],
        "active": bool(person["active"]),
    }


# -- the view ----------------------------------------------------------------------------------


class KpiView:
    """Folds the page into stream states, then rewrites the facts of the streams that changed."""

    name = "kpis"
    tables = (kpi_state, kpi_staff, kpi_facts)
    write_indexes = ("ix_kpi_facts_stream",)
    """Kept during a rebuild: each page deletes the changed streams' facts by stream id."""

    def apply(self, conn: Connection, records: Sequence[Record], ids: Sequence[int]) -> None:
        followed = [r for r in records if r["type"] in CREATES or r["type"] in STEPS]
        if not followed:
            return
        states = States(conn)
        states.prefetch(r["stream_id"] for r in followed)
        states.prefetch(_references(states, followed))
        for record in followed:
            _fold(states, record)
        changed = states.flush()
        self._write_facts(conn, states, changed)

    def _write_facts(self, conn: Connection, states: States, changed: list[str]) -> None:
        factual = [sid for sid in changed if states.kinds[sid] in FACTS]
        staff = [sid for sid in changed if states.kinds[sid] == "Staff"]
        for start in range(0, len(factual), CHUNK):
            chunk = factual[start : start + CHUNK]
            conn.execute(delete(kpi_facts).where(kpi_facts.c.stream_id.in_(chunk)))
        derive = [(FACTS[states.kinds[sid]], sid) for sid in factual]
        rows = [row for facts, sid in derive for row in facts(sid, _state(states, sid))]
        insert_rows(conn, kpi_facts, rows)
        people = [_staff_row(sid, _state(states, sid)) for sid in staff]
        for start in range(0, len(people), CHUNK):
            chunk = [row["person_id"] for row in people[start : start + CHUNK]]
            conn.execute(delete(kpi_staff).where(kpi_staff.c.person_id.in_(chunk)))
        insert_rows(conn, kpi_staff, people)


def _state(states: States, sid: str) -> State:
    state = states.loaded[sid]
    assert state is not None
    return state


def _references(states: States, records: Sequence[Record]) -> set[str]:
    """Streams whose state the page's steps read: a clock's task, a round's plan and area."""
    found: set[str] = set()
    for record in records:
        if record["type"] not in READERS:
            continue
        for source in (_data(record), states.loaded.get(record["stream_id"]) or {}):
            for field, kind in REFS:
                key = source.get(field)
                if isinstance(key, str) and key:
                    found.add(sid_of(kind, key))
    return found


def _fold(states: States, record: Record) -> None:
    sid, kind = record["stream_id"], record["type"]
    create = CREATES.get(kind)
    if create is not None:
        if states.get(sid) is None:
            states.put(sid, record["stream_type"], create(states, record))
        return
    state = states.get(sid)
    if state is None:
        return  # a stream whose first event this view does not follow
    STEPS[kind](states, state, record)
    states.touch(sid)
