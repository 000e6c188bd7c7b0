"""`lvyue rebuild | project | chain | signed | trail | area`: the read side on the command line.

Every query command catches the views up first, so it answers from the whole log. Human output
is a table with Chinese and English labels, times in the display zone; `--json` prints plain
data with RFC 3339 UTC times and the event ids behind every row. Exit codes: 0 ok, 1 nothing
found or refused, 2 usage or configuration error.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from ledger.config import ConfigError
from ledger.errors import DomainError, InvalidValue
from ledger.ledger import Ledger
from lvyue.settings import Settings
from lvyue.time_arguments import parse_time
from projections import notice_queries, queries
from projections.database import views_engine
from projections.projector import Projector, UnknownView

NOT_FOUND = 1
USAGE = 2
console = Console()


def refuse(message: str, code: int = NOT_FOUND) -> NoReturn:
    """Print a refusal in red on stderr and exit with `code` (1 refused, 2 usage)."""
    Console(stderr=True).print(f"[red]{message}[/red]")
    raise typer.Exit(code)


@contextmanager
def ledger_and_views(
    settings: Settings, catch_up: bool = True
) -> Iterator[tuple[Ledger, Projector]]:
    """The configured ledger and its views (same database), caught up; closed afterwards.
    Domain refusals inside the block exit 1 (2 for invalid values), never a traceback."""
    try:
        ledger = Ledger(settings.database_url)
    except ConfigError as error:
        refuse(f"配置错误 configuration error: {error}", USAGE)
    engine = views_engine(settings.database_url, ledger.env.get("POSTGRES_SCHEMA"))
    try:
        projector = Projector(ledger, engine)
        if catch_up:
            projector.catch_up()
        yield ledger, projector
    except InvalidValue as error:
        refuse(error.message, USAGE)
    except DomainError as error:
        refuse(error.message)
    finally:
        engine.dispose()
        ledger.close()


@contextmanager
def _projector(settings: Settings, catch_up: bool = True) -> Iterator[Projector]:
    with ledger_and_views(settings, catch_up) as (_, projector):
        yield projector


def _month(text: str, settings: Settings) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of YYYY-MM in the display zone."""
    try:
        start = datetime.strptime(text, "%Y-%m").replace(tzinfo=settings.zone)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a month like 2026-07") from None
    after = (start + timedelta(days=32)).replace(day=1)
    return start, after


def _local(moment: datetime | None, settings: Settings) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(settings.zone).strftime("%Y-%m-%d %H:%M:%S")


def _print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)


# -- projector ---------------------------------------------------------------------------------


def rebuild(
    views: Annotated[
        list[str] | None, typer.Argument(help="views to rebuild (default: all)", show_default=False)
    ] = None,
) -> None:
    """Drop the views and rebuild them from the first event (重建投影)."""
    settings = Settings.from_env()
    with _projector(settings, catch_up=False) as projector:
        try:
            chosen = [view.name for view in projector.select(views)]
        except UnknownView as error:
            refuse(str(error), USAGE)
        began = time.perf_counter()
        events = projector.rebuild(chosen, RebuildProgress(began))
        seconds = time.perf_counter() - began
    rate = events / seconds if seconds > 0 else 0.0
    typer.echo(
        f"重建 rebuilt {', '.join(chosen)}: {events:,} events in {seconds:.2f} s "
        f"({rate:,.0f} events/s)"
    )


PROGRESS_EVERY = 2.0
"""Seconds between progress lines of a long rebuild (a short one prints none)."""


class RebuildProgress:
    """Prints where a long rebuild is, on stderr, at most every PROGRESS_EVERY seconds."""

    def __init__(self, began: float, every: float | None = None) -> None:
        self.began = began
        self.every = PROGRESS_EVERY if every is None else every
        self.last = began

    def __call__(self, position: int, head: int) -> None:
        now = time.perf_counter()
        if now - self.last < self.every:
            return
        self.last = now
        Console(stderr=True).print(progress_line(position, head, now - self.began))


def progress_line(position: int, head: int, seconds: float) -> str:
    """"重建中 rebuilding: 120,000 / 1,000,000 (12%), 15,000 events/s, about 58 s left"."""
    share = position / head if head else 1.0
    rate = position / seconds if seconds > 0 else 0.0
    left = f", about {(head - position) / rate:,.0f} s left" if rate and head > position else ""
    return (
        f"重建中 rebuilding: {position:,} / {head:,} ({share:.0%}), {rate:,.0f} events/s{left}"
    )


def project(
    once: Annotated[bool, typer.Option("--once", help="catch up once and exit")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.05, help="poll seconds")] = 1.0,
) -> None:
    """Keep the views caught up with the log (投影进程); run as its own process."""
    settings = Settings.from_env()
    with _projector(settings, catch_up=False) as projector:
        if once:
            applied = projector.catch_up()
            typer.echo(f"投影 caught up: {applied:,} events; positions {projector.positions()}")
            return
        typer.echo(f"投影 projecting every {interval:g} s (Ctrl-C stops)")
        stopped = threading.Event()
        try:
            projector.run_forever(interval, stopped)
        except KeyboardInterrupt:
            stopped.set()
        typer.echo(f"投影 stopped at positions {projector.positions()}")


# -- queries -----------------------------------------------------------------------------------


def chain(
    task_no: Annotated[str, typer.Argument(help="task number, e.g. T-2026-000123")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The responsibility chain of a task (责任链): every link, who answered, who executed."""
    settings = Settings.from_env()
    with _projector(settings) as projector:
        links = queries.task_chain(projector.engine, task_no)
    if not links:
        refuse(f"没有该工单 no task {task_no!r}")
    if as_json:
        _print_json({"task_no": task_no, "links": links})
        return
    _table(
        f"工单 {task_no} 责任链 responsibility chain (时间 {settings.display_zone})",
        ("#", "环节 link", "责任人 responsible", "执行人 executor", "操作人 actor",
         "发生 occurred", "记录 recorded", "说明 note", "事件 event"),
        [
            (str(link.link_no), link.kind, link.responsible_id or "—", link.executor_id or "—",
             f"{link.actor_id} ({link.actor_role})", _local(link.occurred_at, settings),
             _local(link.recorded_at, settings), _chain_note(link), link.event_id[:8])
            for link in links
        ],
    )


def _chain_note(link: queries.ChainLink) -> str:
    parts = [part for part in (link.detail, link.note) if part]
    if link.kind == "reassigned":
        parts.insert(0, f"{link.responsible_before}/{link.executor_before} → "
                        f"{link.responsible_id}/{link.executor_id}")
    if link.notified_id:
        parts.append(f"level {link.level} → {link.notified_id}")
    return "; ".join(parts)


def signed(
    by: Annotated[str | None, typer.Option("--by", help="signer's person id")] = None,
    property_id: Annotated[str | None, typer.Option("--property")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="event type")] = None,
    month: Annotated[str | None, typer.Option("--month", help="YYYY-MM, display zone")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=queries.MAX_LIMIT)] = 100,
    after: Annotated[int | None, typer.Option("--after", help="position to continue after")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Who signed what (签字记录), by person, property, kind and month."""
    settings = Settings.from_env()
    since, until = _month(month, settings) if month else (None, None)
    with _projector(settings) as projector:
        page = queries.signatures(
            projector.engine, signer_id=by, property_id=property_id, kind=kind,
            since=since, until=until, after=after, limit=limit,
        )
    if as_json:
        _print_json({"signatures": page.items, "next_after": page.next_after})
        return
    _table(
        f"签字 signatures (时间 {settings.display_zone})",
        ("签字人 signer", "角色 role", "签署 kind", "对象 subject", "项目 property",
         "发生 occurred", "记录 recorded", "事件 event"),
        [
            (s.signer_id, s.signer_role or f"(by {s.actor_id})", s.kind, s.subject or "—",
             s.property_id or "—", _local(s.occurred_at, settings),
             _local(s.recorded_at, settings), s.event_id[:8])
            for s in page.items
        ],
    )
    _more(page.next_after)


def trail(
    property_id: Annotated[str | None, typer.Option("--property")] = None,
    actor: Annotated[str | None, typer.Option("--actor")] = None,
    stream: Annotated[str | None, typer.Option("--stream", help="UUID or kind/key")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=queries.MAX_LIMIT)] = 100,
    after: Annotated[int | None, typer.Option("--after", help="position to continue after")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The audit trail (审计轨迹) of a property, an actor or one stream, in log order."""
    if sum(x is not None for x in (property_id, actor, stream)) > 1:
        raise typer.BadParameter("give at most one of --property, --actor, --stream")
    settings = Settings.from_env()
    with _projector(settings) as projector:
        page = queries.trail(
            projector.engine, stream=stream, actor_id=actor, property_id=property_id,
            after=after, limit=limit,
        )
    if as_json:
        _print_json({"events": page.items, "next_after": page.next_after})
        return
    _table(
        f"审计轨迹 audit trail (时间 {settings.display_zone}; 迟录 late > 1 h)",
        ("序 pos", "事件 type", "流 stream", "操作人 actor", "项目 property", "发生 occurred",
         "记录 recorded", "迟录 late", "事件 event"),
        [
            (str(e.position), e.type, f"{e.stream_type} v{e.stream_version}",
             f"{e.actor_id} ({e.actor_role})", e.property_id or "—",
             _local(e.occurred_at, settings), _local(e.recorded_at, settings),
             f"+{e.delay_seconds // 60} min" if e.late else "", e.event_id[:8])
            for e in page.items
        ],
    )
    _more(page.next_after)


def _more(next_after: int | None) -> None:
    if next_after is not None:
        typer.echo(f"… more: --after {next_after}")


def area(
    area_id: Annotated[str, typer.Argument(help="area id")],
    at: Annotated[str | None, typer.Option("--at", help="RFC 3339 time")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Who answered for an area, per service line, over time or at one moment (责任区)."""
    settings = Settings.from_env()
    moment = parse_time(at) if at else None
    with _projector(settings) as projector:
        terms = queries.area_history(projector.engine, area_id)
        if moment is not None:
            lines = sorted({t.service_line for t in terms})
            found = [queries.responsible_at(projector.engine, area_id, line, moment)
                     for line in lines]
            terms = [term for term in found if term is not None]
    if not terms:
        refuse(f"没有责任记录 no responsibility recorded for area {area_id!r}")
    if as_json:
        _print_json({"area_id": area_id, "at": moment, "terms": terms})
        return
    when = f" @ {_local(moment, settings)}" if moment else ""
    _table(
        f"责任区 {area_id}{when} (时间 {settings.display_zone})",
        ("服务线 line", "#", "责任人 responsible", "代理 deputy", "起 from", "止 to",
         "签收 accepted", "指派 assigned", "解除 released"),
        [
            (t.service_line, str(t.term_no), t.responsible_id, t.deputy_id or "—",
             _local(t.valid_from, settings), _local(t.valid_to, settings),
             "✓" if t.accepted else "✗", t.assigned_event_id[:8],
             (t.released_event_id or "")[:8])
            for t in terms
        ],
    )


def notices(
    property_id: Annotated[str, typer.Option("--property", help="property id")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="RFC 3339: only those in force then")
    ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="e.g. responsible_persons")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A property's public notices (公示), or those in force at a moment."""
    settings = Settings.from_env()
    moment = parse_time(as_of) if as_of else None
    with _projector(settings) as projector:
        page = notice_queries.notices(
            projector.engine, property_id, kind=kind, as_of=moment, limit=queries.MAX_LIMIT
        )
    if as_json:
        _print_json({"property_id": property_id, "as_of": moment, "notices": page.items})
        return
    when = f" @ {_local(moment, settings)}" if moment else ""
    _table(
        f"公示 notices {property_id}{when} (时间 {settings.display_zone})",
        ("类别 kind", "标题 title", "渠道 channels", "起 from", "止 to", "文件 document",
         "发布 posted by", "事件 event"),
        [
            (n.kind, n.title, ", ".join(n.channels), _local(n.valid_from, settings),
             _local(n.valid_to, settings), n.doc_sha256[:12], n.publisher_id, n.event_id[:8])
            for n in page.items
        ],
    )
    _more(page.next_after)
