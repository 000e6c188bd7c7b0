"""Figures 6 and 9: rebuilding every view, and as-of replay, against raw reads of the same rows.

Figure 6 rebuilds all registered views (`projections.projector.Projector.rebuild()`: drop,
recreate, replay from event 1 in pages of 10,000) over the demo's log — the realistic mix of
tasks, inspections, SLA clocks and penalties — on SQLite and, copied event by event through
the sealing recorder, on PostgreSQL. The baseline scans the same events table by keyset pages
of 1,000 and `json.loads` every state.

Figure 9 replays the 1,000-event stream of the bulk-filled logs as of its middle
(`projections.queries.replay_as_of`: two index seeks on the time → version index, then the
stream up to version 500) against fetching versions 1..500 with raw sqlite3 and decoding them;
and compares its latency with 1M and with 10k events in the log.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from bench import baselines
from bench.harness import (
    PG_URL,
    Context,
    Figure,
    Target,
    figure,
    interleaved,
    pg_problem,
    pg_schema,
    plain_pg_url,
    rate_ratio,
    scratch,
    sqlite_url,
    time_ratio,
    unavailable,
)
from bench.scale import log_sizes
from bench.workload import (
    LogInfo,
    ensure_demo,
    ensure_log,
    events_table,
    open_ledger,
    sqlite_rows,
)
from ledger.ledger import Ledger
from projections.database import views_engine
from projections.projector import Projector
from projections.queries import replay_as_of
from projections.views import all_views

VIEWS = tuple(view.name for view in all_views())
REBUILD_TARGET = Target(">=", 0.3, "≥ 0.3× raw keyset scan + json.loads, pages of 1,000")
COPY_BATCH = 1000


def demo_days(ctx: Context) -> int:
    return ctx.mode.size(90, 3)


# -- figure 6 -----------------------------------------------------------------------------------


def _rebuild(app: Ledger, engine_url: str, schema: str | None = None) -> Callable[[], float]:
    """events/s of one full rebuild of every view (the projector is set up untimed)."""

    def measure() -> float:
        engine = views_engine(engine_url, schema=schema)
        try:
            projector = Projector(app, engine)
            start = time.perf_counter()
            events = projector.rebuild()
            return events / (time.perf_counter() - start)
        finally:
            engine.dispose()

    return measure


@figure("projection_rebuild", ("6a", "6b"), "full rebuild of every view vs raw keyset scan")
def projection_rebuild(ctx: Context) -> Sequence[Figure]:
    demo = ensure_demo(ctx.workdir, demo_days(ctx), ctx.log)
    reps = ctx.mode.reps(3)
    app = open_ledger(sqlite_url(demo.db))
    try:
        ctx.log(
            f"figure 6a: rebuild of every view over the demo's {demo.events:,} events "
            f"vs a raw keyset scan (SQLite), {reps} runs"
        )

        def raw() -> float:
            events, seconds = baselines.sqlite_keyset_scan(demo.db)
            return events / seconds

        figures = [
            Figure(
                "6a",
                "rebuild_sqlite",
                "full projection rebuild, SQLite",
                f"Projector.rebuild() of every registered view ({', '.join(VIEWS)}), "
                "pages of 10,000",
                "raw sqlite3 keyset scan by rowid, pages of 1,000, json.loads each",
                "events/s",
                REBUILD_TARGET,
                runs=interleaved(
                    reps, _rebuild(app, sqlite_url(demo.db)), raw, rate_ratio, ctx.log
                ),
                note=f"over the log of `lvyue demo --days {demo.days}`",
                details={"events": demo.events},
            )
        ]
    finally:
        app.close()
    figures[0].details.update(_write_floor(ctx, demo.db, reps))
    title = "full projection rebuild, PostgreSQL"
    problem = pg_problem()
    if problem is not None:
        figures.append(unavailable("6b", "rebuild_pg", title, REBUILD_TARGET, "skipped", problem))
        return figures
    figures.append(_rebuild_pg(ctx, demo.db, demo.events, demo.days, reps, title))
    return figures


def _write_floor(ctx: Context, db: Path, reps: int) -> dict[str, object]:
    """What storing the rebuilt views' rows costs at the least, against the same-run scan.

    The rows and indexes the views hold after the rebuild are written again by raw sqlite3
    (`baselines.sqlite_write_floor`: ready tuples, one transaction, indexes after the load).
    No rebuild that reads the log and stores these rows can beat scan + floor, so
    scan ÷ (scan + floor) caps figure 6a's ratio whatever the views' Python costs."""
    tables = [table.name for view in all_views() for table in view.tables]
    copies = baselines.sqlite_table_copies(db, tables)
    floors, caps = [], []
    for _ in range(reps):
        with scratch(ctx.workdir, "floor-") as home:
            rows, floor = baselines.sqlite_write_floor(home / "floor.db", copies)
        _, scan = baselines.sqlite_keyset_scan(db)
        floors.append(floor)
        caps.append(scan / (scan + floor))
    cap = statistics.median(caps)
    ctx.log(f"  write floor of the views' {rows:,} rows: {statistics.median(floors):.3f} s, "
            f"so at most {cap:.2f}× with no view code at all")
    return {
        "view rows": rows,
        "their raw write floor (s)": statistics.median(floors),
        "cap on the ratio: scan ÷ (scan + floor)": cap,
    }


def _rebuild_pg(ctx: Context, db: Path, events: int, days: int, reps: int, title: str) -> Figure:
    rows = sqlite_rows(db)
    with pg_schema() as schema:
        env = {"POSTGRES_SCHEMA": schema}
        app = open_ledger(PG_URL, env)
        try:
            ctx.log(f"  copying the demo's {len(rows):,} events into PostgreSQL (sealed)…")
            for i in range(0, len(rows), COPY_BATCH):
                batch = rows[i : i + COPY_BATCH]
                app.recorder.insert_events([StoredEvent(r[0], r[1], r[2], r[3]) for r in batch])
            table = events_table(app)

            def raw() -> float:
                count, seconds = baselines.pg_keyset_scan(plain_pg_url(), schema, table)
                return count / seconds

            ctx.log(
                f"figure 6b: rebuild of every view vs raw keyset scan (PostgreSQL), {reps} runs"
            )
            return Figure(
                "6b",
                "rebuild_pg",
                title,
                "Projector.rebuild() of every registered view on PostgreSQL, pages of 10,000",
                "raw psycopg keyset scan by notification_id, pages of 1,000, json.loads each",
                "events/s",
                REBUILD_TARGET,
                runs=interleaved(
                    reps, _rebuild(app, plain_pg_url(), schema), raw, rate_ratio, ctx.log
                ),
                note=f"the log of `lvyue demo --days {days}`, copied through the sealing recorder",
                details={"events": events},
            )
        finally:
            app.close()


# -- figure 9 -----------------------------------------------------------------------------------


def _replay_latency(info: LogInfo, calls: int) -> Callable[[], float]:
    """Median seconds of `replay_as_of` of the long stream at its middle."""

    def measure() -> float:
        app = open_ledger(sqlite_url(info.db))
        engine = views_engine(sqlite_url(info.db))
        middle = datetime.fromisoformat(info.middle_at)
        try:
            replay_as_of(app, engine, info.long_stream, middle)  # warm
            times = []
            for _ in range(calls):
                start = time.perf_counter()
                state = replay_as_of(app, engine, info.long_stream, middle)
                times.append(time.perf_counter() - start)
            if state.version != 500:
                raise RuntimeError(f"as-of the middle gave version {state.version}, not 500")
            return statistics.median(times)
        finally:
            engine.dispose()
            app.close()

    return measure


def _raw_latency(info: LogInfo, calls: int) -> Callable[[], float]:
    def measure() -> float:
        sid = UUID(info.long_stream_id)
        baselines.sqlite_fetch_decode(info.db, sid, 500, 1)  # warm
        return baselines.sqlite_fetch_decode(info.db, sid, 500, calls)

    return measure


@figure("asof_replay", ("9a", "9b"), "as-of replay of a 1,000-event stream at its middle")
def asof_replay(ctx: Context) -> Sequence[Figure]:
    small_size, large_size = log_sizes(ctx)
    small = ensure_log(ctx.workdir, small_size, ctx.log)
    large = ensure_log(ctx.workdir, large_size, ctx.log)
    calls = ctx.mode.size(30, 5)
    reps = ctx.mode.reps(5)
    ctx.log(
        f"figure 9a: replay_as_of at version 500 of 1,000 vs raw fetch + json.loads of "
        f"versions 1..500 ({large_size:,}-event log), {reps} runs × {calls} calls"
    )
    replay = Figure(
        "9a",
        "asof_replay_vs_raw",
        f"as-of replay of a 1,000-event stream at its middle ({large_size:,}-event log)",
        "projections.queries.replay_as_of (index seeks + events + aggregate at version 500)",
        "raw sqlite3 fetch of versions 1..500 + json.loads each",
        "s",
        Target("<=", 3.0, "≤ 3× raw fetch-and-decode of those events"),
        runs=interleaved(
            reps, _replay_latency(large, calls), _raw_latency(large, calls), time_ratio, ctx.log
        ),
        note="latencies are medians of the calls in each run; ratio = ours ÷ raw",
        details={
            "calls_per_run": calls,
            "index_build_seconds": large.index_seconds,
            "index_build_events_per_s": large.events / large.index_seconds,
        },
    )
    ctx.log(f"figure 9b: replay_as_of latency, {large_size:,} vs {small_size:,} events in the log")
    flat = Figure(
        "9b",
        "asof_replay_scale",
        f"as-of replay latency with {large_size:,} vs {small_size:,} events in the log",
        f"replay_as_of on the {large_size:,}-event log",
        f"replay_as_of on the {small_size:,}-event log",
        "s",
        Target("<=", 1.25, "the same within noise (≤ 1.25×)"),
        runs=interleaved(
            reps, _replay_latency(large, calls), _replay_latency(small, calls), time_ratio, ctx.log
        ),
        note="ratio = latency at the large log ÷ latency at the small one",
        details={"calls_per_run": calls},
    )
    return [replay, flat]
