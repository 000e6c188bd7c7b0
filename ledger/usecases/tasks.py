"""Use cases for work orders: each loads the task, checks the people named, and acts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ledger.application import Acting, CommandResult, LedgerCore
from ledger.domain.base import LedgerAggregate, require_text
from ledger.domain.tasks import Task
from ledger.envelope import CommandContext, Meta
from ledger.errors import InvalidValue
from ledger.personal import PersonalRef, mask_personal, require_phone, subject_id


class TaskUseCases(LedgerCore):
    """Register, dispatch, work, sign off, accept, close, cancel and correct tasks."""

    def responsible_for(self, area_id: str, service_line: str, at: datetime) -> str | None:
        """Who answered for area × service line at `at`; overridden once areas exist."""
        return None

    def register_task(
        self,
        ctx: CommandContext,
        task_no: str,
        property_id: str,
        area_id: str,
        kind: str,
        service_line: str,
        priority: str,
        channel: str,
        location: str,
        description: str,
        reporter_id: str | None = None,
        reporter_name: str | None = None,
        reporter_phone: str | None = None,
    ) -> CommandResult:
        """Register a work order; the reporter's name and phone go to the vault, not the log."""

        def act(a: Acting) -> list[LedgerAggregate]:
            self.require_new("task", task_no, f"task {task_no!r} already exists")
            responsible = self.responsible_for(area_id, service_line, ctx.occurred_at)
            contact = self._reporter_contact(a, reporter_id, reporter_name, reporter_phone)
            task = Task.register(
                a.meta(property_id),
                task_no,
                property_id,
                area_id,
                kind,
                service_line,
                priority,
                channel,
                location,
                description,
                reporter_id,
                responsible,
                reporter_contact=contact,
            )
            return [task]

        args = mask_personal(locals(), "reporter_name", "reporter_phone")
        return self.run(ctx, "register_task", args, act)

    def _reporter_contact(
        self, a: Acting, reporter_id: str | None, name: str | None, phone: str | None
    ) -> dict[str, PersonalRef] | None:
        """The reporter's contact details as vault references (owner/<reporter id>'s data)."""
        if name is None and phone is None:
            return None
        if reporter_id is None:
            raise InvalidValue("reporter name or phone needs the reporter's id (whose data it is)")
        subject = subject_id("owner", reporter_id)
        contact: dict[str, PersonalRef] = {}
        if name is not None:
            contact["name"] = self.protect(a, subject, "name", require_text("name", name, 100))
        if phone is not None:
            contact["phone"] = self.protect(a, subject, "phone", require_phone(phone))
        return contact

    def _on_task(
        self,
        ctx: CommandContext,
        command: str,
        args: dict[str, Any],
        step: Callable[[Task, Meta], None],
    ) -> CommandResult:
        """The common shape of every command on an existing task."""

        def act(a: Acting) -> list[LedgerAggregate]:
            task = self.load(Task, "task", args["task_no"])
            step(task, a.meta(task.property_id))
            return [task]

        return self.run(ctx, command, args, act)

    def dispatch_task(
        self,
        ctx: CommandContext,
        task_no: str,
        responsible_id: str,
        executor_id: str,
        mode: str = "manual",
    ) -> CommandResult:
        def step(task: Task, meta: Meta) -> None:
            self.active_staff(responsible_id)
            self.active_staff(executor_id)
            task.dispatch(meta, responsible_id, executor_id, mode)

        return self._on_task(ctx, "dispatch_task", locals(), step)

    def accept_task(
        self, ctx: CommandContext, task_no: str, eta: datetime | None = None
    ) -> CommandResult:
        return self._on_task(ctx, "accept_task", locals(), lambda t, m: t.accept(m, eta))

    def decline_task(self, ctx: CommandContext, task_no: str, reason: str) -> CommandResult:
        return self._on_task(ctx, "decline_task", locals(), lambda t, m: t.decline(m, reason))

    def reassign_task(
        self,
        ctx: CommandContext,
        task_no: str,
        to_responsible_id: str,
        to_executor_id: str,
        note: str,
    ) -> CommandResult:
        def step(task: Task, meta: Meta) -> None:
            self.active_staff(to_responsible_id)
            self.active_staff(to_executor_id)
            task.reassign(meta, to_responsible_id, to_executor_id, note)

        return self._on_task(ctx, "reassign_task", locals(), step)

    def arrive_on_site(
        self, ctx: CommandContext, task_no: str, method: str = "gps"
    ) -> CommandResult:
        return self._on_task(ctx, "arrive_on_site", locals(), lambda t, m: t.arrive(m, method))

    def start_work(self, ctx: CommandContext, task_no: str) -> CommandResult:
        return self._on_task(ctx, "start_work", locals(), lambda t, m: t.start_work(m))

    def put_task_on_hold(
        self, ctx: CommandContext, task_no: str, cause: str, reason: str
    ) -> CommandResult:
        return self._on_task(
            ctx, "put_task_on_hold", locals(), lambda t, m: t.put_on_hold(m, cause, reason)
        )

    def resume_task(self, ctx: CommandContext, task_no: str) -> CommandResult:
        return self._on_task(ctx, "resume_task", locals(), lambda t, m: t.resume(m))

    def complete_work(
        self, ctx: CommandContext, task_no: str, result: str, evidence: tuple[str, ...]
    ) -> CommandResult:
        return self._on_task(
            ctx, "complete_work", locals(), lambda t, m: t.complete(m, result, tuple(evidence))
        )

    def sign_off_completion(
        self, ctx: CommandContext, task_no: str, quality: str = "good"
    ) -> CommandResult:
        return self._on_task(
            ctx, "sign_off_completion", locals(), lambda t, m: t.sign_off(m, quality)
        )

    def owner_accept(
        self, ctx: CommandContext, task_no: str, rating: int, comment: str = ""
    ) -> CommandResult:
        return self._on_task(
            ctx, "owner_accept", locals(), lambda t, m: t.owner_accept(m, rating, comment)
        )

    def owner_return(self, ctx: CommandContext, task_no: str, reason: str) -> CommandResult:
        return self._on_task(ctx, "owner_return", locals(), lambda t, m: t.owner_return(m, reason))

    def reopen_task(self, ctx: CommandContext, task_no: str, cause: str) -> CommandResult:
        return self._on_task(ctx, "reopen_task", locals(), lambda t, m: t.reopen(m, cause))

    def close_task(
        self, ctx: CommandContext, task_no: str, reason: str = "accepted"
    ) -> CommandResult:
        return self._on_task(ctx, "close_task", locals(), lambda t, m: t.close(m, reason))

    def auto_close_task(
        self, ctx: CommandContext, task_no: str, policy_ref: str, window_days: int
    ) -> CommandResult:
        """Close a signed-off task the owner never answered, under the named policy."""
        return self._on_task(
            ctx,
            "auto_close_task",
            locals(),
            lambda t, m: t.auto_close(m, policy_ref, window_days),
        )

    def cancel_task(self, ctx: CommandContext, task_no: str, reason: str) -> CommandResult:
        return self._on_task(ctx, "cancel_task", locals(), lambda t, m: t.cancel(m, reason))

    def comment_on_task(
        self,
        ctx: CommandContext,
        task_no: str,
        text: str,
        visibility: str = "internal",
        personal: bool = False,
    ) -> CommandResult:
        """A note; `personal` puts its text in the vault as the task reporter's data."""
        if personal:
            return self._personal_comment(ctx, task_no, text, visibility)
        args = mask_personal(locals(), "personal")
        return self._on_task(
            ctx, "comment_on_task", args, lambda t, m: t.comment(m, text, visibility)
        )

    def _personal_comment(
        self, ctx: CommandContext, task_no: str, text: str, visibility: str
    ) -> CommandResult:
        def act(a: Acting) -> list[LedgerAggregate]:
            task = self.load(Task, "task", task_no)
            if task.reporter_id is None:
                raise InvalidValue("a personal comment needs a task with a reporter id")
            words = require_text("text", text)
            ref = self.protect(a, subject_id("owner", task.reporter_id), "comment", words)
            task.comment(a.meta(task.property_id), "", visibility, text_ref=ref)
            return [task]

        args = mask_personal({**locals(), "personal": True}, "text", "personal")
        return self.run(ctx, "comment_on_task", args, act)

    def record_follow_up(
        self, ctx: CommandContext, task_no: str, channel: str, satisfied: bool, comment: str = ""
    ) -> CommandResult:
        return self._on_task(
            ctx,
            "record_follow_up",
            locals(),
            lambda t, m: t.record_follow_up(m, channel, satisfied, comment),
        )

    def correct_task_field(
        self, ctx: CommandContext, task_no: str, field: str, new: str, justification: str
    ) -> CommandResult:
        return self._on_task(
            ctx,
            "correct_task_field",
            locals(),
            lambda t, m: t.correct_field(m, field, new, justification),
        )
