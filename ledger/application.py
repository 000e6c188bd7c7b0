"""The write side's application: one command runner shared by every use case.

A use case loads aggregates, calls their public commands (which validate and raise named
domain errors), and hands the changed aggregates back; the runner stamps the actor's role,
checks the command id for idempotency and saves everything in ONE transaction together with
the idempotency receipt, so a refused or repeated command never writes anything.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar, runtime_checkable
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
)
from eventsourcing.persistence import IntegrityError, Mapper, Recording, Transcoder

from ledger.catalogue import build_catalogue
from ledger.config import store_env
from ledger.domain.base import LedgerAggregate
from ledger.domain.staff import Staff
from ledger.envelope import ACTOR_KINDS, CommandContext, Meta
from ledger.errors import (
    ActorNotActive,
    AlreadyExists,
    CommandIdReused,
    ConcurrentModification,
    DomainError,
    InvalidValue,
    NotFound,
)
from ledger.ids import stream_id
from ledger.personal import (
    NO_VAULT_KEY,
    Entropy,
    PersonalRef,
    Vault,
    VaultKey,
    VaultWrites,
    no_entropy,
)
from ledger.record import RecordMapper, iso
from ledger.repository import LedgerRepository
from ledger.schema import SchemaError, prepare
from ledger.seal import Receipt

A = TypeVar("A", bound=LedgerAggregate)


@runtime_checkable
class ReceiptReader(Protocol):
    """Every sealing recorder can look up an idempotency receipt."""

    def find_receipt(self, command_id: str) -> Receipt | None: ...

    def find_receipts(self, command_ids: Sequence[str]) -> dict[str, Receipt]: ...


MAX_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class CommandResult:
    """What a command wrote: (stream id, version) per event; `repeated` on an idempotent retry."""

    command_id: str
    events: tuple[tuple[str, int], ...]
    repeated: bool = False

    def to_json(self) -> str:
        return json.dumps({"command_id": self.command_id, "events": [list(e) for e in self.events]})

    @classmethod
    def from_json(cls, text: str, *, repeated: bool) -> CommandResult:
        data = json.loads(text)
        return cls(data["command_id"], tuple((s, int(v)) for s, v in data["events"]), repeated)


@dataclass(frozen=True)
class Acting:
    """The validated context of one command, with the actor's role at this moment.

    `vault` collects the command's personal data, saved in the same transaction as its events.
    """

    ctx: CommandContext
    role: str
    vault: VaultWrites = field(default_factory=VaultWrites)

    def meta(self, property_id: str | None) -> Meta:
        return self.ctx.meta(self.role, property_id)


Act = Callable[[Acting], Sequence[LedgerAggregate]]


def fingerprint(command: str, args: Mapping[str, Any], request: str | None = None) -> str:
    """A digest of the command and its arguments, to tell a retry from a reused id.

    `request` (CommandContext.request_digest) joins it when the caller has one; without it
    the digest is the one receipts have always held.
    """
    fields: dict[str, Any] = {"command": command, "args": args}
    if request is not None:
        fields["request"] = request
    body = json.dumps(fields, sort_keys=True, default=_jsonable)
    return hashlib.sha256(body.encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidValue("every time argument must carry a UTC offset")
        return iso(value)
    if isinstance(value, UUID | set | frozenset):
        return str(value) if isinstance(value, UUID) else sorted(value)
    raise InvalidValue(f"unsupported argument type {type(value).__name__}")


class LedgerCore(Application[UUID]):
    """Application base: persistence wiring, the command runner and aggregate loading."""

    name = "lvyue"

    def __init__(
        self,
        database_url: str = "memory://",
        env: Mapping[str, str] | None = None,
        *,
        entropy: Entropy = no_entropy,
        vault_key: VaultKey = NO_VAULT_KEY,
        schema_check: bool = True,
    ) -> None:
        super().__init__(env={**store_env(database_url), **(env or {})})
        self.entropy = entropy
        self.vault_key = vault_key
        if schema_check:
            self._require_schema()

    def _require_schema(self) -> None:
        """PostgreSQL: the explicit schema must be current; SQLite is brought up to date."""
        try:
            prepare(self.recorder)
        except SchemaError:
            self.close()
            raise

    def construct_mapper(self) -> Mapper[UUID]:
        return RecordMapper(self.construct_transcoder(), build_catalogue())

    def construct_repository(self) -> Repository[UUID]:
        """The library's repository, loading with `ledger.repository.fold`."""
        return LedgerRepository.adopting(super().construct_repository())

    def construct_transcoder(self) -> Transcoder:
        return super().construct_transcoder()

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's `save`, with our aggregates and events recognised by their classes.

        `ProcessingEvent.collect_events` asks every object whether it is a
        `DomainEventProtocol`, then a `CollectEventsProtocol`: runtime protocol checks, each
        of which walks the protocol's attributes on Python 3.11 (~10 µs, a fifteenth of a
        command's own Python time on SQLite, and 10 µs per event of a batch). Anything else
        is still collected the library's way; recording, snapshots and notifying are its own.
        """
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, LedgerAggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            elif isinstance(obj, LedgerAggregate.Event):
                processing_event.events.append(obj)
            else:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # the library still calls it (deprecated)
        return recordings

    # -- the runner ----------------------------------------------------------------------

    def run(
        self, ctx: CommandContext, command: str, args: Mapping[str, Any], act: Act
    ) -> CommandResult:
        """Validate, act and save atomically; see the module docstring.

        A repeated command id is found where it shows: its receipt's primary key refuses the
        save (IntegrityError), or its first run refuses the act (DomainError). Either way the
        receipt is then looked up, so a fresh command, the common case, reads no receipt.
        Likewise a stream the command creates (`require_new`) is looked up only when the
        command fails: the store's unique (stream, version) key refuses the save otherwise.
        """
        _validate_context(ctx)
        args = {k: v for k, v in args.items() if k not in ("self", "ctx") and not callable(v)}
        digest = fingerprint(command, args, ctx.request_digest)
        staged = _BATCH.get()
        if staged is not None:
            return self._stage(staged, ctx, digest, act)
        creating: list[_NewStream] = []
        token = _CREATING.set(creating)
        try:
            acting = Acting(ctx, self.role_of(ctx))
            aggregates = act(acting)
            self._require_created(creating, aggregates)
        except Exception as error:
            taken = self._taken(creating)
            if taken is not None:
                return self._repeat_or_raise(ctx, digest, taken)
            if isinstance(error, DomainError):
                return self._repeat_or_raise(ctx, digest, error)
            raise
        finally:
            _CREATING.reset(token)
        events = tuple(
            (str(e.originator_id), e.originator_version)
            for a in aggregates
            for e in a.pending_events
        )
        result = CommandResult(ctx.command_id, events)
        extra = _vault_kwargs(acting.vault, events)
        try:
            self.save(
                *aggregates, receipt=Receipt(ctx.command_id, digest, result.to_json()), **extra
            )
        except IntegrityError as error:
            earlier = self.receipt(ctx.command_id, digest)
            if earlier is not None:
                return earlier
            taken = self._taken(creating)
            if taken is not None:
                raise taken from None
            raise ConcurrentModification(
                "another command changed this record first; reload and retry"
            ) from error
        return result

    def require_new(self, kind: str, key: str, refusal: str) -> None:
        """The command creates stream `kind/key`; if it already exists: AlreadyExists(refusal).

        Called where a create command used to read whether its stream exists. Inside `run`
        nothing is read now: the store's unique (stream, version) key refuses the save of an
        existing stream's version 1, and a command that fails for any reason looks its new
        streams up, so an existing one is refused as AlreadyExists whatever failed after this
        call, as an up-front read would have refused it (and a retry still gets its receipt
        first). In a batch, or outside `run`, the stream is read now (`exists`).
        """
        creating = _CREATING.get()
        if creating is None or _BATCH.get() is not None:
            if self.exists(kind, key):
                raise AlreadyExists(refusal)
            return
        creating.append(_NewStream(stream_id(kind, key), kind, key, refusal))

    def _require_created(
        self, creating: Sequence[_NewStream], aggregates: Sequence[LedgerAggregate]
    ) -> None:
        """A `require_new` stream the command does not create at version 1 is read now, since
        the unique key cannot answer for it."""
        first = {
            e.originator_id
            for a in aggregates
            for e in a.pending_events
            if e.originator_version == 1
        }
        taken = self._taken([new for new in creating if new.sid not in first])
        if taken is not None:
            raise taken

    def _taken(self, creating: Sequence[_NewStream]) -> AlreadyExists | None:
        """The refusal of the first stream the command meant to create that exists."""
        for new in creating:
            if self.exists(new.kind, new.key):
                return AlreadyExists(new.refusal)
        return None

    def _repeat_or_raise(
        self, ctx: CommandContext, digest: str, error: DomainError
    ) -> CommandResult:
        """A refusal caused by the same command committing meanwhile (another client's retry
        raced this one past the receipt check) is that command's repeat, not a refusal."""
        earlier = self.receipt(ctx.command_id, digest)
        if earlier is None:
            raise error
        return earlier

    def receipt(self, command_id: str, digest: str) -> CommandResult | None:
        """The first result of a command id, or None; a different command under it is refused."""
        return _result_of(self.stored_receipt(command_id), command_id, digest)

    def stored_receipt(self, command_id: str) -> Receipt | None:
        """Look the receipt up in whichever sealing store backs this application."""
        recorder = self.recorder
        if not isinstance(recorder, ReceiptReader):
            raise TypeError("the event store is not a sealing recorder")
        return recorder.find_receipt(command_id)

    # -- personal data ---------------------------------------------------------------------

    @property
    def vault(self) -> Vault:
        """The personal-data vault of whichever sealing store backs this application."""
        recorder = self.recorder
        if not isinstance(recorder, Vault):
            raise TypeError("the event store has no personal-data vault")
        return recorder

    def protect(self, a: Acting, subject: str, field_name: str, value: str) -> PersonalRef:
        """Store a personal value with this command (ledger/personal.py); the event gets the ref."""
        return a.vault.protect(self.vault, self.entropy, subject, field_name, value, self.vault_key)

    # -- loading -------------------------------------------------------------------------

    def load(self, cls: type[A], kind: str, key: str) -> A:
        """The aggregate of `kind` named `key`, or NotFound."""
        if not isinstance(key, str) or not key:
            raise InvalidValue(f"{kind} id must be a non-empty string")
        try:
            aggregate: LedgerAggregate = self._staged_or_stored(stream_id(kind, key))
        except AggregateNotFoundError:
            raise NotFound(f"no {kind.replace('_', ' ')} with id {key!r}") from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"{key!r} is not a {kind}")
        return aggregate

    def exists(self, kind: str, key: str) -> bool:
        """Whether a stream exists (for create commands that must not overwrite)."""
        staged = _BATCH.get()
        if staged is not None and stream_id(kind, key) in staged.aggregates:
            return True
        return bool(self.recorder.select_events(stream_id(kind, key), limit=1))

    def active_staff(self, person_id: str) -> Staff:
        """A staff member who may act or be named as responsible now."""
        try:
            staff = self.load(Staff, "staff", person_id)
        except NotFound:
            raise ActorNotActive(f"{person_id!r} is not a staff member") from None
        if not staff.active:
            raise ActorNotActive(f"{person_id!r} has been offboarded")
        return staff

    def role_of(self, ctx: CommandContext) -> str:
        """The actor's role at this moment: the staff position, else the actor kind."""
        if ctx.actor_kind != "staff":
            return ctx.actor_kind
        return self.active_staff(ctx.actor_id).position or "staff"

    # -- batches (ledger/bulk.py) -----------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """Stage the commands run in this block (this thread only) instead of saving each.

        Inside the block `run` validates, dedupes and acts exactly as usual, but keeps the
        changed aggregates, the events in command order and the receipts in the `Batch`;
        `load` and `exists` see what earlier commands of the batch staged. Nothing is written
        until `save_batch`; leaving the block without it discards the batch.
        """
        staged = Batch()
        token = _BATCH.set(staged)
        try:
            yield staged
        finally:
            _BATCH.reset(token)

    def save_batch(self, staged: Batch) -> None:
        """Save every staged event, receipt and vault change in ONE transaction."""
        if not staged.receipts:
            return
        extra = {"vault": staged.vault} if staged.vault else {}  # each command was checked
        self.save(*staged.events, receipt=tuple(staged.receipts.values()), **extra)

    def _stage(self, staged: Batch, ctx: CommandContext, digest: str, act: Act) -> CommandResult:
        """`run` inside a batch: the same checks, staged instead of saved."""
        earlier = staged.receipt(ctx.command_id, digest) or self._stored_for_batch(
            staged, ctx.command_id, digest
        )
        if earlier is not None:
            return earlier
        batch_vault = VaultWrites(dict(staged.vault.new_keys), vault_key=staged.vault.vault_key)
        acting = Acting(ctx, self.role_of(ctx), batch_vault)
        try:
            aggregates = act(acting)
        except DomainError as error:
            return self._repeat_or_raise(ctx, digest, error)
        if acting.vault.erase is not None:
            raise InvalidValue("an erasure cannot run inside a batch; issue it on its own")
        new_events = [e for a in aggregates for e in a.pending_events[staged.pending_count(a) :]]
        events = tuple((str(e.originator_id), e.originator_version) for e in new_events)
        known = staged.vault.new_keys
        new_keys = {k: v for k, v in acting.vault.new_keys.items() if k not in known}
        _vault_kwargs(VaultWrites(new_keys, acting.vault.values), events)
        result = CommandResult(ctx.command_id, events)
        staged.add(aggregates, new_events, Receipt(ctx.command_id, digest, result.to_json()))
        staged.vault.new_keys.update(new_keys)
        staged.vault.vault_key = acting.vault.vault_key
        staged.vault.values.extend(acting.vault.values)
        return result

    def prefetch_receipts(self, staged: Batch, command_ids: Sequence[str]) -> None:
        """Read the stored receipts of a batch's command ids in one statement up front."""
        recorder = self.recorder
        if not isinstance(recorder, ReceiptReader):
            raise TypeError("the event store is not a sealing recorder")
        found = recorder.find_receipts(command_ids)
        staged.prefetched.update({c: found.get(c) for c in command_ids})

    def _stored_for_batch(
        self, staged: Batch, command_id: str, digest: str
    ) -> CommandResult | None:
        """`receipt`, answered from the batch's prefetched receipts when it has them."""
        if command_id not in staged.prefetched:
            return self.receipt(command_id, digest)
        return _result_of(staged.prefetched[command_id], command_id, digest)

    def _staged_or_stored(self, sid: UUID) -> LedgerAggregate:
        """A copy of the batch's staged aggregate (a refused command must not touch it), else
        the stored one."""
        staged = _BATCH.get()
        if staged is not None and sid in staged.aggregates:
            return copy.deepcopy(staged.aggregates[sid])
        aggregate: LedgerAggregate = self.repository.get(sid)
        return aggregate


@dataclass
class Batch:
    """Commands staged by `LedgerCore.batch`: aggregates, events in command order, receipts."""

    aggregates: dict[UUID, LedgerAggregate] = field(default_factory=dict)
    events: list[Any] = field(default_factory=list)
    receipts: dict[str, Receipt] = field(default_factory=dict)
    vault: VaultWrites = field(default_factory=VaultWrites)
    prefetched: dict[str, Receipt | None] = field(default_factory=dict)

    def pending_count(self, aggregate: LedgerAggregate) -> int:
        """How many of the aggregate's pending events earlier commands of the batch staged."""
        earlier = self.aggregates.get(aggregate.id)
        return len(earlier.pending_events) if earlier is not None else 0

    def add(
        self, aggregates: Sequence[LedgerAggregate], events: Sequence[Any], receipt: Receipt
    ) -> None:
        self.aggregates.update({a.id: a for a in aggregates})
        self.events.extend(events)
        self.receipts[receipt.command_id] = receipt

    def receipt(self, command_id: str, digest: str) -> CommandResult | None:
        """A command id already staged in this batch: its result, or CommandIdReused."""
        stored = self.receipts.get(command_id)
        if stored is None:
            return None
        if stored.fingerprint != digest:
            raise CommandIdReused(
                f"command id {command_id!r} was already used for a different command"
            )
        return CommandResult.from_json(stored.result, repeated=True)


def _result_of(stored: Receipt | None, command_id: str, digest: str) -> CommandResult | None:
    """A stored receipt as the repeated command's result; a different command is refused."""
    if stored is None:
        return None
    if stored.fingerprint != digest:
        raise CommandIdReused(f"command id {command_id!r} was already used for a different command")
    return CommandResult.from_json(stored.result, repeated=True)


_BATCH: ContextVar[Batch | None] = ContextVar("lvyue_batch", default=None)


@dataclass(frozen=True)
class _NewStream:
    """A stream a running command creates (`LedgerCore.require_new`) and its refusal."""

    sid: UUID
    kind: str
    key: str
    refusal: str


_CREATING: ContextVar[list[_NewStream] | None] = ContextVar("lvyue_creating", default=None)


def _vault_kwargs(writes: VaultWrites, events: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """The recorder keyword for the command's vault changes; they never travel without an event."""
    if not writes:
        return {}
    if not events:
        raise ValueError("personal data must be saved with an event that refers to it")
    return {"vault": writes}


def require_staff_actor(ctx: CommandContext) -> None:
    """Rounds, fixes and notices are the work of staff, not of admin or system accounts."""
    if ctx.actor_kind != "staff":
        raise ActorNotActive(f"{ctx.actor_id!r} is not acting as staff")


def _validate_context(ctx: CommandContext) -> None:
    if ctx.actor_kind not in ACTOR_KINDS:
        raise InvalidValue(f"actor kind must be one of {', '.join(ACTOR_KINDS)}")
    if not ctx.actor_id or len(ctx.actor_id) > 100:
        raise InvalidValue("actor id must be 1–100 characters")
    if not ctx.command_id or len(ctx.command_id) > 200:
        raise InvalidValue("command id must be 1–200 characters")
    if ctx.request_digest is not None and not 0 < len(ctx.request_digest) <= 128:
        raise InvalidValue("request digest must be 1–128 characters")
    for name in ("occurred_at", "recorded_at"):
        moment = getattr(ctx, name)
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise InvalidValue(f"{name} must be a timezone-aware datetime")
    if ctx.occurred_at > ctx.recorded_at + MAX_CLOCK_SKEW:
        raise InvalidValue("occurred_at lies in the future of recorded_at")
    for digest in ctx.evidence:
        if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
            raise InvalidValue(f"evidence must be lowercase hex SHA-256 digests; got {digest!r}")
