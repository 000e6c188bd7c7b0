"""A tiny discrete-event scheduler: processes yield timed steps; steps run in time order.

Running every command in the order of its recorded time keeps the demo log realistic (the log's
order is the order the company recorded things) while each process reads like a story.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.envelope import CommandContext


@dataclass(frozen=True)
class Step:
    """One command: when it was recorded, by whom, and (for late entries) when it happened."""

    at: datetime
    actor: str
    run: Callable[[CommandContext], Any]
    kind: str = "staff"
    occurred_at: datetime | None = None
    on_behalf_of: str | None = None
    evidence: tuple[str, ...] = ()


Process = Iterator[Step]


def call(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[CommandContext], Any]:
    """Bind a use case's arguments now; the context is supplied when the step runs."""
    return lambda ctx: method(ctx, *args, **kwargs)


@dataclass
class Scheduler:
    """Runs processes' steps in recorded-time order with deterministic tie-breaking."""

    command_prefix: str
    queue: list[tuple[datetime, int, Step, Process]] = field(default_factory=list)
    counter: int = 0
    executed: int = 0

    def spawn(self, process: Process) -> None:
        """Queue a process at its first step."""
        self._push(process)

    def _push(self, process: Process) -> None:
        step = next(process, None)
        if step is not None:
            self.counter += 1
            heapq.heappush(self.queue, (step.at, self.counter, step, process))

    def run_until(self, end: datetime) -> None:
        """Execute every step recorded before `end`; spawned processes join in order."""
        while self.queue and self.queue[0][0] < end:
            at, _, step, process = heapq.heappop(self.queue)
            if not step.actor:  # a wake-up, not a command
                self._push(process)
                continue
            self.executed += 1
            ctx = CommandContext(
                actor_id=step.actor,
                actor_kind=step.kind,
                occurred_at=step.occurred_at or at,
                recorded_at=at,
                command_id=f"{self.command_prefix}-{self.executed:07d}",
                on_behalf_of=step.on_behalf_of,
                evidence=step.evidence,
            )
            step.run(ctx)
            self._push(process)
