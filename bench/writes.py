"""Figures 1–4 and 8: durable writes against raw-driver inserts of the same bytes.

Our single-event path is the use case `Ledger.onboard_staff` as an administrator: the command
runner validates the context, looks up the idempotency receipt, checks the stream does not
exist, runs the domain, maps the event to its public record and saves it with the receipt and
its Merkle leaf in one transaction. The 100-events path is the bulk import
(`ledger.bulk.Importer`, what `lvyue import` runs): 100 JSON Lines onboard_staff commands per
batch, each parsed and validated, run through the use case, and the batch's 100 events and 100
receipts sealed in ONE transaction. Each measurement gets a fresh database; the baselines write
exactly the bytes our path stored (read back from a preparatory run), into the events table
created by the same schema migration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from eventsourcing.persistence import StoredEvent

from bench import baselines
from bench.baselines import Row
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
    timed,
    unavailable,
)
from bench.workload import (
    create_store,
    import_lines,
    onboard,
    onboard_many,
    open_ledger,
    run_import,
    sqlite_rows,
)
from ledger.ledger import Ledger

WARMUP = 20
BATCH = 100


def _sizes(ctx: Context) -> tuple[int, int, int, int]:
    """(single SQLite commands, single PG commands, 100-event batches, repetitions)."""
    mode = ctx.mode
    return mode.size(1000, 60), mode.size(300, 40), mode.size(30, 4), mode.reps(5)


def _chunks(rows: Sequence[Row], size: int) -> list[list[Row]]:
    return [list(rows[i : i + size]) for i in range(0, len(rows), size)]


def _avg_bytes(rows: Sequence[Row]) -> int:
    return sum(len(r[3]) for r in rows) // max(1, len(rows))


# -- our two write paths ------------------------------------------------------------------------


def _commands(app: Ledger, count: int) -> float:
    """events/s of `count` onboard_staff commands, after WARMUP untimed ones."""
    for i in range(WARMUP):
        onboard(app, "cmd", i)
    return count / timed(lambda: onboard_many(app, "cmd", WARMUP, count))


def _imports(app: Ledger, batches: int) -> float:
    """events/s of importing `batches` × 100 commands, after one untimed batch."""
    run_import(app, import_lines("warm", BATCH), BATCH)
    lines = import_lines("imp", batches * BATCH)
    return len(lines) / timed(lambda: run_import(app, lines, BATCH))


def _prepared(
    ctx: Context, run: Callable[[Ledger], float], warm: int
) -> tuple[list[Row], list[Row]]:
    """The bytes a path stores: (warm-up rows, measured rows), from a preparatory run."""
    with scratch(ctx.workdir, "prep-") as home:
        app = open_ledger(sqlite_url(home / "lvyue.db"))
        try:
            run(app)
        finally:
            app.close()
        rows = sqlite_rows(home / "lvyue.db")
    return rows[:warm], rows[warm:]


def _on_sqlite(ctx: Context, path: Callable[[Ledger], float]) -> Callable[[], float]:
    def measure() -> float:
        with scratch(ctx.workdir, "ours-") as home:
            app = open_ledger(sqlite_url(home / "lvyue.db"))
            try:
                return path(app)
            finally:
                app.close()

    return measure


def _on_pg(path: Callable[[Ledger], float]) -> Callable[[], float]:
    def measure() -> float:
        with pg_schema() as schema:
            app = open_ledger(PG_URL, {"POSTGRES_SCHEMA": schema})
            try:
                return path(app)
            finally:
                app.close()

    return measure


# -- figures 1 and 2: SQLite --------------------------------------------------------------------


@figure("write_sqlite", ("1", "2"), "single-event commands and 100-event import batches, SQLite")
def write_sqlite(ctx: Context) -> Sequence[Figure]:
    n, _, batches, reps = _sizes(ctx)
    warm, rows = _prepared(ctx, lambda app: _commands(app, n), WARMUP)

    def raw() -> float:
        with scratch(ctx.workdir, "raw-") as home:
            create_store(sqlite_url(home / "raw.db"))
            baselines.sqlite_one_row_commits(home / "raw.db", warm)
            return n / baselines.sqlite_one_row_commits(home / "raw.db", rows)

    ctx.log(f"figure 1: {n} onboard_staff commands vs {n} raw one-row commits, {reps} runs")
    single = Figure(
        "1",
        "write_sqlite_single",
        "single-event command through the use case, SQLite, durable",
        "Ledger.onboard_staff (runner, receipt, seal), WAL, synchronous=FULL",
        "raw sqlite3 BEGIN/INSERT/COMMIT per row, WAL, synchronous=FULL, same DDL and bytes",
        "events/s",
        Target(">=", 0.5, "≥ 0.5× raw sqlite3 one-row commit"),
        runs=interleaved(
            reps, _on_sqlite(ctx, lambda app: _commands(app, n)), raw, rate_ratio, ctx.log
        ),
        details={"commands": n, "state_bytes_avg": _avg_bytes(rows)},
    )

    warm_b, rows_b = _prepared(ctx, lambda app: _imports(app, batches), BATCH)

    def raw_batch() -> float:
        with scratch(ctx.workdir, "raw-") as home:
            create_store(sqlite_url(home / "raw.db"))
            baselines.sqlite_batch_commits(home / "raw.db", [warm_b])
            seconds = baselines.sqlite_batch_commits(home / "raw.db", _chunks(rows_b, BATCH))
            return len(rows_b) / seconds

    ctx.log(f"figure 2: {batches} import batches of 100 vs raw executemany, {reps} runs")
    batch = Figure(
        "2",
        "write_sqlite_batch100",
        "100 events per commit (bulk import), SQLite",
        "ledger.bulk.Importer: 100 JSON-Lines onboard_staff commands per transaction",
        "raw sqlite3 executemany of 100 rows per commit, same DDL and bytes",
        "events/s",
        Target(">=", 0.5, "≥ 0.5× raw sqlite3 executemany of 100 rows per commit"),
        runs=interleaved(
            reps,
            _on_sqlite(ctx, lambda app: _imports(app, batches)),
            raw_batch,
            rate_ratio,
            ctx.log,
        ),
        details={"batches": batches, "state_bytes_avg": _avg_bytes(rows_b)},
    )
    return [single, batch]


# -- figures 3 and 4: PostgreSQL ---------------------------------------------------------------


PG_SINGLE_TITLE = "single-event command, PostgreSQL"
PG_BATCH_TITLE = "100 events per commit (bulk import), PostgreSQL"
PG_SINGLE_TARGET = Target(">=", 0.6, "≥ 0.6× raw psycopg lock table + insert + commit")
PG_BATCH_TARGET = Target(">=", 0.3, "≥ 0.3× raw COPY of 100 rows per commit")


@figure("write_postgres", ("3", "4"), "single-event commands and 100-event import batches, PG")
def write_postgres(ctx: Context) -> Sequence[Figure]:
    problem = pg_problem()
    if problem is not None:
        return [
            unavailable(
                "3", "write_pg_single", PG_SINGLE_TITLE, PG_SINGLE_TARGET, "skipped", problem
            ),
            unavailable(
                "4", "write_pg_batch100", PG_BATCH_TITLE, PG_BATCH_TARGET, "skipped", problem
            ),
        ]
    _, n, batches, reps = _sizes(ctx)
    warm, rows = _prepared(ctx, lambda app: _commands(app, n), WARMUP)

    def raw() -> float:
        with pg_schema() as schema:
            table = create_store(PG_URL, {"POSTGRES_SCHEMA": schema})
            baselines.pg_lock_insert_commits(plain_pg_url(), schema, table, warm)
            return n / baselines.pg_lock_insert_commits(plain_pg_url(), schema, table, rows)

    ctx.log(f"figure 3: {n} onboard_staff commands vs raw lock+insert+commit, {reps} runs")
    single = Figure(
        "3",
        "write_pg_single",
        PG_SINGLE_TITLE,
        "Ledger.onboard_staff on PostgreSQL (runner, receipt, seal)",
        "raw psycopg, pipelined like the library: BEGIN, LOCK TABLE … IN EXCLUSIVE MODE, "
        "NOTIFY, INSERT, COMMIT per row",
        "events/s",
        PG_SINGLE_TARGET,
        runs=interleaved(reps, _on_pg(lambda app: _commands(app, n)), raw, rate_ratio, ctx.log),
        details={"commands": n},
    )

    warm_b, rows_b = _prepared(ctx, lambda app: _imports(app, batches), BATCH)

    def raw_batch() -> float:
        with pg_schema() as schema:
            table = create_store(PG_URL, {"POSTGRES_SCHEMA": schema})
            baselines.pg_copy_commits(plain_pg_url(), schema, table, [warm_b])
            chunks = _chunks(rows_b, BATCH)
            seconds = baselines.pg_copy_commits(plain_pg_url(), schema, table, chunks)
            return len(rows_b) / seconds

    ctx.log(f"figure 4: {batches} import batches of 100 vs raw COPY, {reps} runs")
    batch = Figure(
        "4",
        "write_pg_batch100",
        PG_BATCH_TITLE,
        "ledger.bulk.Importer on PostgreSQL: 100 onboard_staff commands per transaction",
        "raw psycopg COPY of 100 rows per transaction, same DDL and bytes",
        "events/s",
        PG_BATCH_TARGET,
        runs=interleaved(
            reps, _on_pg(lambda app: _imports(app, batches)), raw_batch, rate_ratio, ctx.log
        ),
        details={"batches": batches},
    )
    return [single, batch]


# -- figure 8: sealing overhead -------------------------------------------------------------------


def _events(rows: Sequence[Row]) -> list[StoredEvent]:
    return [StoredEvent(r[0], r[1], r[2], r[3]) for r in rows]


def _appends(app: Ledger, warm: Sequence[Row], rows: Sequence[Row]) -> float:
    """Seconds to append `rows` one per transaction through the ledger's recorder."""
    try:
        for e in _events(warm):
            app.recorder.insert_events([e])
        events = _events(rows)
        return timed(lambda: [app.recorder.insert_events([e]) for e in events])
    finally:
        app.close()


@figure("sealing_overhead", ("8a", "8b"), "single-event append, sealing vs plain recorder")
def sealing_overhead(ctx: Context) -> Sequence[Figure]:
    n, n_pg, _, _ = _sizes(ctx)
    n = min(n, 600)
    reps = ctx.mode.reps(9)  # short runs (≈ 0.2 s): more pairs steady the median
    warm, rows = _prepared(ctx, lambda app: _commands(app, n), WARMUP)
    target = Target("<=", 1.25, "sealing adds ≤ 25% to a single-event append")
    note = (
        "ratio = time with sealing ÷ time without; both append the same mapper bytes one "
        "event per transaction through `recorder.insert_events`"
    )

    def on_sqlite(plain: bool) -> Callable[[], float]:
        def measure() -> float:
            with scratch(ctx.workdir, "seal-") as home:
                app = open_ledger(sqlite_url(home / "e.db"), plain=plain)
                return _appends(app, warm, rows)

        return measure

    ctx.log(f"figure 8a: {n} single-event appends, sealing vs plain recorder (SQLite)")
    figures = [
        Figure(
            "8a",
            "sealing_overhead_sqlite",
            "sealing overhead of a single-event append, SQLite",
            "SealingSQLiteRecorder.insert_events([event])",
            "the library's SQLiteApplicationRecorder, same bytes",
            "s",
            target,
            runs=interleaved(reps, on_sqlite(False), on_sqlite(True), time_ratio, ctx.log),
            note=note,
            details={"appends": n},
        )
    ]
    title = "sealing overhead of a single-event append, PostgreSQL"
    problem = pg_problem()
    if problem is not None:
        figures.append(unavailable("8b", "sealing_overhead_pg", title, target, "skipped", problem))
        return figures
    pg_rows = rows[:n_pg]

    def on_pg(plain: bool) -> Callable[[], float]:
        def measure() -> float:
            with pg_schema() as schema:
                app = open_ledger(PG_URL, {"POSTGRES_SCHEMA": schema}, plain=plain)
                return _appends(app, warm, pg_rows)

        return measure

    ctx.log(f"figure 8b: {n_pg} single-event appends, sealing vs plain recorder (PostgreSQL)")
    figures.append(
        Figure(
            "8b",
            "sealing_overhead_pg",
            title,
            "SealingPostgresRecorder.insert_events([event])",
            "the library's PostgresApplicationRecorder, same bytes",
            "s",
            target,
            runs=interleaved(reps, on_pg(False), on_pg(True), time_ratio, ctx.log),
            note=note,
            details={"appends": n_pg},
        )
    )
    return figures
