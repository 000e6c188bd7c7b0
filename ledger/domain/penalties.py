"""Penalty cases (处罚): proposal, notification, appeal, ruling and the final state.

In a dispute over a deduction the employer bears the burden of proof (SPC labour interpretation I
art. 44), so every case names the rule version, the clause and the events it rests on, carries
the wage-cap calculation (工资支付暂行规定 16: at most 20% of the monthly wage, never below the
local minimum wage), proves delivery or a witnessed refusal, and is ruled on appeal by someone
other than the proposer. Every check lives in a public command; the `@event` mutators only assign.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from eventsourcing.domain import event

from ledger.domain.base import LedgerAggregate, require_choice, require_text, require_whole
from ledger.envelope import Meta
from ledger.errors import IllegalTransition, InvalidValue, NotResponsible, SeparationOfDuties
from ledger.ids import stream_id

NOTIFY_METHODS = ("in_app", "paper", "sms")
DECISIONS = ("upheld", "reduced", "overturned")
TERMINAL = ("confirmed", "reduced", "revoked")
MAX_POINTS = 100
DEDUCTION_CAP = Decimal("0.20")
MAX_MONEY = Decimal("100000000.00")

_MONEY = re.compile(r"(0|[1-9]\d{0,8})\.\d{2}", re.ASCII)


def parse_money(name: str, value: str) -> Decimal:
    """Money travels as a string with exactly two decimals ("200.00"); never a float."""
    if not isinstance(value, str) or not _MONEY.fullmatch(value):
        raise InvalidValue(f"{name} must be an amount like '200.00' (two decimals); got {value!r}")
    amount = Decimal(value)
    if amount > MAX_MONEY:
        raise InvalidValue(f"{name} is larger than {MAX_MONEY}")
    return amount


def require_points(name: str, value: int, high: int) -> int:
    """Points are whole numbers from 0 to `high`."""
    return require_whole(name, value, 0, high)


def require_ids(name: str, values: tuple[str, ...], *, at_least: int) -> tuple[str, ...]:
    """A tuple of distinct, non-empty ids."""
    if not isinstance(values, tuple):
        raise InvalidValue(f"{name} must be a tuple of ids")
    ids = tuple(require_text(name, v, 200) for v in values)
    if len(ids) < at_least:
        raise InvalidValue(f"{name} needs at least {at_least} id(s)")
    if len(set(ids)) != len(ids):
        raise InvalidValue(f"{name} contains duplicates")
    return ids


def check_wage_caps(amount: Decimal, monthly_wage: Decimal, minimum_wage: Decimal) -> None:
    """工资支付暂行规定 16: a deduction for losses is at most 20% of the monthly wage and the
    remaining pay is never below the local minimum wage. A points-only penalty deducts nothing."""
    if monthly_wage <= 0 or minimum_wage <= 0:
        raise InvalidValue("monthly_wage and minimum_wage must be positive")
    if amount == 0:
        return
    cap = monthly_wage * DEDUCTION_CAP
    if amount > cap:
        raise InvalidValue(
            f"amount {amount} exceeds the 20% cap of the monthly wage ({cap} of {monthly_wage})"
        )
    if monthly_wage - amount < minimum_wage:
        raise InvalidValue(
            f"amount {amount} would leave {monthly_wage - amount}, below the local minimum wage "
            f"cap ({minimum_wage})"
        )


class PenaltyCase(LedgerAggregate):
    """One proposed penalty against one person and its whole procedure."""

    class PenaltyProposed(LedgerAggregate.Created):
        case_id: str
        property_id: str
        subject_id: str
        rule_id: str
        rule_version: int
        clause: str
        points: int
        amount: str
        monthly_wage: str
        minimum_wage: str
        basis_event_ids: tuple[str, ...]
        reason: str

    @event(PenaltyProposed)
    def __init__(
        self,
        meta: Meta,
        case_id: str,
        property_id: str,
        subject_id: str,
        rule_id: str,
        rule_version: int,
        clause: str,
        points: int,
        amount: str,
        monthly_wage: str,
        minimum_wage: str,
        basis_event_ids: tuple[str, ...],
        reason: str,
    ) -> None:
        self.case_id = case_id
        self.property_id = property_id
        self.subject_id = subject_id
        self.rule_id = rule_id
        self.rule_version = rule_version
        self.clause = clause
        self.points = points
        self.amount = amount
        self.monthly_wage = monthly_wage
        self.minimum_wage = minimum_wage
        self.basis_event_ids = basis_event_ids
        self.reason = reason
        self.proposer_id = meta.actor.id
        self.status = "proposed"
        self.appeal_deadline: datetime | None = None
        self.appealed = False
        self.decision: str | None = None
        self.ruled_by: str | None = None
        self.final_points: int | None = None
        self.final_amount: str | None = None

    @classmethod
    def propose(
        cls,
        meta: Meta,
        case_id: str,
        property_id: str,
        subject_id: str,
        rule_id: str,
        rule_version: int,
        clause: str,
        points: int,
        amount: str,
        monthly_wage: str,
        minimum_wage: str,
        basis_event_ids: tuple[str, ...],
        reason: str,
    ) -> PenaltyCase:
        """Propose a penalty that names its rule version, clause and basis events."""
        subject_id = require_text("subject_id", subject_id, 100)
        if subject_id == meta.actor.id:
            raise SeparationOfDuties("a person cannot propose a penalty against themselves")
        if isinstance(rule_version, bool) or not isinstance(rule_version, int) or rule_version < 1:
            raise InvalidValue("rule_version must be a positive integer")
        require_points("points", points, MAX_POINTS)
        money = parse_money("amount", amount)
        wage = parse_money("monthly_wage", monthly_wage)
        check_wage_caps(money, wage, parse_money("minimum_wage", minimum_wage))
        if points == 0 and money == 0:
            raise InvalidValue("a penalty must deduct points or money")
        return cls._create(
            cls.PenaltyProposed,
            id=stream_id("penalty", require_text("case_id", case_id, 100)),
            meta=meta,
            case_id=case_id,
            property_id=require_text("property_id", property_id, 100),
            subject_id=subject_id,
            rule_id=require_text("rule_id", rule_id, 100),
            rule_version=rule_version,
            clause=require_text("clause", clause, 200),
            points=points,
            amount=amount,
            monthly_wage=monthly_wage,
            minimum_wage=minimum_wage,
            basis_event_ids=require_ids("basis_event_ids", basis_event_ids, at_least=1),
            reason=require_text("reason", reason),
        )

    # -- notification ----------------------------------------------------------------------

    class PenaltyNotified(LedgerAggregate.Event):
        method: str
        acknowledged: bool
        witness_id: str | None
        appeal_deadline: datetime

    @event(PenaltyNotified)
    def _notified(
        self,
        meta: Meta,
        method: str,
        acknowledged: bool,
        witness_id: str | None,
        appeal_deadline: datetime,
    ) -> None:
        self.status = "notified"
        self.appeal_deadline = appeal_deadline

    def notify(
        self,
        meta: Meta,
        method: str,
        acknowledged: bool,
        witness_id: str | None,
        appeal_deadline: datetime,
    ) -> None:
        """Deliver the decision: the subject's acknowledgement or a witnessed refusal."""
        self._require_status("notify", ("proposed",))
        require_choice("method", method, NOTIFY_METHODS)
        if not isinstance(acknowledged, bool):
            raise InvalidValue("acknowledged must be true or false")
        if witness_id is not None:
            witness_id = require_text("witness_id", witness_id, 100)
            if witness_id == self.subject_id:
                raise InvalidValue("the subject cannot witness their own notification")
        if not acknowledged and witness_id is None:
            raise InvalidValue("a refused notification needs a witness (witness_id)")
        if not isinstance(appeal_deadline, datetime) or appeal_deadline.tzinfo is None:
            raise InvalidValue("appeal_deadline must be a timezone-aware datetime")
        if appeal_deadline <= meta.occurred_at:
            raise InvalidValue("appeal_deadline must be after the notification")
        self._notified(meta, method, acknowledged, witness_id, appeal_deadline)

    # -- appeal ------------------------------------------------------------------------------

    class AppealFiled(LedgerAggregate.Event):
        grounds: str

    @event(AppealFiled)
    def _appeal_filed(self, meta: Meta, grounds: str) -> None:
        self.status = "appealed"
        self.appealed = True

    def file_appeal(self, meta: Meta, grounds: str) -> None:
        """The subject appeals, once, after notification and no later than the deadline."""
        self._require_not_terminal("appeal")
        if self.appealed:
            raise IllegalTransition("an appeal has already been filed on this case")
        self._require_status("appeal", ("notified",))
        if meta.actor.id != self.subject_id:
            raise NotResponsible(f"only the subject ({self.subject_id}) may appeal this penalty")
        if self.appeal_deadline is not None and meta.occurred_at > self.appeal_deadline:
            raise IllegalTransition(
                f"the appeal deadline ({self.appeal_deadline.isoformat()}) has passed"
            )
        self._appeal_filed(meta, require_text("grounds", grounds))

    class AppealRuled(LedgerAggregate.Event):
        decision: str
        reasoning: str
        reduced_points: int | None
        reduced_amount: str | None
        panel_ids: tuple[str, ...]

    @event(AppealRuled)
    def _ruled(
        self,
        meta: Meta,
        decision: str,
        reasoning: str,
        reduced_points: int | None,
        reduced_amount: str | None,
        panel_ids: tuple[str, ...],
    ) -> None:
        self.decision = decision
        self.ruled_by = meta.actor.id

    def rule(
        self,
        meta: Meta,
        decision: str,
        reasoning: str,
        panel_ids: tuple[str, ...],
        reduced_points: int | None = None,
        reduced_amount: str | None = None,
    ) -> None:
        """Rule the appeal and close the case in the same command; nobody judges their own case."""
        self._require_status("rule on", ("appealed",))
        require_choice("decision", decision, DECISIONS)
        panel = require_ids("panel_ids", panel_ids, at_least=1)
        self._require_independent(meta, panel)
        reasoning = require_text("reasoning", reasoning)
        if decision == "reduced":
            self._check_reduction(reduced_points, reduced_amount)
        elif reduced_points is not None or reduced_amount is not None:
            raise InvalidValue("reduced_points and reduced_amount belong to a 'reduced' decision")
        self._ruled(meta, decision, reasoning, reduced_points, reduced_amount, panel)
        self._close_by_ruling(meta, decision, reasoning, reduced_points, reduced_amount)

    def _close_by_ruling(
        self, meta: Meta, decision: str, reasoning: str, points: int | None, amount: str | None
    ) -> None:
        """The final-state event that the ruling implies, written with the ruling."""
        if decision == "upheld":
            self._confirmed(meta, self.points, self.amount, "appeal_upheld")
        elif decision == "overturned":
            self._revoked(meta, reasoning, "appeal_overturned")
        elif points is not None and amount is not None:
            self._reduced(meta, points, amount)

    def _require_independent(self, meta: Meta, panel: tuple[str, ...]) -> None:
        if meta.actor.id == self.proposer_id:
            raise SeparationOfDuties("the proposer of a penalty cannot rule on its appeal")
        if meta.actor.id == self.subject_id:
            raise SeparationOfDuties("the subject of a penalty cannot rule on their own appeal")
        if self.proposer_id in panel:
            raise SeparationOfDuties("the proposer of a penalty cannot sit on the appeal panel")
        if self.subject_id in panel:
            raise SeparationOfDuties("the subject of a penalty cannot sit on the appeal panel")

    def _check_reduction(self, points: int | None, amount: str | None) -> None:
        """A reduction is no higher in either term, lower in at least one, and within the caps."""
        if points is None or amount is None:
            raise InvalidValue("a 'reduced' decision needs reduced_points and reduced_amount")
        require_points("reduced_points", points, MAX_POINTS)
        money = parse_money("reduced_amount", amount)
        proposed = Decimal(self.amount)
        if points > self.points or money > proposed:
            raise InvalidValue("a reduction cannot exceed the proposed points or amount")
        if points == self.points and money == proposed:
            raise InvalidValue("a reduction must be lower than the proposed points or amount")
        if points == 0 and money == 0:
            raise InvalidValue("reducing to nothing is an 'overturned' decision")
        check_wage_caps(money, Decimal(self.monthly_wage), Decimal(self.minimum_wage))

    # -- final states ------------------------------------------------------------------------

    class PenaltyConfirmed(LedgerAggregate.Event):
        points: int
        amount: str
        basis: str

    @event(PenaltyConfirmed)
    def _confirmed(self, meta: Meta, points: int, amount: str, basis: str) -> None:
        self.status = "confirmed"
        self.final_points = points
        self.final_amount = amount

    def confirm(self, meta: Meta) -> None:
        """Confirm as proposed once the appeal deadline passed with no appeal."""
        self._require_not_terminal("confirm")
        self._require_status("confirm", ("notified",))
        if meta.actor.id == self.subject_id:
            raise SeparationOfDuties("the subject cannot confirm their own penalty")
        if self.appeal_deadline is None or meta.occurred_at <= self.appeal_deadline:
            raise IllegalTransition("the appeal window is still open; confirm after the deadline")
        self._confirmed(meta, self.points, self.amount, "no_appeal")

    class PenaltyReduced(LedgerAggregate.Event):
        points: int
        amount: str

    @event(PenaltyReduced)
    def _reduced(self, meta: Meta, points: int, amount: str) -> None:
        self.status = "reduced"
        self.final_points = points
        self.final_amount = amount

    class PenaltyRevoked(LedgerAggregate.Event):
        reason: str
        basis: str

    @event(PenaltyRevoked)
    def _revoked(self, meta: Meta, reason: str, basis: str) -> None:
        self.status = "revoked"
        self.final_points = 0
        self.final_amount = "0.00"

    def revoke(self, meta: Meta, reason: str) -> None:
        """Withdraw before confirmation; neither the proposer nor the subject may do it."""
        self._require_not_terminal("revoke")
        if meta.actor.id == self.proposer_id:
            raise SeparationOfDuties("the proposer cannot revoke their own penalty; ask a reviewer")
        if meta.actor.id == self.subject_id:
            raise SeparationOfDuties("the subject cannot revoke their own penalty")
        self._revoked(meta, require_text("reason", reason), "withdrawn")

    # -- checks ------------------------------------------------------------------------------

    def _require_not_terminal(self, action: str) -> None:
        if self.status in TERMINAL:
            raise IllegalTransition(f"cannot {action} a penalty that is {self.status}")

    def _require_status(self, action: str, allowed: tuple[str, ...]) -> None:
        if self.status not in allowed:
            raise IllegalTransition(f"cannot {action} a penalty that is {self.status}")
