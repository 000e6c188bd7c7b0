"""Who may do what where: roles × actions × property scopes, and the record of every denial.

A principal holds roles and property scopes (`*` = every property). An action is allowed when
one of the principal's roles may perform it and every property the target touches is in scope;
a company-wide target (no property: org units, work rules, checklists, calendars, checkpoints)
needs the `*` scope. Every denial is a 403 with a reason AND a row in `access_denials`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, Text, insert, select

from api.problems import ApiProblem
from ledger.store.sqlite import busy_timeout_off, waiting_allowed

ALL_PROPERTIES = "*"
STAFF, SUPERVISOR, PROJECT_MANAGER = "staff", "supervisor", "project_manager"
QUALITY_INSPECTOR, PERFORMANCE_OFFICER = "quality_inspector", "performance_officer"
OWNER, AUDITOR, ADMIN = "owner", "auditor", "admin"
STAFF_ROLES = frozenset(
    {STAFF, SUPERVISOR, PROJECT_MANAGER, QUALITY_INSPECTOR, PERFORMANCE_OFFICER}
)
ROLES = (*sorted(STAFF_ROLES), OWNER, AUDITOR, ADMIN)
FRONT_DESK = frozenset({STAFF, SUPERVISOR, PROJECT_MANAGER})
"""Roles that may record what an owner said or did (`on_behalf_of`)."""
MANAGERS = frozenset({SUPERVISOR, PROJECT_MANAGER})
READERS = STAFF_ROLES | {AUDITOR, ADMIN}
OVERSEERS = frozenset({SUPERVISOR, PROJECT_MANAGER, QUALITY_INSPECTOR, PERFORMANCE_OFFICER})

ROLES_BY_KIND: dict[str, frozenset[str]] = {
    "staff": STAFF_ROLES,
    "owner": frozenset({OWNER}),
    "auditor": frozenset({AUDITOR}),
    "admin": frozenset({ADMIN}),
    "system": STAFF_ROLES | {AUDITOR},
    "device": STAFF_ROLES,
}
"""Which roles each kind of principal may hold (checked when users and tokens are created)."""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the ledger actor id and kind, roles and property scopes."""

    subject: str
    principal_id: str
    kind: str
    roles: frozenset[str]
    properties: frozenset[str]

    def covers(self, property_id: str) -> bool:
        return ALL_PROPERTIES in self.properties or property_id in self.properties

    @property
    def company_wide(self) -> bool:
        return ALL_PROPERTIES in self.properties


@dataclass(frozen=True)
class Rule:
    """Who may perform one action; `scoped=False` for actions no property scope applies to."""

    roles: frozenset[str]
    scoped: bool = True
    owner_voice: bool = False


def _r(*roles: Iterable[str] | str, scoped: bool = True, owner_voice: bool = False) -> Rule:
    names: set[str] = set()
    for role in roles:
        names.update({role} if isinstance(role, str) else role)
    return Rule(frozenset(names), scoped, owner_voice)


POLICY: dict[str, Rule] = {
    # tasks
    "register_task": _r(FRONT_DESK, OWNER),
    "dispatch_task": _r(FRONT_DESK),
    "reassign_task": _r(FRONT_DESK),
    "accept_task": _r(FRONT_DESK),
    "decline_task": _r(FRONT_DESK),
    "arrive_on_site": _r(FRONT_DESK),
    "start_work": _r(FRONT_DESK),
    "put_task_on_hold": _r(FRONT_DESK),
    "resume_task": _r(FRONT_DESK),
    "complete_work": _r(FRONT_DESK),
    "sign_off_completion": _r(FRONT_DESK),
    "owner_accept": _r(FRONT_DESK, OWNER, owner_voice=True),
    "owner_return": _r(FRONT_DESK, OWNER, owner_voice=True),
    "reopen_task": _r(FRONT_DESK),
    "close_task": _r(FRONT_DESK),
    "auto_close_task": _r(MANAGERS),
    "cancel_task": _r(MANAGERS),
    "comment_on_task": _r(STAFF_ROLES, OWNER),
    "record_follow_up": _r(FRONT_DESK),
    "correct_task_field": _r(MANAGERS),
    # staff
    "onboard_staff": _r(ADMIN, PROJECT_MANAGER, scoped=False),
    "assign_position": _r(ADMIN, PROJECT_MANAGER),
    "revoke_position": _r(ADMIN, PROJECT_MANAGER),
    "offboard_staff": _r(ADMIN, PROJECT_MANAGER),
    # organisation
    "create_org_unit": _r(ADMIN),
    "define_area": _r(ADMIN, PROJECT_MANAGER),
    "assign_responsibility": _r(ADMIN, MANAGERS),
    "accept_responsibility": _r(STAFF_ROLES),
    "release_responsibility": _r(ADMIN, MANAGERS),
    "hand_over_responsibility": _r(ADMIN, MANAGERS),
    "define_escalation_chain": _r(ADMIN, PROJECT_MANAGER),
    "revise_escalation_chain": _r(ADMIN, PROJECT_MANAGER),
    "publish_work_rule": _r(ADMIN, PERFORMANCE_OFFICER),
    "revise_work_rule": _r(ADMIN, PERFORMANCE_OFFICER),
    "acknowledge_work_rule": _r(STAFF_ROLES, scoped=False),
    # contracts
    "register_contract": _r(ADMIN, PROJECT_MANAGER),
    "define_clause": _r(ADMIN, PROJECT_MANAGER, PERFORMANCE_OFFICER),
    "revise_clause": _r(ADMIN, PROJECT_MANAGER, PERFORMANCE_OFFICER),
    "publish_calendar": _r(ADMIN),
    # inspections and corrective actions
    "publish_checklist": _r(ADMIN, QUALITY_INSPECTOR),
    "revise_checklist": _r(ADMIN, QUALITY_INSPECTOR),
    "schedule_inspection_plan": _r(QUALITY_INSPECTOR, MANAGERS),
    "start_inspection_round": _r(STAFF, SUPERVISOR, QUALITY_INSPECTOR),
    "record_round_missed": _r(SUPERVISOR, QUALITY_INSPECTOR),
    "visit_checkpoint": _r(STAFF, SUPERVISOR, QUALITY_INSPECTOR),
    "record_checklist_item": _r(STAFF, SUPERVISOR, QUALITY_INSPECTOR),
    "raise_finding": _r(SUPERVISOR, QUALITY_INSPECTOR),
    "complete_inspection_round": _r(STAFF, SUPERVISOR, QUALITY_INSPECTOR),
    "open_corrective_action": _r(OVERSEERS),
    "plan_corrective_action": _r(STAFF_ROLES),
    "implement_corrective_action": _r(STAFF_ROLES),
    "verify_corrective_action": _r(QUALITY_INSPECTOR, PERFORMANCE_OFFICER),
    "close_corrective_action": _r(QUALITY_INSPECTOR, PERFORMANCE_OFFICER, PROJECT_MANAGER),
    "reopen_corrective_action": _r(QUALITY_INSPECTOR, PERFORMANCE_OFFICER),
    # accountability
    "propose_penalty": _r(PERFORMANCE_OFFICER, PROJECT_MANAGER),
    "notify_penalty": _r(PERFORMANCE_OFFICER, MANAGERS),
    "file_appeal": _r(STAFF_ROLES),
    "rule_appeal": _r(PERFORMANCE_OFFICER),
    "confirm_penalty": _r(PERFORMANCE_OFFICER),
    "revoke_penalty": _r(PERFORMANCE_OFFICER),
    "grant_reward": _r(PERFORMANCE_OFFICER, PROJECT_MANAGER),
    "close_performance_period": _r(PERFORMANCE_OFFICER),
    # public notices: the project manager and the front desk (customer service) post them
    "publish_notice": _r(PROJECT_MANAGER, FRONT_DESK),
    # the audit trail
    "sign_checkpoint": _r(ADMIN, PERFORMANCE_OFFICER),
    "read_trail_proofs": _r(READERS, OWNER, scoped=False),
    "run_audit": _r(ADMIN, AUDITOR, PERFORMANCE_OFFICER, scoped=False),
    "record_anchor": _r(ADMIN),
    "export_bundle": _r(ADMIN, AUDITOR, PERFORMANCE_OFFICER),
    # queries
    "read_task": _r(READERS, OWNER),
    "read_area": _r(READERS),
    "read_signatures": _r(READERS),
    "read_notices": _r(READERS, OWNER),
    "read_audit_trail": _r(OVERSEERS, AUDITOR, ADMIN),
    "replay_stream": _r(OVERSEERS, AUDITOR, ADMIN),
    "read_access_denials": _r(ADMIN, AUDITOR),
    "read_sla_breaches": _r(READERS),
    "read_kpis": _r(OVERSEERS, AUDITOR, ADMIN),
    # personal data (company-wide: a data subject belongs to no one property)
    "place_legal_hold": _r(ADMIN),
    "release_legal_hold": _r(ADMIN),
    "erase_subject": _r(ADMIN),
    "reveal_personal": _r(ADMIN, PROJECT_MANAGER),
}
"""The role × action table; `owner_voice`: front-desk roles only with `on_behalf_of`."""


def refusal(
    principal: Principal,
    action: str,
    properties: Sequence[str] | None,
    on_behalf_of: str | None = None,
) -> str | None:
    """Why `principal` may not perform `action` on a target in `properties`, or None.

    `properties` None means there is no target to scope yet (it does not exist); an empty
    sequence means a company-wide target.
    """
    rule = POLICY[action]
    held = principal.roles & rule.roles
    if not held:
        allowed = ", ".join(sorted(rule.roles))
        return f"none of your roles may {action} (allowed: {allowed})"
    if on_behalf_of is not None and not principal.roles & FRONT_DESK:
        return "only front-desk roles (staff, supervisor, project_manager) act for an owner"
    if rule.owner_voice and OWNER not in held and on_behalf_of is None:
        return f"{action} is the owner's word: record it with on_behalf_of the owner"
    if rule.scoped and properties is not None:
        return _scope_refusal(principal, properties)
    return None


def _scope_refusal(principal: Principal, properties: Sequence[str]) -> str | None:
    if not properties and not principal.company_wide:
        return "this target belongs to no property: it needs a company-wide scope"
    outside = sorted(p for p in properties if not principal.covers(p))
    if outside:
        return f"property {', '.join(outside)} is outside your scope"
    return None


# -- the record of denials -----------------------------------------------------------------

metadata = MetaData()

access_denials = Table(
    "api_access_denials",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False, index=True),
    Column("subject", String(200), nullable=False),
    Column("principal_id", String(100)),
    Column("kind", String(20)),
    Column("roles", String(200)),
    Column("action", String(100), nullable=False),
    Column("method", String(10), nullable=False),
    Column("path", String(2000), nullable=False),
    Column("properties", String(2000)),
    Column("reason", Text, nullable=False),
)


@dataclass(frozen=True)
class Denial:
    """One recorded denial: who, what, when, why."""

    id: int
    at: str
    subject: str
    principal_id: str | None
    kind: str | None
    roles: str | None
    action: str
    method: str
    path: str
    properties: str | None
    reason: str


class DenialLog:
    """Writes each denial in its own transaction, so it survives the refused request."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self,
        at: datetime,
        principal: Principal,
        action: str,
        request: RequestLine,
        properties: Sequence[str] | None,
        reason: str,
    ) -> None:
        row: dict[str, Any] = {
            "at": at.isoformat(),
            "subject": principal.subject,
            "principal_id": principal.principal_id,
            "kind": principal.kind,
            "roles": ",".join(sorted(principal.roles)),
            "action": action,
            "method": request.method,
            "path": request.path[:2000],
            "properties": None if properties is None else f",{','.join(properties)},"[:2000],
            "reason": reason,
        }
        with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite" and not waiting_allowed():
                # A command on the event loop (api.command.CommandWriter): if another
                # connection is writing the file, fail now; the command then runs again on
                # its thread, which waits and records the denial there.
                previous = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
                with busy_timeout_off(conn.exec_driver_sql, int(previous or 0)):
                    conn.execute(insert(access_denials), row)
                return
            conn.execute(insert(access_denials), row)

    def page(self, *, after: int, limit: int, property_id: str | None = None) -> list[Denial]:
        """Denials after id `after`, oldest first; optionally those touching one property."""
        c = access_denials.c
        query = select(access_denials).where(c.id > after).order_by(c.id).limit(limit)
        if property_id is not None:
            query = query.where(c.properties.like(f"%,{_escape_like(property_id)},%", escape="\\"))
        with self.engine.connect() as conn:
            return [Denial(**row._mapping) for row in conn.execute(query)]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class RequestLine:
    """The method and path a denial is recorded against."""

    method: str
    path: str


@dataclass(frozen=True)
class Guard:
    """The policy bound to one request: decides, records and raises."""

    principal: Principal
    denials: DenialLog
    clock: Callable[[], datetime]
    request: RequestLine

    def require(
        self,
        action: str,
        properties: Sequence[str] | None,
        on_behalf_of: str | None = None,
    ) -> None:
        """Return if allowed; otherwise record the denial and raise a 403 problem."""
        reason = refusal(self.principal, action, properties, on_behalf_of)
        if reason is None:
            return
        self.denials.record(self.clock(), self.principal, action, self.request, properties, reason)
        raise ApiProblem(403, "forbidden", f"{action} denied: {reason}", reason=reason)
