"""`lvyue`: the command line (exit 0 ok, 1 a check failed or a command was refused, 2 usage)."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ledger.config import store_env
from ledger.errors import DomainError
from ledger.ledger import Ledger
from ledger.replay import TimeAxis, replay
from ledger.trail import SealedLog
from lvyue.checkpointing import Checkpointer, load_signing_key
from lvyue.demo import write_demo
from lvyue.settings import Settings, open_ledger
from lvyue.time_arguments import parse_time

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="lvyue 履约 — responsibility ledger"
)
console = Console()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print a refusal to stderr and return the exit to raise."""
    Console(stderr=True).print(f"[red]{message}[/red]")
    return typer.Exit(code)


@app.command("demo")
def demo_command(
    seed: Annotated[int, typer.Option(help="random seed: same seed, same events")] = 7,
    days: Annotated[int, typer.Option(min=1, max=366, help="days of operations")] = 90,
    fresh: Annotated[bool, typer.Option("--fresh", help="delete the SQLite file first")] = False,
    accounts: Annotated[
        bool, typer.Option(help="create demo log-ins with random passwords, printed once")
    ] = True,
    site_url: Annotated[str, typer.Option(help="where `lvyue serve` will listen")] = (
        "http://127.0.0.1:8000"
    ),
) -> None:
    """Write the deterministic demo data set (演示数据) through the ledger's use cases."""
    settings = Settings.from_env()
    if fresh:
        remove_sqlite_file(settings.database_url)
    ledger = open_ledger(settings)
    if ledger.recorder.max_notification_id():
        raise fail("the store already holds events; use --fresh or another LVYUE_DATABASE_URL")
    started = time.perf_counter()
    checkpointer = demo_checkpointer(ledger, settings)
    summary = write_demo(ledger, seed=seed, days=days, after_day=checkpointer.maybe_sign)
    note = checkpointer.maybe_sign_final()
    elapsed = time.perf_counter() - started
    table = Table(title=f"演示数据 demo written to {settings.database_url} in {elapsed:.1f} s")
    table.add_column("项目 item")
    table.add_column("数量 count", justify="right")
    for label, value in (
        ("事件 events", summary.events),
        ("命令 commands", summary.commands),
        ("员工 staff", summary.staff),
        ("天数 days", summary.days),
        *((COUNT_LABELS.get(key, key), count) for key, count in summary.counts.items()),
    ):
        table.add_row(str(label), f"{value:,}")
    console.print(table)
    size = note.splitlines()[1] if note else "?"
    console.print(
        f"签名检查点 signed checkpoint at {size} events (key {settings.signing_key_path})"
    )
    console.print(f"个人信息密钥 vault key for personal data: {settings.vault_key_file}")
    console.print(f"试试 try: lvyue replay {DEMO_EXAMPLE_TASK} --as-of {DEMO_EXAMPLE_TIME}")
    if accounts:
        from lvyue.demo_accounts import open_demo_site

        open_demo_site(ledger, settings, site_url)


COUNT_LABELS = {
    "tasks": "工单 work orders",
    "auto-closed": "自动关闭 auto-closed",
    "findings": "检查问题 findings",
    "late entries": "补录签字 late entries",
    "late sign-offs": "延迟签字 late sign-offs",
    "missed patrols": "漏巡 missed patrols",
    "owner returns": "业主退回 owner returns",
    "penalties proposed": "处罚提议 penalties proposed",
    "appeals": "申诉 appeals",
    "rewards": "奖励 rewards",
    "notices": "公示 notices",
    "rulings upheld": "维持 rulings upheld",
    "rulings reduced": "减轻 rulings reduced",
    "rulings overturned": "撤销 rulings overturned",
}
DEMO_EXAMPLE_TASK = "task/GD-0100"
DEMO_EXAMPLE_TIME = "2026-07-02T12:00:00+08:00"


def demo_checkpointer(ledger: Ledger, settings: Settings) -> Checkpointer:
    """Checkpoints by event count only, so the demo's checkpoints are deterministic too."""
    log = ledger.recorder
    assert isinstance(log, SealedLog)
    return Checkpointer(
        log,
        load_signing_key(settings),
        settings.origin,
        settings.checkpoint_every_events,
        float("inf"),
        time.monotonic,
    )


def remove_sqlite_file(database_url: str) -> None:
    """For --fresh: delete the embedded store's files (never a server database)."""
    env = store_env(database_url)
    path = env.get("SQLITE_DBNAME")
    if path is None:
        raise fail("--fresh only deletes an SQLite file; empty a server database yourself")
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)


@app.command("replay")
def replay_command(
    stream: Annotated[str, typer.Argument(help="stream UUID or kind/key, e.g. task/T-000123")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="RFC 3339 time")] = None,
    version: Annotated[int | None, typer.Option("--version", min=1)] = None,
    by: Annotated[str, typer.Option(help="time axis: occurred | recorded")] = "occurred",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The state of one stream as it stood then (状态回放)."""
    settings = Settings.from_env()
    if by not in ("occurred", "recorded"):
        raise typer.BadParameter("--by must be occurred or recorded")
    axis: TimeAxis = "occurred" if by == "occurred" else "recorded"
    moment = parse_time(as_of) if as_of else None
    ledger = open_ledger(settings)
    try:
        result = replay(ledger, stream, version=version, as_of=moment, axis=axis)
    except DomainError as error:
        raise fail(error.message) from None
    result = reveal_state(ledger, result)  # personal references shown as values or [erased]
    if as_json:
        payload = {
            "stream_id": result.stream_id,
            "stream_type": result.stream_type,
            "version": result.version,
            "latest_version": result.latest_version,
            "state": result.state,
            "events": result.events,
        }
        sys.stdout.write(
            json.dumps(payload, ensure_ascii=False, indent=2, default=_jsonable) + "\n"
        )
        return
    _print_replay(
        result.stream_type, result.version, result.latest_version, result.events, settings
    )
    for key, value in sorted(result.state.items()):
        console.print(f"  {key}: {_jsonable(value) if isinstance(value, datetime) else value}")


def _print_replay(
    stream_type: str, version: int, latest: int, events: list[dict[str, Any]], settings: Settings
) -> None:
    table = Table(
        title=f"{stream_type} v{version}/{latest} — 事件 events (时间 {settings.display_zone})"
    )
    for column in ("v", "事件 event", "发生 occurred", "记录 recorded", "操作人 actor"):
        table.add_column(column)
    for record in events:
        table.add_row(
            str(record["stream_version"]),
            record["type"],
            _local(record["occurred_at"], settings),
            _local(record["recorded_at"], settings),
            f"{record['actor']['id']} ({record['actor']['role']})",
        )
    console.print(table)


def _local(text: str, settings: Settings) -> str:
    return datetime.fromisoformat(text).astimezone(settings.zone).strftime("%Y-%m-%d %H:%M:%S")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


# The tamper-evident log's commands (lvyue/trail_commands.py).
from lvyue.trail_commands import audit, checkpoint, export, verifier_key, verify  # noqa: E402

app.command("audit")(audit)
app.command("checkpoint")(checkpoint)
app.command("export")(export)
app.command("verify")(verify)
app.command("verifier-key")(verifier_key)

# The read side's commands (lvyue/projection_commands.py).
from lvyue.projection_commands import (  # noqa: E402
    area,
    chain,
    notices,
    project,
    rebuild,
    signed,
    trail,
)

app.command("rebuild")(rebuild)
app.command("project")(project)
app.command("chain")(chain)
app.command("signed")(signed)
app.command("trail")(trail)
app.command("area")(area)
app.command("notices")(notices)

# The HTTP API's commands (lvyue/serve.py, lvyue/user_commands.py).
from lvyue.serve import serve  # noqa: E402
from lvyue.user_commands import token_app, user_app  # noqa: E402

app.command("serve")(serve)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")

# Personal data: erasure and legal holds (lvyue/personal_commands.py; replay reveals with it).
from lvyue.personal_commands import erase, hold, release_hold, reveal_state  # noqa: E402

app.command("erase")(erase)
app.command("hold")(hold)
app.command("release-hold")(release_hold)

# Anchoring checkpoints outside the company (lvyue/anchor_commands.py).
from lvyue.anchor_commands import anchor_app  # noqa: E402

app.add_typer(anchor_app, name="anchor")

# The vault key (lvyue/vault_commands.py).
from lvyue.vault_commands import vault_app  # noqa: E402

app.add_typer(vault_app, name="vault")

# The schema and bulk import (lvyue/db_commands.py, lvyue/import_commands.py).
from ledger.schema import SchemaError  # noqa: E402
from lvyue.db_commands import db_app  # noqa: E402
from lvyue.import_commands import import_file  # noqa: E402

app.add_typer(db_app, name="db")
app.command("import")(import_file)

# The KPIs and the 履约之星 ranking (lvyue/ranking_commands.py).
from lvyue.ranking_commands import kpi, ranking  # noqa: E402

app.command("ranking")(ranking)
app.command("kpi")(kpi)

# The SLA deadline watcher (lvyue/watch.py).
from lvyue.watch import watch  # noqa: E402

app.command("watch")(watch)


def main() -> None:
    """Console-script entry point; a store without a current schema is a message, exit 1."""
    try:
        app()
    except SchemaError as error:
        raise SystemExit(f"数据库结构 schema: {error}") from None
