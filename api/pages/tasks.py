"""工单时间线 A task's timeline: its state at any version (the "as of" slider) and who did what.

Each slider position is a plain GET (`?version=N`), so the page works without JavaScript; the
state comes from replaying the task's stream (the same replay as `/api/replay/task/…`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Engine

from api.command import stream_properties
from api.deps import EngineDep, LedgerDep
from api.pages.access import PageProblem, ViewerDep
from api.pages.rendering import render
from api.schemas import KeyPath
from ledger.ledger import Ledger
from ledger.replay import replay
from projections import queries
from projections.queries import ChainLink

router = APIRouter(include_in_schema=False)
Version = Annotated[int | None, Query(ge=1, le=2**31)]
Search = Annotated[str, Query(min_length=1, max_length=100)]


@dataclass(frozen=True)
class Step:
    """One event of the task's own stream: one position of the slider."""

    version: int
    type: str
    actor_id: str
    actor_role: str
    on_behalf_of: str | None
    occurred_at: str
    recorded_at: str
    event_id: str

    @classmethod
    def of(cls, record: dict[str, Any]) -> Step:
        actor = record.get("actor") or {}
        return cls(
            version=int(record["stream_version"]),
            type=str(record["type"]),
            actor_id=str(actor.get("id", "")),
            actor_role=str(actor.get("role", "")),
            on_behalf_of=record.get("on_behalf_of"),
            occurred_at=str(record["occurred_at"]),
            recorded_at=str(record["recorded_at"]),
            event_id=str(record["event_id"]),
        )


@dataclass(frozen=True)
class Timeline:
    """The task at the chosen version, every step, and the chain links up to that moment."""

    task_no: str
    version: int
    latest: int
    state: dict[str, Any]
    steps: tuple[Step, ...]
    links: tuple[tuple[ChainLink, bool], ...]

    @property
    def step(self) -> Step:
        return self.steps[self.version - 1]


def _past(link: ChainLink, stream_id: str, step: Step) -> bool:
    """A link of the task's stream is past by version; an SLA link by its occurred time."""
    if link.stream_id == stream_id:
        return link.stream_version <= step.version
    return link.occurred_at <= datetime.fromisoformat(step.occurred_at)


def build(ledger: Ledger, engine: Engine, task_no: str, version: int | None) -> Timeline:
    ref = f"task/{task_no}"
    whole = replay(ledger, ref)
    chosen = whole.latest_version if version is None else min(version, whole.latest_version)
    at = whole if chosen == whole.latest_version else replay(ledger, ref, version=chosen)
    steps = tuple(Step.of(record) for record in whole.events)
    step = steps[chosen - 1]
    links = queries.task_chain(engine, task_no)
    return Timeline(
        task_no=task_no,
        version=chosen,
        latest=whole.latest_version,
        state=at.state,
        steps=steps,
        links=tuple((link, _past(link, whole.stream_id, step)) for link in links),
    )


@router.get("/tasks")
def find_task(no: Search) -> Response:
    return RedirectResponse(f"/tasks/{quote(no.strip(), safe='')}", status_code=303)


@router.get("/tasks/{task_no}")
def task_timeline(
    task_no: KeyPath,
    viewer: ViewerDep,
    ledger: LedgerDep,
    engine: EngineDep,
    version: Version = None,
) -> Response:
    properties = stream_properties(ledger, "task", task_no)
    if properties is None:
        raise PageProblem(404, "未找到 Not found", f"no task {task_no!r}", viewer)
    viewer.require("replay_stream", properties)
    return render("task.html", viewer=viewer, t=build(ledger, engine, task_no, version))
