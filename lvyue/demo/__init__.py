"""`lvyue demo`: a deterministic, realistic data set written through the same use cases users call.

Two properties, ~40 staff, one contract with the seed's SLA clauses and 90 days of operations:
work orders with declines, hand-overs, holds, late and paper sign-offs and owner returns;
patrols every two hours (a few missed), daily cleaning inspections with findings and corrective
actions, elevator maintenance signed by the safety manager, penalties, appeals and rulings;
the SLA watcher every 15 minutes, with breaches, escalations, missed rounds and rule penalties.
Same seed ⇒ same events.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ledger.ledger import Ledger
from lvyue.demo import operations as ops
from lvyue.demo import privacy, watching
from lvyue.demo.roster import PROPERTIES, everyone
from lvyue.demo.schedule import Scheduler
from lvyue.demo.setup import setup
from lvyue.demo.world import ZONE, World

DEMO_START = datetime(2026, 7, 1, tzinfo=ZONE)


@dataclass(frozen=True)
class DemoSummary:
    commands: int
    events: int
    staff: int
    days: int
    counts: dict[str, int]


def write_demo(
    app: Ledger, seed: int = 7, days: int = 90, after_day: Callable[[], object] | None = None
) -> DemoSummary:
    """Write the demo into `app`, in recorded-time order; returns what was written.

    `after_day` runs at the end of every simulated day (the CLI signs checkpoints there).
    """
    before = app.recorder.max_notification_id() or 0
    entropy, app.entropy = app.entropy, privacy.demo_entropy(seed)  # demo keys are not secret
    try:
        return _write(app, seed, days, after_day, before)
    finally:
        app.entropy = entropy


def _write(
    app: Ledger, seed: int, days: int, after_day: Callable[[], object] | None, before: int
) -> DemoSummary:
    world = World(app, random.Random(seed), DEMO_START, days)
    scheduler = Scheduler(command_prefix=f"demo-{seed}")
    world.spawn = scheduler.spawn  # type: ignore[assignment]
    scheduler.spawn(setup(world))
    for prop, per_day in zip(PROPERTIES, (9.0, 6.0), strict=True):
        ops.spawn_tasks(world, prop, per_day)
        scheduler.spawn(ops.patrols(world, prop))
        scheduler.spawn(ops.cleaning_inspections(world, prop))
        scheduler.spawn(ops.elevator_maintenance(world, prop))
        scheduler.spawn(ops.monthly_penalties(world, prop))
    scheduler.spawn(ops.responsibility_changes(world))
    scheduler.spawn(ops.rewards(world))
    scheduler.spawn(privacy.privacy_requests(world))
    watching.spawn_all(world, seed, DEMO_START + timedelta(days=days + 10))
    for day in range(-1, days + 10):
        scheduler.run_until(DEMO_START + timedelta(days=day + 1))
        if after_day is not None:
            after_day()
    events = (app.recorder.max_notification_id() or 0) - before
    return DemoSummary(
        scheduler.executed, events, len(everyone()), days, dict(sorted(world.counts.items()))
    )
