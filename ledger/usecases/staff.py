"""Use cases for staff on/offboarding and positions."""

from __future__ import annotations

from ledger.application import Acting, CommandResult, LedgerCore
from ledger.domain.base import LedgerAggregate, require_text
from ledger.domain.staff import Staff
from ledger.envelope import CommandContext
from ledger.personal import mask_personal, subject_id


class StaffUseCases(LedgerCore):
    """Onboard, appoint, revoke and offboard staff."""

    def onboard_staff(
        self,
        ctx: CommandContext,
        person_id: str,
        employee_no: str,
        job_family: str,
        certificates: tuple[str, ...] = (),
        name: str | None = None,
    ) -> CommandResult:
        """Onboard a person; their name goes to the vault as staff/<person id>'s data."""

        def act(a: Acting) -> list[LedgerAggregate]:
            self.require_new("staff", person_id, f"staff {person_id!r} already exists")
            ref = None
            if name is not None:
                subject = subject_id("staff", person_id)
                ref = self.protect(a, subject, "name", require_text("name", name, 100))
            return [
                Staff.onboard(
                    a.meta(None), person_id, employee_no, job_family, tuple(certificates), ref
                )
            ]

        return self.run(ctx, "onboard_staff", mask_personal(locals(), "name"), act)

    def assign_position(
        self,
        ctx: CommandContext,
        person_id: str,
        position: str,
        property_id: str,
        supervisor_id: str | None = None,
    ) -> CommandResult:
        def act(a: Acting) -> list[LedgerAggregate]:
            staff = self.load(Staff, "staff", person_id)
            if supervisor_id is not None:
                self.active_staff(supervisor_id)
            staff.assign_position(a.meta(property_id), position, property_id, supervisor_id)
            return [staff]

        return self.run(ctx, "assign_position", locals(), act)

    def revoke_position(self, ctx: CommandContext, person_id: str, reason: str) -> CommandResult:
        def act(a: Acting) -> list[LedgerAggregate]:
            staff = self.load(Staff, "staff", person_id)
            staff.revoke_position(a.meta(staff.property_id), reason)
            return [staff]

        return self.run(ctx, "revoke_position", locals(), act)

    def offboard_staff(self, ctx: CommandContext, person_id: str, reason: str) -> CommandResult:
        def act(a: Acting) -> list[LedgerAggregate]:
            staff = self.load(Staff, "staff", person_id)
            staff.offboard(a.meta(staff.property_id), reason)
            return [staff]

        return self.run(ctx, "offboard_staff", locals(), act)
