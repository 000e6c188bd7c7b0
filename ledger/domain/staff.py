"""Staff (人员): who works here, in which position, and since when.

The ledger reads a staff member's state to stamp their role on each event they cause and to
refuse acts by people who were offboarded.
"""

from __future__ import annotations

from eventsourcing.domain import event

from ledger.domain.base import LedgerAggregate, require_choice, require_text
from ledger.envelope import Meta
from ledger.errors import IllegalTransition, InvalidValue
from ledger.ids import stream_id
from ledger.personal import PersonalRef

POSITIONS = (
    "project_manager",
    "site_supervisor",
    "quality_inspector",
    "dispatcher",
    "technician",
    "guard",
    "cleaner",
    "safety_manager",
    "performance_officer",
    "customer_service",
    "leadership",
)
JOB_FAMILIES = ("engineering", "security", "cleaning", "customer_service", "management", "quality")


class Staff(LedgerAggregate):
    """One employee: onboarding, positions held, offboarding."""

    class StaffOnboarded(LedgerAggregate.Created):
        person_id: str
        employee_no: str
        job_family: str
        certificates: tuple[str, ...]
        name: PersonalRef | None  # a vault reference (ledger/personal.py), never the name

    @event(StaffOnboarded)
    def __init__(
        self,
        meta: Meta,
        person_id: str,
        employee_no: str,
        job_family: str,
        certificates: tuple[str, ...],
        name: PersonalRef | None = None,
    ) -> None:
        self.person_id = person_id
        self.employee_no = employee_no
        self.job_family = job_family
        self.certificates = certificates
        self.name = name
        self.active = True
        self.position: str | None = None
        self.property_id: str | None = None
        self.supervisor_id: str | None = None

    class PositionAssigned(LedgerAggregate.Event):
        position: str
        property_id: str
        supervisor_id: str | None

    @event(PositionAssigned)
    def _position_assigned(
        self, meta: Meta, position: str, property_id: str, supervisor_id: str | None
    ) -> None:
        self.position = position
        self.property_id = property_id
        self.supervisor_id = supervisor_id

    def assign_position(
        self, meta: Meta, position: str, property_id: str, supervisor_id: str | None
    ) -> None:
        """Appoint to a position at a property; it replaces the previous one."""
        self._require_active()
        require_choice("position", position, POSITIONS)
        if supervisor_id == self.person_id:
            raise InvalidValue("a person cannot supervise themselves")
        self._position_assigned(
            meta, position, require_text("property_id", property_id, 100), supervisor_id
        )

    class PositionRevoked(LedgerAggregate.Event):
        position: str
        reason: str

    @event(PositionRevoked)
    def _position_revoked(self, meta: Meta, position: str, reason: str) -> None:
        self.position = None

    def revoke_position(self, meta: Meta, reason: str) -> None:
        """End the current appointment."""
        self._require_active()
        if self.position is None:
            raise IllegalTransition("the person holds no position")
        self._position_revoked(meta, self.position, require_text("reason", reason, 500))

    class StaffOffboarded(LedgerAggregate.Event):
        reason: str

    @event(StaffOffboarded)
    def _offboarded(self, meta: Meta, reason: str) -> None:
        self.active = False
        self.position = None

    def offboard(self, meta: Meta, reason: str) -> None:
        """The person leaves; from now on every act in their name is refused."""
        self._require_active()
        self._offboarded(meta, require_text("reason", reason, 500))

    @classmethod
    def onboard(
        cls,
        meta: Meta,
        person_id: str,
        employee_no: str,
        job_family: str,
        certificates: tuple[str, ...],
        name: PersonalRef | None = None,
    ) -> Staff:
        """Create the staff record (names and phones live in the personal-data vault)."""
        return cls._create(
            cls.StaffOnboarded,
            id=stream_id("staff", require_text("person_id", person_id, 100)),
            meta=meta,
            person_id=person_id,
            employee_no=require_text("employee_no", employee_no, 50),
            job_family=require_choice("job_family", job_family, JOB_FAMILIES),
            certificates=tuple(require_text("certificate", c, 100) for c in certificates),
            name=name,
        )

    def _require_active(self) -> None:
        if not self.active:
            raise IllegalTransition(f"{self.person_id} has been offboarded")
