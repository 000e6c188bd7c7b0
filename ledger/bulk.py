"""Bulk import: JSON Lines of commands, validated per line, saved atomically per batch.

Each line is ``{"command": "<use case>", "ctx": {...}, "args": {...}}``. A line is checked on
its own first (size, UTF-8, JSON, shape, a known and importable command, the envelope, the
argument names and types); a bad line is reported with its number and reason and never
written. The good lines are then run in batches through the ordinary use cases inside
`LedgerCore.batch`: every domain rule applies exactly as for a live command, a refused line is
reported and the batch goes on without it, and the rest of the batch (events, idempotency
receipts, personal data) is saved in ONE transaction, so a batch is written whole or not at
all. A batch that loses a race with another writer is staged again from its lines (commands
that meanwhile got a receipt come back as repeated) before its lines are reported as not written.

An import is an administrative act that records what others did, so:
- the actor of each line stays the line's actor (the person or device who acted), because the
  domain rules (who may sign off, separation of duties, responsibility at the time) must judge
  the real actor; the importer only accepts actor kinds it was explicitly allowed to speak for
  (by default devices and systems; staff or owners only when the operator says so);
- `recorded_at` is the importer's clock reading when the batch is staged (a line cannot set
  it), so every imported event shows honestly that it entered the ledger at import time;
- the import is named in `correlation_id` — ``import/<operator>/<source digest>`` — unless the
  line carries its own correlation id (the case it belongs to, which matters more in a dispute).
Evidence is never added by the importer: evidence-required rules must see the line's own files.
Command ids make a re-run of the same file harmless: recorded lines come back as repeated.
"""

from __future__ import annotations

import difflib
import inspect
import json
import types
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import IO, Any, Union, get_args, get_origin, get_type_hints

from eventsourcing.persistence import IntegrityError, PersistenceError

from ledger.application import CommandResult, LedgerCore
from ledger.envelope import ACTOR_KINDS, CommandContext
from ledger.errors import ConcurrentModification, DomainError

MAX_LINE_BYTES = 64 * 1024
MAX_REPORTED = 1000
BATCH_ATTEMPTS = 3
DEFAULT_KINDS = ("device", "system")
NOT_IMPORTABLE = frozenset({"erase_subject", "rotate_vault_key", "run", "role_of"})
"""Erasure destroys keys and compacts the store: one command at a time, never in a batch."""
NOT_IMPORTABLE_MODULES = frozenset({"ledger.usecases.sla"})
"""The SLA watcher's commands read stream history directly; the watcher issues them itself."""
CTX_REQUIRED = ("actor_id", "actor_kind", "occurred_at", "command_id")
CTX_OPTIONAL = ("on_behalf_of", "causation_id", "correlation_id", "evidence")


class BadLine(ValueError):
    """A line that cannot be a command; the reason is what the report shows."""


@dataclass(frozen=True)
class LineError:
    """One line not written, and why."""

    line: int
    reason: str
    command_id: str | None = None


@dataclass(frozen=True)
class Param:
    """One argument of a use case: its name, type and whether the line must give it."""

    name: str
    hint: Any
    required: bool


@dataclass(frozen=True)
class Command:
    """A line that passed the per-line checks (recorded_at is filled in at staging)."""

    line: int
    name: str
    ctx: CommandContext
    args: dict[str, Any]


@dataclass
class ImportReport:
    """What an import read, wrote (or, in a dry run, would write) and refused."""

    dry_run: bool = False
    lines: int = 0
    imported: int = 0
    repeated: int = 0
    events: int = 0
    batches: int = 0
    refused: int = 0
    errors: list[LineError] = field(default_factory=list)

    def refuse(self, error: LineError) -> None:
        self.refused += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append(error)

    @property
    def ok(self) -> bool:
        return self.refused == 0


# --------------------------------------------------------------------------------------------
# Reading lines (bounded: a huge line is skipped, never held in memory)
# --------------------------------------------------------------------------------------------


def read_lines(
    stream: IO[bytes], limit: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) per line; None stands for a line longer than `limit` bytes."""
    number = 0
    while chunk := stream.readline(limit + 1):
        number += 1
        if len(chunk) <= limit or chunk.endswith(b"\n"):
            yield number, chunk
            continue
        while (rest := stream.readline(limit + 1)) and not rest.endswith(b"\n"):
            pass
        yield number, None


# --------------------------------------------------------------------------------------------
# The commands a file may name
# --------------------------------------------------------------------------------------------


def importable_commands(app_type: type[LedgerCore]) -> dict[str, tuple[Param, ...]]:
    """Every use case of the application that takes a CommandContext, with its parameters."""
    found: dict[str, tuple[Param, ...]] = {}
    for name, function in inspect.getmembers(app_type, inspect.isfunction):
        if name.startswith("_") or name in NOT_IMPORTABLE:
            continue
        if function.__module__ in NOT_IMPORTABLE_MODULES:
            continue
        parameters = list(inspect.signature(function).parameters.values())
        if len(parameters) < 2 or parameters[1].name != "ctx":
            continue
        hints = get_type_hints(function)
        found[name] = tuple(
            Param(p.name, hints[p.name], p.default is inspect.Parameter.empty)
            for p in parameters[2:]
        )
    return found


# --------------------------------------------------------------------------------------------
# Per-line checks
# --------------------------------------------------------------------------------------------


def parse_line(
    number: int,
    raw: bytes,
    commands: Mapping[str, tuple[Param, ...]],
    allowed_kinds: Collection[str],
) -> Command:
    """A command from one line, or BadLine with the reason."""
    data = _json_object(raw)
    missing = {"command", "ctx", "args"} - data.keys()
    extra = data.keys() - {"command", "ctx", "args"}
    if missing or extra:
        raise BadLine(_keys_message("the line", missing, extra))
    name = data["command"]
    if not isinstance(name, str) or name not in commands:
        raise BadLine(_unknown(name, commands))
    if not isinstance(data["ctx"], dict):
        raise BadLine("ctx must be an object")
    if not isinstance(data["args"], dict):
        raise BadLine("args must be an object")
    ctx = _context(data["ctx"], allowed_kinds)
    try:
        args = _arguments(data["args"], commands[name])
    except BadLine as error:
        raise BadLine(f"{name}: {error}") from None
    return Command(number, name, ctx, args)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadLine(f"not UTF-8 text (byte {error.start})") from None
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise BadLine("JSON nested too deeply") from None
    except ValueError as error:
        raise BadLine(f"bad JSON: {error}") from None
    if not isinstance(data, dict):
        raise BadLine(f"a line must be a JSON object, not {_json_type(data)}")
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _keys_message(where: str, missing: Collection[str], extra: Collection[str]) -> str:
    parts = []
    if missing:
        parts.append(f"missing {', '.join(sorted(missing))}")
    if extra:
        parts.append(f"unexpected {', '.join(sorted(_short(k) for k in extra))}")
    return f"{where}: {'; '.join(parts)}"


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _unknown(name: Any, commands: Mapping[str, Any]) -> str:
    if not isinstance(name, str):
        return "command must be a string naming a use case"
    close = difflib.get_close_matches(name[:100], list(commands), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown or non-importable command {_short(name)}{hint}"


def _context(data: dict[str, Any], allowed_kinds: Collection[str]) -> CommandContext:
    if "recorded_at" in data:
        raise BadLine("ctx: recorded_at is the importer's clock and cannot be set by a line")
    missing = set(CTX_REQUIRED) - data.keys()
    extra = data.keys() - {*CTX_REQUIRED, *CTX_OPTIONAL}
    if missing or extra:
        raise BadLine(_keys_message("ctx", missing, extra))
    values = {key: _text(f"ctx.{key}", data[key]) for key in CTX_REQUIRED if key != "occurred_at"}
    kind = values["actor_kind"]
    if kind not in ACTOR_KINDS:
        raise BadLine(f"ctx.actor_kind must be one of {', '.join(ACTOR_KINDS)}")
    if kind not in allowed_kinds:
        allowed = ", ".join(sorted(allowed_kinds)) or "none"
        raise BadLine(
            f"this import may not act as actor kind {kind!r} (allowed: {allowed}); "
            "the operator must allow it explicitly"
        )
    moment = _moment("ctx.occurred_at", data["occurred_at"])
    return CommandContext(
        actor_id=values["actor_id"],
        actor_kind=kind,
        occurred_at=moment,
        recorded_at=moment,  # replaced by the importer's clock when the batch is staged
        command_id=values["command_id"],
        on_behalf_of=_optional_text(data, "on_behalf_of"),
        causation_id=_optional_text(data, "causation_id"),
        correlation_id=_optional_text(data, "correlation_id"),
        evidence=_strings("ctx.evidence", data.get("evidence", [])),
    )


def _optional_text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else _text(f"ctx.{key}", value)


def _arguments(data: dict[str, Any], params: tuple[Param, ...]) -> dict[str, Any]:
    names = {p.name for p in params}
    missing = {p.name for p in params if p.required} - data.keys()
    extra = data.keys() - names
    if missing or extra:
        raise BadLine(_keys_message("args", missing, extra))
    return {p.name: _convert(p.name, data[p.name], p.hint) for p in params if p.name in data}


def _convert(name: str, value: Any, hint: Any) -> Any:
    """A JSON value as the use case's declared type (str, int, bool, datetime, tuple[str, ...])."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [h for h in get_args(hint) if h is not type(None)]
        if value is None:
            return None
        if len(options) == 1:
            return _convert(name, value, options[0])
    if origin is tuple and get_args(hint) == (str, ...):
        return _strings(name, value)
    convert = SCALARS.get(hint)
    if convert is None:
        raise BadLine(f"{name} has a type the importer does not support ({hint})")
    return convert(name, value)


def _boolean(name: str, value: Any) -> bool:
    if type(value) is not bool:
        raise BadLine(f"{name} must be true or false")
    return bool(value)


def _integer(name: str, value: Any) -> int:
    if type(value) is not int:  # a JSON true is not 1
        raise BadLine(f"{name} must be an integer")
    return int(value)


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise BadLine(f"{name} must be a string")
    return value


def _strings(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadLine(f"{name} must be an array of strings")
    return tuple(value)


def _moment(name: str, value: Any) -> datetime:
    if not isinstance(value, str):
        raise BadLine(f"{name} must be an RFC 3339 time string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadLine(f"{name} is not an RFC 3339 time: {_short(value)}") from None
    if moment.tzinfo is None:
        raise BadLine(f"{name} needs a UTC offset, e.g. 2026-09-01T08:00:00+08:00")
    return moment


SCALARS: dict[Any, Callable[[str, Any], Any]] = {
    str: _text,
    bool: _boolean,
    int: _integer,
    datetime: _moment,
}


# --------------------------------------------------------------------------------------------
# The importer
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Staged:
    """One staging pass over a batch: what ran and what the ledger refused."""

    results: list[tuple[Command, CommandResult]]
    refused: list[LineError]


class Importer:
    """Runs JSON Lines through a ledger's use cases, `batch_size` good commands per commit."""

    def __init__(
        self,
        ledger: LedgerCore,
        clock: Callable[[], datetime],
        *,
        operator: str,
        source_sha256: str,
        allowed_kinds: Collection[str] = DEFAULT_KINDS,
        batch_size: int = 100,
        dry_run: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError("the batch size must be at least 1")
        if not operator or len(operator) > 100:
            raise ValueError("the operator must be named (1–100 characters)")
        self.ledger = ledger
        self.clock = clock
        self.allowed_kinds = frozenset(allowed_kinds)
        self.batch_size = batch_size
        self.dry_run = dry_run
        self.correlation_id = f"import/{operator}/{source_sha256[:16]}"
        self.commands = importable_commands(type(ledger))

    def run(self, lines: Iterable[tuple[int, bytes | None]]) -> ImportReport:
        """Import every line; returns the report (bad lines with their numbers and reasons)."""
        report = ImportReport(dry_run=self.dry_run)
        pending: list[Command] = []
        for number, raw in lines:
            report.lines += 1
            command = self._parse(number, raw, report)
            if command is not None:
                pending.append(command)
            if len(pending) >= self.batch_size:
                self._batch(pending, report)
                pending = []
        if pending:
            self._batch(pending, report)
        report.errors.sort(key=lambda error: error.line)
        return report

    def _parse(self, number: int, raw: bytes | None, report: ImportReport) -> Command | None:
        if raw is None:
            report.refuse(LineError(number, f"line longer than {MAX_LINE_BYTES} bytes; skipped"))
            return None
        if not raw.strip():
            return None  # blank lines separate nothing and mean nothing
        try:
            command = parse_line(number, raw, self.commands, self.allowed_kinds)
        except BadLine as error:
            report.refuse(LineError(number, str(error)))
            return None
        if command.ctx.correlation_id is None:
            command = replace(command, ctx=replace(command.ctx, correlation_id=self.correlation_id))
        return command

    def _batch(self, commands: list[Command], report: ImportReport) -> None:
        """Stage and save one batch; a lost race restages it from its lines."""
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            now = self.clock()
            with self.ledger.batch() as batch:
                self.ledger.prefetch_receipts(batch, [c.ctx.command_id for c in commands])
                staged = self._stage(commands, now)
                if self.dry_run:
                    break
                try:
                    self.ledger.save_batch(batch)
                    break
                except (IntegrityError, ConcurrentModification) as error:
                    if attempt == BATCH_ATTEMPTS:
                        self._lost(commands, staged, report, error)
                        return
        self._count(staged, report, written=bool(batch.receipts))

    def _stage(self, commands: list[Command], now: datetime) -> Staged:
        staged = Staged([], [])
        for command in commands:
            ctx = replace(command.ctx, recorded_at=now)
            try:
                result: CommandResult = getattr(self.ledger, command.name)(ctx, **command.args)
            except DomainError as error:
                reason = f"refused ({error.code}): {error.message}"
                staged.refused.append(LineError(command.line, reason, ctx.command_id))
            except PersistenceError:
                raise  # the store is unavailable: stop, nothing of this batch was written
            except Exception as error:  # a value the domain could not handle: this line only
                reason = f"refused ({type(error).__name__}): {error}"
                staged.refused.append(LineError(command.line, reason, ctx.command_id))
            else:
                staged.results.append((command, result))
        return staged

    def _count(self, staged: Staged, report: ImportReport, *, written: bool) -> None:
        for error in staged.refused:
            report.refuse(error)
        for _command, result in staged.results:
            if result.repeated:
                report.repeated += 1
            else:
                report.imported += 1
                report.events += len(result.events)
        report.batches += int(written and not self.dry_run)

    def _lost(
        self, commands: list[Command], staged: Staged, report: ImportReport, error: Exception
    ) -> None:
        for refused in staged.refused:
            report.refuse(refused)
        reason = (
            f"not written: the batch kept conflicting with other writers ({error}); "
            "rerun the import (lines already recorded come back as repeated)"
        )
        for command, _result in staged.results:
            report.refuse(LineError(command.line, reason, command.ctx.command_id))
