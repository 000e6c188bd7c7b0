"""`lvyue import FILE.jsonl`: bulk import of commands (migrations, device feeds); ledger/bulk.py.

This is a composition root: `recorded_at` is the wall clock here, the vault's keys come from
the operating system's entropy, and the file's SHA-256 names the import in each event's
correlation id. Exit codes: 0 every line imported (or already recorded), 1 some lines were
refused (each is printed with its number and reason; the good ones were written), 2 usage or
configuration error.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ledger.bulk import DEFAULT_KINDS, Importer, ImportReport, read_lines
from ledger.config import ConfigError
from ledger.envelope import ACTOR_KINDS
from ledger.schema import SchemaError
from lvyue.refusal import REFUSED, USAGE, exit_with
from lvyue.settings import Settings, open_ledger

KINDS = " and ".join(DEFAULT_KINDS)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def import_file(
    file: Annotated[Path, typer.Argument(help="JSON Lines: one command per line")],
    operator: Annotated[
        str, typer.Option("--operator", help="who runs this import (named in correlation ids)")
    ],
    batch: Annotated[int, typer.Option("--batch", min=1, max=10_000, help="commands per commit")]
    = 100,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check every line, write nothing")
    ] = False,
    kinds: Annotated[
        list[str] | None,
        typer.Option("--as", help=f"an actor kind lines may act as (repeatable; default {KINDS})"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Import commands from a JSON Lines file, atomically per batch (批量导入)."""
    allowed = tuple(kinds) if kinds else DEFAULT_KINDS
    unknown = sorted(set(allowed) - set(ACTOR_KINDS))
    if unknown:
        exit_with(f"用法错误 usage: unknown actor kind {', '.join(unknown)}", USAGE)
    if not file.is_file():
        exit_with(f"用法错误 usage: no file {file}", USAGE)
    settings = Settings.from_env()
    try:
        ledger = open_ledger(settings)
    except ConfigError as error:
        exit_with(f"配置错误 configuration error: {error}", USAGE)
    except SchemaError as error:
        exit_with(f"数据库结构 schema: {error}")
    try:
        importer = Importer(
            ledger,
            lambda: datetime.now(UTC),
            operator=operator,
            source_sha256=_sha256(file),
            allowed_kinds=allowed,
            batch_size=batch,
            dry_run=dry_run,
        )
        with file.open("rb") as stream:
            report = importer.run(read_lines(stream))
    except ValueError as error:
        exit_with(f"用法错误 usage: {error}", USAGE)
    finally:
        ledger.close()
    _print(report, as_json)
    if not report.ok:
        raise typer.Exit(REFUSED)


def _print(report: ImportReport, as_json: bool) -> None:
    if as_json:
        payload = {**asdict(report), "ok": report.ok}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        return
    for error in report.errors:
        command = f" [{error.command_id}]" if error.command_id else ""
        typer.echo(f"line {error.line}{command}: {error.reason}", err=True)
    if report.refused > len(report.errors):
        typer.echo(f"… and {report.refused - len(report.errors):,} more refused lines", err=True)
    verb = "would import" if report.dry_run else "imported"
    typer.echo(
        f"导入 {verb} {report.imported:,} commands ({report.events:,} events, "
        f"{report.batches:,} commits); {report.repeated:,} already recorded; "
        f"{report.refused:,} of {report.lines:,} lines refused"
    )
