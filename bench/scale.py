"""Figure 5: the append rate does not fall as the log grows (1M events vs 10k, SQLite).

Both logs are bulk-filled through the sealing recorder (workload.ensure_log); then the same
single-event command (`Ledger.onboard_staff`, durable) is timed on each, interleaved. Sealing
reads the tree size, the stream's previous leaf and the O(log n) frontier nodes per commit,
all by primary key, so the cost should not depend on the log's size.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from bench.harness import (
    Context,
    Figure,
    Target,
    figure,
    interleaved,
    rate_ratio,
    sqlite_url,
    timed,
)
from bench.workload import LogInfo, ensure_log, onboard_many, open_ledger

WARMUP = 10


def log_sizes(ctx: Context) -> tuple[int, int]:
    """(small, large) log sizes: 10k and 1M events (quick: 2k and 20k)."""
    return ctx.mode.size(10_000, 2_000), ctx.mode.size(1_000_000, 20_000)


@figure("append_scale", ("5",), "single-event append rate at 1M events vs at 10k")
def append_scale(ctx: Context) -> Sequence[Figure]:
    small_size, large_size = log_sizes(ctx)
    small = ensure_log(ctx.workdir, small_size, ctx.log)
    large = ensure_log(ctx.workdir, large_size, ctx.log)
    n = ctx.mode.size(300, 50)
    reps = ctx.mode.reps(3)
    runs = itertools.count()

    def on(info: LogInfo) -> Callable[[], float]:
        def measure() -> float:
            prefix = f"s{next(runs)}"
            app = open_ledger(sqlite_url(info.db))
            try:
                onboard_many(app, f"{prefix}w", 0, WARMUP)
                return n / timed(lambda: onboard_many(app, prefix, 0, n))
            finally:
                app.close()

        return measure

    ctx.log(
        f"figure 5: {n} onboard_staff commands on a {large_size:,}-event log "
        f"vs a {small_size:,}-event log, {reps} runs"
    )
    return [
        Figure(
            "5",
            "append_scale",
            f"append rate with {large_size:,} events in the log vs {small_size:,}",
            f"Ledger.onboard_staff on the {large_size:,}-event log",
            f"the same command on the {small_size:,}-event log",
            "events/s",
            Target(">=", 0.8, "≥ 0.8× the rate at 10k"),
            runs=interleaved(reps, on(large), on(small), rate_ratio, ctx.log),
            note="logs bulk-filled through the sealing recorder (5,000 events per transaction)",
            details={
                "commands": n,
                "fill_events_per_s": large.events / large.fill_seconds,
                "fill_seconds": large.fill_seconds,
            },
        )
    ]
