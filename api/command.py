"""One command over HTTP: authorize, build the context, act.

Routes describe the target (its properties, its stream) and the use-case call; this module is
the only place that turns a request into a `CommandContext`, so the actor is always the
authenticated principal and `recorded_at` is always the server clock. The views are not
caught up here: the next read does that (`api.freshness`), so a command pays only for itself.
Command routes are plain functions run by the process's `CommandWriter` (`CommandRoute`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import json
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar, get_args, get_origin, get_type_hints
from uuid import UUID

import sqlalchemy.exc
from eventsourcing.persistence import OperationalError
from fastapi import Response
from fastapi.routing import APIRoute

from api.idempotency import command_id, request_fingerprint
from api.policy import Guard, Principal
from api.problems import COMMAND_ERRORS, ApiProblem
from api.schemas import CommandBody, CommandOut, EventRef
from ledger.application import CommandResult
from ledger.envelope import CommandContext
from ledger.errors import ConcurrentModification
from ledger.ids import stream_id
from ledger.ledger import Ledger
from ledger.replay import parse_stream_ref
from ledger.store.sqlite import without_waiting

Call = Callable[[CommandContext], CommandResult]
T = TypeVar("T")


class CommandWriter:
    """Where a process runs its command routes: on the event loop when nothing can make it
    wait there, else on one command thread of their own.

    Commands take turns anyway (the store has one writer; `CommandCall.write_lock` queues
    them). On the embedded stores (`inline`: the process's write lock) a command whose turn
    it is runs on the event loop: the lock is only tried, never awaited, and its append never
    waits for another connection's write lock (`ledger.store.sqlite.without_waiting`); if
    either is held, the command goes to the command thread and waits there, as every command
    did before. With CPython's GIL a command's Python (most of its time) held the interpreter
    on any thread; what the loop gives up is the local fsync of its commit, and in exchange
    each command is spared two thread switches, which on a busy two-core server cost more
    than a bare endpoint's whole request. PostgreSQL commands (network round trips, the
    table lock) always take the thread. Either way FastAPI's own default for a plain `def`
    route is avoided: a hop to anyio's pool for the route and another to validate its
    response there.
    """

    def __init__(self, inline: threading.RLock | None = None) -> None:
        self.inline = inline
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def started(self) -> bool:
        """Whether a command has been handed to the command thread yet."""
        return self._thread is not None

    async def run(self, call: Callable[..., T], /, **kwargs: Any) -> T:
        """`call(**kwargs)` on the loop if it need not wait, else on the command thread."""
        if self.inline is not None and self.inline.acquire(blocking=False):
            try:
                with without_waiting():
                    return call(**kwargs)
            except (OperationalError, sqlalchemy.exc.OperationalError):
                pass  # another connection is writing: nothing was written, wait on the thread
            finally:
                self.inline.release()
        return await self.on_thread(call, **kwargs)

    async def on_thread(self, call: Callable[..., T], /, **kwargs: Any) -> T:
        """`call(**kwargs)` on the command thread, in a copy of the caller's context."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        work = functools.partial(contextvars.copy_context().run, call, **kwargs)
        with self._lock:
            if self._closed:
                raise RuntimeError("the command thread has stopped")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="lvyue-commands", daemon=True
                )
                self._thread.start()
            self._queue.put(_Work(loop, done, work))
        return await done

    def close(self) -> None:
        """Finish the commands already handed over, then stop the thread."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._queue.put(None)
        if thread is not None:
            thread.join()

    def _serve(self) -> None:
        while (work := self._queue.get()) is not None:
            try:
                outcome: tuple[Any, BaseException | None] = (work.call(), None)
            except BaseException as error:  # the request it belongs to raises it
                outcome = (None, error)
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody awaits the answer
                work.loop.call_soon_threadsafe(_settle, work.done, *outcome)


@dataclass(frozen=True)
class _Work:
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[Any]
    call: Callable[[], Any]


def _settle(done: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if done.cancelled():
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)


class CommandRoute(APIRoute):
    """The routes of the command routers: a plain `def` endpoint that takes a `CommandCall`
    is run by that call's `CommandWriter` (other endpoints are left as FastAPI runs them)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        name = _command_parameter(endpoint)
        if name is not None and not inspect.iscoroutinefunction(endpoint):
            endpoint = _run_by_writer(endpoint, name)
        super().__init__(path, endpoint, **kwargs)


def _command_parameter(endpoint: Callable[..., Any]) -> str | None:
    """The name of the endpoint's `CommandCall` parameter, if it has one."""
    for name, hint in get_type_hints(endpoint, include_extras=True).items():
        annotated = get_args(hint)[0] if get_origin(hint) is Annotated else hint
        if annotated is CommandCall and name != "return":
            return name
    return None


def _run_by_writer(endpoint: Callable[..., T], name: str) -> Callable[..., Any]:
    """An async endpoint with `endpoint`'s signature (FastAPI reads it through `__wrapped__`)
    that has the command's writer run `endpoint`; its response is then validated in place."""

    @functools.wraps(endpoint)
    async def run_by_writer(**kwargs: Any) -> T:
        command: CommandCall = kwargs[name]
        return await command.writer.run(endpoint, **kwargs)

    return run_by_writer


@dataclass(frozen=True)
class Target:
    """What a command acts on: the properties it touches, and its stream if it has one.

    `properties` None: the stream does not exist yet, so there is no scope to check (the
    ledger answers 404); an empty tuple: a company-wide target.
    """

    properties: tuple[str, ...] | None
    stream: tuple[str, str] | None = None

    @classmethod
    def new(cls, *properties: str | None) -> Target:
        """A target created by this command in the given properties (none: company-wide)."""
        return cls(tuple(p for p in properties if p is not None))


@dataclass(frozen=True)
class CommandCall:
    """The command side of one request (built by `api.deps.get_command`)."""

    ledger: Ledger
    guard: Guard
    clock: Callable[[], datetime]
    write_lock: threading.RLock
    writer: CommandWriter
    method: str
    path: str
    idempotency_key: str
    expected_version: int | None

    def existing(self, kind: str, key: str) -> Target:
        """The target stream `kind/key`, scoped by the property its latest event names."""
        return Target(self.properties_of(kind, key), (kind, key))

    def properties_of(self, kind: str, key: str) -> tuple[str, ...] | None:
        return stream_properties(self.ledger, kind, key)

    def run(
        self, action: str, target: Target, body: CommandBody, call: Call, response: Response
    ) -> CommandOut:
        """Authorize and execute `call`; 201 on first execution, 200 on an idempotent retry."""
        self.guard.require(action, target.properties, body.on_behalf_of)
        with self.write_lock:
            result = self._execute(target, body, call)

        response.status_code = 200 if result.repeated else 201
        return CommandOut(
            command_id=result.command_id,
            idempotency_key=self.idempotency_key,
            repeated=result.repeated,
            events=[EventRef(stream_id=s, version=v) for s, v in result.events],
        )

    def run_on(
        self,
        response: Response,
        action: str,
        stream: tuple[str, str],
        body: CommandBody,
        call: Call,
    ) -> CommandOut:
        """`run` on the existing stream `kind/key`, scoped by its latest event's property."""
        return self.run(action, self.existing(*stream), body, call, response)

    def _execute(self, target: Target, body: CommandBody, call: Call) -> CommandResult:
        """Run the use case under the key's command id, the whole request's digest with it.

        The ledger's receipt, written in the command's own transaction, is the idempotency
        record: a retry of the same request returns the first result, and the same key with a
        different request (path, body or envelope) is refused as `command_id_reused`.
        """
        self._check_expected_version(target)
        cid = command_id(self.guard.principal, self.idempotency_key)
        digest = request_fingerprint(self.method, self.path, body.model_dump(mode="json"))
        try:
            return call(self._context(cid, body, digest))
        except ConcurrentModification as error:
            if error.current_version is None:
                version = self._version(target.stream)
                raise ConcurrentModification(error.message, version) from error
            raise

    def _context(self, cid: str, body: CommandBody, digest: str) -> CommandContext:
        return principal_context(
            self.guard.principal,
            self.clock(),
            cid,
            occurred_at=body.occurred_at,
            on_behalf_of=body.on_behalf_of,
            causation_id=body.causation_id,
            correlation_id=body.correlation_id,
            evidence=tuple(body.evidence),
            request_digest=digest,
        )

    def _check_expected_version(self, target: Target) -> None:
        """`If-Match: "N"`: act only if the target stream is still at version N."""
        if self.expected_version is None:
            return
        current = self._version(target.stream)
        if current != self.expected_version:
            raise ApiProblem(
                409,
                "concurrent_modification",
                f"the record is at version {current}, not {self.expected_version}",
                current_version=current,
            )

    def _version(self, stream: tuple[str, str] | None) -> int:
        if stream is None:
            return 0
        stored = self.ledger.recorder.select_events(stream_id(*stream), desc=True, limit=1)
        return stored[0].originator_version if stored else 0


def principal_context(
    principal: Principal,
    now: datetime,
    command_id: str,
    occurred_at: datetime | None = None,
    **envelope: Any,
) -> CommandContext:
    """Every CommandContext the API builds: the actor is the authenticated principal and
    `recorded_at` the server clock, whatever else the request supplied (`envelope`)."""
    return CommandContext(
        actor_id=principal.principal_id,
        actor_kind=principal.kind,
        occurred_at=occurred_at or now,
        recorded_at=now,
        command_id=command_id,
        **envelope,
    )


def stream_properties(ledger: Ledger, kind: str, key: str) -> tuple[str, ...] | None:
    """The property of stream `kind/key` (an unknown kind is InvalidValue, a 422)."""
    return properties_of_stream(ledger, parse_stream_ref(f"{kind}/{key}"))


def properties_of_stream(ledger: Ledger, sid: UUID) -> tuple[str, ...] | None:
    """The property named by a stream's latest event: None if there is no such stream, an
    empty tuple if the stream belongs to no property (company-wide)."""
    stored = ledger.recorder.select_events(sid, desc=True, limit=1)
    if not stored:
        return None
    record: dict[str, Any] = json.loads(stored[0].state)
    prop = record.get("property_id")
    return (prop,) if isinstance(prop, str) else ()


def joined(*groups: Sequence[str] | None) -> tuple[str, ...] | None:
    """The union of several targets' properties (None only when every group is None)."""
    known = [g for g in groups if g is not None]
    if not known:
        return None
    return tuple(dict.fromkeys(p for g in known for p in g))


COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": CommandOut, "description": "a retry with the same key: the first result"},
    **COMMAND_ERRORS,
}
"""OpenAPI responses of every command route (201 is the route's own status)."""
