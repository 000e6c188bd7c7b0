"""Use cases of the SLA engine: the commands the deadline watcher issues, one per clock fact.

Every command is the system's (actor kind "system"); the caller chooses deterministic command
ids (e.g. "sla/T-1/EMG-ACK/warn/50"), so a retried or racing watcher writes nothing twice, and
the clock's own state refuses a second warning, breach or escalation with IllegalTransition.

A transition names the task event that justifies it; the use case reads that event from the
task's stream, checks that the `CONDITIONS` table maps it to this transition for the clock's
metric and clause (`ledger.domain.sla`), and takes its `occurred_at` as the instant. Timed
facts (warnings, breach, escalations) compute their own instant from the clock and the pinned
calendar version; the command's `occurred_at` must have reached it.

Who is named: `SlaBreached` names the person responsible for the task at the breach instant,
folded from the task's own history (registration, then every TaskDispatched / TaskReassigned
that occurred at or before it), falling back to the area's responsible person for the task's
service line at that instant; the role is that person's position then. Rule penalties go to
that person (a breach) or to the area's responsible person for the plan's service line at the
end of the missed window, under the clause version's penalty rule, with the 20%-of-wage and
minimum-wage caps of `ledger.domain.penalties` applied to the month's running total.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.application import Acting, CommandResult, LedgerCore
from ledger.business_time import Calendar, calendar_of
from ledger.domain.areas import EscalationChain
from ledger.domain.base import LedgerAggregate
from ledger.domain.contracts import BusinessCalendar, Contract, calendar_key
from ledger.domain.inspections import Checklist, InspectionPlan, InspectionRound
from ledger.domain.penalties import DEDUCTION_CAP, PenaltyCase, check_wage_caps, parse_money
from ledger.domain.sla import SlaClock, action_for, applicable, clause_applies, clock_key
from ledger.domain.tasks import Task
from ledger.envelope import CommandContext, Meta
from ledger.errors import IllegalTransition, InvalidValue, NotFound, NotResponsible
from ledger.ids import event_id, stream_id

CENT = Decimal("0.01")


@dataclass(frozen=True)
class TaskFact:
    """One event of a task's stream as the SLA engine reads it.

    `responsible_id` / `executor_id` are the holders the event itself names (None otherwise).
    """

    event_id: str
    type: str
    occurred_at: datetime
    recorded_at: datetime
    cause: str | None
    has_evidence: bool
    responsible_id: str | None
    executor_id: str | None


def holders_at(facts: Iterable[TaskFact], at: datetime) -> tuple[str | None, str | None]:
    """(responsible, executor) at `at`: the task's events that occurred by then, in log order."""
    responsible: str | None = None
    executor: str | None = None
    for fact in facts:
        if fact.occurred_at > at:
            continue
        if fact.type == "TaskRegistered":
            responsible = fact.responsible_id
        elif fact.type in ("TaskDispatched", "TaskReassigned"):
            responsible, executor = fact.responsible_id, fact.executor_id
        elif fact.type in ("TaskDeclined", "TaskReopened"):
            executor = None
    return responsible, executor


def require_system(ctx: CommandContext) -> None:
    """Clock facts and rule penalties are the engine's, never typed in by a person."""
    if ctx.actor_kind != "system":
        raise NotResponsible("only the system (the SLA watcher) records SLA clock facts")


@dataclass(frozen=True)
class TaskStory:
    """A task as its registration described it, with all its events (read in one go)."""

    task_no: str
    property_id: str
    area_id: str
    kind: str
    service_line: str
    is_emergency: bool
    registered_at: datetime
    facts: tuple[TaskFact, ...]


def _fact(record: dict[str, Any]) -> TaskFact:
    """A fact from an event's stored public record (no domain object needed to read it)."""
    data, kind = record.get("data") or {}, record["type"]
    return TaskFact(
        event_id=record["event_id"],
        type=kind,
        occurred_at=datetime.fromisoformat(record["occurred_at"]),
        recorded_at=datetime.fromisoformat(record["recorded_at"]),
        cause=data.get("cause") if kind == "TaskPutOnHold" else None,
        has_evidence=bool(record.get("evidence")),
        responsible_id=data.get("to_responsible_id") or data.get("responsible_id"),
        executor_id=data.get("to_executor_id") or data.get("executor_id"),
    )


class SlaUseCases(LedgerCore):
    """Start, pause, resume, stop and cancel clocks; warn, breach, escalate; propose by rule."""

    if TYPE_CHECKING:
        # Provided by the application (the areas mixin reads the responsibility history).
        def responsible_for(self, area_id: str, service_line: str, at: datetime) -> str | None: ...

    # -- queries the watcher shares ------------------------------------------------------

    def history(self, stream: UUID) -> list[Any]:
        """The decoded events of one stream, in order (typed loosely: any event class)."""
        return list(self.events.get(stream))

    def task_story(self, task: str | UUID) -> TaskStory:
        """A task (by number or stream id): registration and events, in log order."""
        sid = task if isinstance(task, UUID) else stream_id("task", task)
        records = [json.loads(stored.state) for stored in self.recorder.select_events(sid)]
        if not records or records[0]["type"] != "TaskRegistered":
            raise NotFound(f"no task with id {task!r}")
        first = records[0]["data"]
        return TaskStory(
            task_no=first["task_no"],
            property_id=first["property_id"],
            area_id=first["area_id"],
            kind=first["kind"],
            service_line=first["service_line"],
            is_emergency=bool(first["is_emergency"]),
            registered_at=datetime.fromisoformat(records[0]["occurred_at"]),
            facts=tuple(_fact(record) for record in records),
        )

    def task_facts(self, task_no: str) -> list[TaskFact]:
        """The task's events in log order (NotFound for an unknown task)."""
        return list(self.task_story(task_no).facts)

    def applicable_clauses(self, task_no: str, contract_no: str) -> tuple[str, ...]:
        """The clauses of a contract that run a clock for this task (versions at registration)."""
        task = self.load(Task, "task", task_no)
        contract = self.contract_now(contract_no)
        if not _covers(contract, task.property_id, task.registered_at):
            return ()
        at = task.registered_at
        return applicable(contract.clauses, task.kind, task.service_line, task.is_emergency, at)

    def contract_now(self, contract_no: str) -> Contract:
        """A contract as it stands, re-read only when its stream has grown since last time."""
        head = self.recorder.select_events(stream_id("contract", contract_no), desc=True, limit=1)
        version = head[0].originator_version if head else 0
        cache: dict[str, tuple[int, Contract]] = self.__dict__.setdefault("_sla_contracts", {})
        cached = cache.get(contract_no)
        if cached is None or cached[0] != version:
            cached = (version, self.load(Contract, "contract", contract_no))
            cache[contract_no] = cached
        return cached[1]

    def sla_clock(self, task_no: str, clause_id: str) -> SlaClock:
        return self.load(SlaClock, "sla_clock", clock_key(task_no, clause_id))

    def clock_calendar(self, clock: SlaClock) -> Calendar:
        """The calendar version the clock pinned."""
        return self.calendar_version(clock.calendar_id, clock.calendar_version)

    def calendar_version(self, calendar_id: str, version: int) -> Calendar:
        """One published calendar version (kept once read: a version never changes)."""
        cache: dict[tuple[str, int], Calendar] = self.__dict__.setdefault("_sla_calendars", {})
        if (calendar_id, version) not in cache:
            sid = stream_id("contract", calendar_key(calendar_id))
            published: LedgerAggregate = self.repository.get(sid, version=version)
            if not isinstance(published, BusinessCalendar):
                raise NotFound(f"{calendar_id!r} is not a business calendar")
            cache[(calendar_id, version)] = calendar_of(published)
        return cache[(calendar_id, version)]

    # -- attaching and moving clocks -----------------------------------------------------

    def start_sla_clock(
        self, ctx: CommandContext, task_no: str, contract_no: str, clause_id: str
    ) -> CommandResult:
        """Attach the clock of one clause to a task, pinning clause, calendar and chain versions."""

        def act(a: Acting) -> list[LedgerAggregate]:
            require_system(ctx)
            self.require_new(
                "sla_clock", clock_key(task_no, clause_id),
                f"task {task_no} already has a clock for {clause_id}",
            )
            task = self.load(Task, "task", task_no)
            contract = self.contract_now(contract_no)
            at = task.registered_at
            if not _covers(contract, task.property_id, at):
                raise InvalidValue(f"contract {contract_no} does not cover {task.property_id} then")
            clause = contract.clause_at(clause_id, at)
            if clause is None or not clause_applies(
                clause, task.kind, task.service_line, task.is_emergency
            ):
                raise InvalidValue(f"clause {clause_id} does not apply to task {task_no}")
            calendar, calendar_version = self._pinned_calendar(clause["calendar_id"], at)
            chain, chain_version = self._pinned_chain(clause["escalation_chain_id"], at)
            clock = SlaClock.start(
                a.meta(task.property_id), calendar, task_no, task.property_id, contract_no,
                clause, calendar_version, chain_version, chain.levels, at,
                str(event_id(stream_id("task", task_no), 1)),
            )  # fmt: skip
            return [clock]

        return self.run(ctx, "start_sla_clock", locals(), act)

    def pause_sla_clock(
        self, ctx: CommandContext, task_no: str, clause_id: str, hold_event_id: str
    ) -> CommandResult:
        return self._transition(ctx, "pause_sla_clock", locals(), "pause")

    def resume_sla_clock(
        self, ctx: CommandContext, task_no: str, clause_id: str, resume_event_id: str
    ) -> CommandResult:
        return self._transition(ctx, "resume_sla_clock", locals(), "resume")

    def stop_sla_clock(
        self, ctx: CommandContext, task_no: str, clause_id: str, stop_event_id: str
    ) -> CommandResult:
        return self._transition(ctx, "stop_sla_clock", locals(), "stop")

    def cancel_sla_clock(
        self, ctx: CommandContext, task_no: str, clause_id: str, cancel_event_id: str
    ) -> CommandResult:
        return self._transition(ctx, "cancel_sla_clock", locals(), "cancel")

    def _transition(
        self, ctx: CommandContext, command: str, args: dict[str, Any], action: str
    ) -> CommandResult:
        """The shared shape of the four transitions: check the justifying task event, apply it."""
        justifying = next(v for k, v in args.items() if k.endswith("_event_id"))

        def step(clock: SlaClock, meta: Meta) -> None:
            fact = self._justifying(clock, justifying, action)
            if action == "cancel":
                clock.cancel(meta, fact.occurred_at, justifying)
                return
            moves: dict[str, Callable[[Meta, Calendar, datetime, str], None]] = {
                "pause": clock.pause,
                "resume": clock.resume,
                "stop": clock.stop,
            }
            moves[action](meta, self.clock_calendar(clock), fact.occurred_at, justifying)

        return self._on_clock(ctx, command, args, step)

    def _justifying(self, clock: SlaClock, justifying: str, action: str) -> TaskFact:
        """The task event named, if the conditions table maps it to `action` for this clock."""
        facts = {f.event_id: f for f in self.task_facts(clock.task_no)}
        fact = facts.get(justifying)
        if fact is None:
            raise NotFound(f"task {clock.task_no} has no event {justifying!r}")
        clause = self.clause_version(clock.contract_no, clock.clause_id, clock.clause_version)
        found = action_for(
            clock.metric, clause["pause_on"], fact.type, fact.cause, fact.has_evidence
        )
        if found != action:
            raise InvalidValue(f"{fact.type} does not {action} a {clock.metric} clock here")
        return fact

    # -- timed facts ---------------------------------------------------------------------

    def raise_sla_warning(
        self,
        ctx: CommandContext,
        task_no: str,
        clause_id: str,
        threshold: str,
        notified_ids: tuple[str, ...],
    ) -> CommandResult:
        def step(clock: SlaClock, meta: Meta) -> None:
            for person in notified_ids:
                self.active_staff(person)
            clock.raise_warning(meta, self.clock_calendar(clock), threshold, tuple(notified_ids))

        return self._on_clock(ctx, "raise_sla_warning", locals(), step)

    def record_sla_breach(self, ctx: CommandContext, task_no: str, clause_id: str) -> CommandResult:
        """The breach, naming who answered for the task at that instant (not today's holder)."""

        def step(clock: SlaClock, meta: Meta) -> None:
            calendar = self.clock_calendar(clock)
            at = clock.breach_instant(calendar)
            if at is None:
                raise IllegalTransition("the due time of this clock has not been reached")
            responsible, executor = self.responsible_at(task_no, at)
            role = None if responsible is None else self.position_at(responsible, at)
            clock.record_breach(meta, calendar, responsible, role, executor)

        return self._on_clock(ctx, "record_sla_breach", locals(), step)

    def escalate_sla(
        self,
        ctx: CommandContext,
        task_no: str,
        clause_id: str,
        level: int,
        notified_id: str,
        channel: str = "in_app",
    ) -> CommandResult:
        def step(clock: SlaClock, meta: Meta) -> None:
            self.active_staff(notified_id)
            clock.escalate(meta, level, notified_id, channel)

        return self._on_clock(ctx, "escalate_sla", locals(), step)

    def _on_clock(
        self,
        ctx: CommandContext,
        command: str,
        args: dict[str, Any],
        step: Callable[[SlaClock, Meta], None],
    ) -> CommandResult:
        """The common shape of every command on an existing clock."""

        def act(a: Acting) -> list[LedgerAggregate]:
            require_system(ctx)
            clock = self.sla_clock(args["task_no"], args["clause_id"])
            step(clock, a.meta(clock.property_id))
            return [clock]

        return self.run(ctx, command, args, act)

    # -- who, then -----------------------------------------------------------------------

    def responsible_at(self, task_no: str, at: datetime) -> tuple[str | None, str | None]:
        """(responsible, executor) of a task at `at`; the area's holder if the task names none."""
        story = self.task_story(task_no)
        responsible, executor = holders_at(story.facts, at)
        if responsible is None:
            responsible = self.responsible_for(story.area_id, story.service_line, at)
        return responsible, executor

    def position_at(self, person_id: str, at: datetime) -> str | None:
        """The position a staff member held at `at`, from their own history."""
        position: str | None = None
        for change in self.history(stream_id("staff", person_id)):
            if change.meta.occurred_at > at:
                break
            kind = type(change).__name__
            if kind == "PositionAssigned":
                position = change.position
            elif kind in ("PositionRevoked", "StaffOffboarded"):
                position = None
        return position

    # -- penalties by rule ---------------------------------------------------------------

    def propose_rule_penalty_for_breach(
        self,
        ctx: CommandContext,
        task_no: str,
        clause_id: str,
        monthly_wage: str,
        minimum_wage: str,
        deducted_this_month: str = "0.00",
    ) -> CommandResult:
        """PenaltyProposed against the person responsible at the breach, under the clause's rule."""

        def act(a: Acting) -> list[LedgerAggregate]:
            require_system(ctx)
            clock = self.sla_clock(task_no, clause_id)
            if not clock.breached or clock.breach_at is None:
                raise IllegalTransition(f"the clock of {task_no} for {clause_id} has not breached")
            subject = clock.responsible_at_breach
            if subject is None:
                raise InvalidValue("nobody was responsible at the breach to propose against")
            clause = self.clause_version(clock.contract_no, clause_id, clock.clause_version)
            reason = (
                f"SLA {clause_id} ({clock.metric} {clock.target}) breached at "
                f"{clock.breach_at.isoformat()}; responsible at breach {subject}"
            )
            terms = RuleTerms(monthly_wage, minimum_wage, deducted_this_month)
            basis = (self._breach_event_id(clock),)
            case = self._rule_penalty(
                a.meta(clock.property_id), f"SLA-{clock_key(task_no, clause_id)}",
                clock.property_id, subject, clock.contract_no, clause, basis, reason, terms,
            )  # fmt: skip
            return [case]

        return self.run(ctx, "propose_rule_penalty_for_breach", locals(), act)

    def propose_rule_penalty_for_missed_round(
        self,
        ctx: CommandContext,
        round_id: str,
        contract_no: str,
        clause_id: str,
        monthly_wage: str,
        minimum_wage: str,
        deducted_this_month: str = "0.00",
    ) -> CommandResult:
        """PenaltyProposed against whoever answered for the plan's area and line at its end."""

        def act(a: Acting) -> list[LedgerAggregate]:
            require_system(ctx)
            missed = self.load(InspectionRound, "inspection_round", round_id)
            if missed.status != "missed":
                raise IllegalTransition(f"the window {round_id} was not missed")
            plan = self.load(InspectionPlan, "inspection_plan", missed.plan_id)
            line = self.load(Checklist, "checklist", missed.checklist_id).service_line
            clause = self._frequency_clause(contract_no, clause_id, plan.property_id, line, missed)
            last_moment = missed.window_end - timedelta(seconds=1)
            subject = self.responsible_for(plan.area_id, line, last_moment)
            if subject is None:
                raise InvalidValue(f"nobody answered for {line} in {plan.area_id} then")
            reason = (
                f"{clause_id}: no {line} round in the window {missed.window_start.isoformat()} – "
                f"{missed.window_end.isoformat()} of plan {plan.plan_id}; responsible {subject}"
            )
            terms = RuleTerms(monthly_wage, minimum_wage, deducted_this_month)
            basis = (str(event_id(stream_id("inspection_round", round_id), 1)),)
            case = self._rule_penalty(
                a.meta(plan.property_id), f"MISS-{round_id}", plan.property_id, subject,
                contract_no, clause, basis, reason, terms,
            )  # fmt: skip
            return [case]

        return self.run(ctx, "propose_rule_penalty_for_missed_round", locals(), act)

    def _rule_penalty(
        self,
        meta: Meta,
        case_id: str,
        property_id: str,
        subject: str,
        contract_no: str,
        clause: dict[str, Any],
        basis: tuple[str, ...],
        reason: str,
        terms: RuleTerms,
    ) -> PenaltyCase:
        """The case the clause's rule proposes, its amount capped by the month's running total."""
        self.require_new("penalty", case_id, f"penalty case {case_id!r} already exists")
        self.active_staff(subject)
        amount, note = terms.capped(parse_money("penalty_amount", clause["penalty_amount"]))
        label = f"{contract_no} {clause['clause_id']} v{clause['version']}: {clause['source_ref']}"
        return PenaltyCase.propose(
            meta, case_id, property_id, subject, clause["penalty_rule"], int(clause["version"]),
            label[:200], int(clause["penalty_points"]), f"{amount:.2f}", terms.monthly_wage,
            terms.minimum_wage, basis, reason + note,
        )  # fmt: skip

    # -- pinned versions and lookups -----------------------------------------------------

    def clause_version(self, contract_no: str, clause_id: str, version: int) -> dict[str, Any]:
        """One version of a clause (kept once read: a clause version never changes)."""
        key = (contract_no, clause_id, version)
        cache: dict[tuple[str, str, int], dict[str, Any]] = self.__dict__.setdefault(
            "_sla_clauses", {}
        )
        if key not in cache:
            contract = self.contract_now(contract_no)
            for candidate in contract.clauses.get(clause_id, ()):
                if candidate["version"] == version:
                    cache[key] = dict(candidate)
            if key not in cache:
                raise NotFound(f"contract {contract_no} has no clause {clause_id} v{version}")
        return dict(cache[key])

    def _frequency_clause(
        self, contract_no: str, clause_id: str, property_id: str, line: str, missed: InspectionRound
    ) -> dict[str, Any]:
        """The frequency clause covering a plan's line at the window's start."""
        contract = self.contract_now(contract_no)
        if not _covers(contract, property_id, missed.window_start):
            raise InvalidValue(f"contract {contract_no} does not cover {property_id} then")
        clause = contract.clause_at(clause_id, missed.window_start)
        if clause is None or clause["metric"] != "frequency" or clause["service_line"] != line:
            raise InvalidValue(f"{clause_id} is not the frequency clause of {line} then")
        return clause

    def _breach_event_id(self, clock: SlaClock) -> str:
        sid = stream_id("sla_clock", clock_key(clock.task_no, clock.clause_id))
        for recorded in self.history(sid):
            if isinstance(recorded, SlaClock.SlaBreached):
                return str(event_id(sid, recorded.originator_version))
        raise NotFound("the clock's breach is not in its stream")  # pragma: no cover

    def _version_at(self, kind: str, key: str, at: datetime) -> int:
        """The last version of a versioned stream published by `at` (else the first)."""
        events = self.history(stream_id(kind, key))
        published = [e for e in events if e.meta.occurred_at <= at]
        if not published and not self.exists(kind, key):
            raise NotFound(f"no {kind.replace('_', ' ')} {key!r}")
        return max(1, len(published))

    def _pinned_calendar(self, calendar_id: str, at: datetime) -> tuple[Calendar, int]:
        version = self._version_at("contract", calendar_key(calendar_id), at)
        return self.calendar_version(calendar_id, version), version

    def _pinned_chain(self, chain_id: str, at: datetime) -> tuple[EscalationChain, int]:
        version = self._version_at("escalation_chain", chain_id, at)
        sid = stream_id("escalation_chain", chain_id)
        chain: LedgerAggregate = self.repository.get(sid, version=version)
        if not isinstance(chain, EscalationChain):
            raise NotFound(f"{chain_id!r} is not an escalation chain")
        return chain, version


@dataclass(frozen=True)
class RuleTerms:
    """The wage figures a rule penalty is capped by (工资支付暂行规定 16)."""

    monthly_wage: str
    minimum_wage: str
    deducted_this_month: str

    def capped(self, amount: Decimal) -> tuple[Decimal, str]:
        """The rule's amount within what is left of this month's cap, and a note if cut."""
        wage = parse_money("monthly_wage", self.monthly_wage)
        minimum = parse_money("minimum_wage", self.minimum_wage)
        already = parse_money("deducted_this_month", self.deducted_this_month)
        check_wage_caps(Decimal(0), wage, minimum)  # positive wages
        ceiling = min(wage * DEDUCTION_CAP, wage - minimum)
        granted = max(Decimal(0), min(amount, ceiling - already)).quantize(CENT, ROUND_DOWN)
        if granted > 0:
            check_wage_caps(already + granted, wage, minimum)
        if granted == amount:
            return granted, ""
        return granted, (
            f"; amount capped from {amount} to {granted}: at most 20% of the monthly wage "
            f"{wage} and never below the minimum wage {minimum}, {already} already deducted "
            "this month"
        )


def _covers(contract: Contract, property_id: str, at: datetime) -> bool:
    """Whether a contract was in force for a property at `at`."""
    return property_id in contract.property_ids and contract.term_start <= at < contract.term_end
