"""Figure 12: `lvyue demo` wall time on SQLite — an absolute figure, no baseline.

The demo writes its 90 deterministic days through the use cases (and the SLA watcher), signing
checkpoints as it goes; the time is that of the whole `python -m lvyue demo --fresh` process.
Its database is reused by figure 6 (the rebuild runs over the demo's realistic mix of events).
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.harness import Context, Figure, Run, Target, figure
from bench.reads import demo_days
from bench.workload import ensure_demo

TARGET_SECONDS = 60.0


@figure("demo", ("12",), "lvyue demo wall time (absolute)")
def demo(ctx: Context) -> Sequence[Figure]:
    info = ensure_demo(ctx.workdir, demo_days(ctx), ctx.log)
    return [
        Figure(
            "12",
            "demo_wall_time",
            f"`lvyue demo --fresh --days {info.days}` wall time, SQLite",
            "the whole `python -m lvyue demo` process (interpreter start to exit)",
            "",
            "s",
            Target("<=", TARGET_SECONDS, "< 60 s (absolute)"),
            runs=[Run(info.seconds, info.seconds, info.seconds)],
            note="absolute, no baseline: one run (the demo is deterministic, and its "
            "database feeds figure 6)",
            details={"events": info.events, "events_per_s": info.events / info.seconds},
            peak_rss_mb=info.peak_rss_mb,
            absolute=True,
        )
    ]
