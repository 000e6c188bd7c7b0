"""`lvyue ranking | kpi`: the 履约之星 quarterly ranking and the KPIs, on the command line.

Both catch the views up first. `ranking --publish` records the result as the property's
`PerformancePeriodClosed` (formula version, the KPI view's log position, the inputs' SHA-256 and
"person:score:band" per person) by the operator in `LVYUE_OPERATOR` (default "admin", actor kind
admin); `--as-published` recomputes the published ranking from the log up to its pinned position
and exits 1 unless the inputs digest and every score match. Exit codes: 0 ok, 1 nothing found,
refused or not matching, 2 usage or configuration error.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from ledger.envelope import CommandContext
from ledger.ledger import Ledger
from lvyue.projection_commands import ledger_and_views, refuse
from lvyue.settings import Settings
from projections import kpi_queries
from projections.ranking import FORMULA_VERSION, Entry, Kpis, Ranking

console = Console()


@contextmanager
def _caught_up() -> Iterator[tuple[Ledger, Engine]]:
    """The configured ledger and its views' engine, every view caught up; closed afterwards."""
    with ledger_and_views(Settings.from_env()) as (ledger, projector):
        yield ledger, projector.engine


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal | Fraction):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def _print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, default=_jsonable) + "\n")


# -- ranking -------------------------------------------------------------------------------------


def ranking(
    period: Annotated[str, typer.Option("--period", help="quarter, e.g. 2026Q3")],
    property_id: Annotated[str | None, typer.Option("--property", help="one property")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="full breakdown with event ids")] = False,
    publish: Annotated[
        bool, typer.Option("--publish", help="record it as the period's closure (需 --property)")
    ] = False,
    as_published: Annotated[
        bool, typer.Option("--as-published", help="recompute the published ranking and compare")
    ] = False,
) -> None:
    """The 履约之星 quarterly ranking (季度履约之星评选) with its breakdown and gates."""
    if publish and as_published:
        raise typer.BadParameter("give --publish or --as-published, not both")
    if (publish or as_published) and property_id is None:
        raise typer.BadParameter("a published ranking belongs to one property: add --property")
    with _caught_up() as (ledger, engine):
        if as_published:
            _check_published(ledger, period, str(property_id), as_json)
            return
        result = kpi_queries.ranking(engine, period, property_id)
        if publish:
            earlier = kpi_queries.published(ledger, str(property_id), period)
            if earlier is not None:
                refuse(f"已发布 {property_id} {period} was published at log position "
                      f"{earlier.log_position} (event {earlier.event_id}); check it with "
                      "--as-published")  # fmt: skip
            _publish(ledger, result)
    if as_json:
        _print_json({"ranking": result, "scores": result.scores()})
        return
    _print_ranking(result)


def _publish(ledger: Ledger, result: Ranking) -> None:
    """Record the ranking as the property's `PerformancePeriodClosed`."""
    assert result.property_id is not None
    now = datetime.now(UTC)
    operator = os.environ.get("LVYUE_OPERATOR", "admin")
    ctx = CommandContext(
        actor_id=operator,
        actor_kind="admin",
        occurred_at=now,
        recorded_at=now,
        command_id=f"ranking/{result.property_id}/{result.period}/{result.inputs_sha256[:16]}",
    )
    written = ledger.close_performance_period(
        ctx, result.property_id, result.period, result.formula_version, result.log_position,
        result.inputs_sha256, result.scores(),
    )  # fmt: skip
    Console(stderr=True).print(
        f"已发布 published (PerformancePeriodClosed, stream {written.events[0][0]}): "
        f"{result.property_id} {result.period} at log position {result.log_position}, "
        f"inputs sha256 {result.inputs_sha256}"
    )


def _check_published(ledger: Ledger, period: str, property_id: str, as_json: bool) -> None:
    """Recompute from the pinned log position; exit 1 unless it equals what was published."""
    found = kpi_queries.published(ledger, property_id, period)
    if found is None:
        refuse(f"未发布 no ranking of {property_id} {period} was published")
    if found.formula_version != FORMULA_VERSION:
        refuse(f"published with formula {found.formula_version}; this is "
              f"{FORMULA_VERSION} and cannot recompute it")  # fmt: skip
    again = kpi_queries.ranking_at(ledger, period, property_id, found.log_position)
    same_inputs = again.inputs_sha256 == found.inputs_sha256
    same_scores = again.scores() == found.scores
    if as_json:
        _print_json({"published": found, "recomputed": again, "scores": again.scores(),
                     "inputs_match": same_inputs, "scores_match": same_scores})  # fmt: skip
    else:
        _print_ranking(again)
        console.print(
            f"发布 published {found.recorded_at.isoformat()} by {found.actor_id} "
            f"(event {found.event_id}) at log position {found.log_position}\n"
            f"输入 inputs sha256 {'一致 match' if same_inputs else '不一致 DIFFER'}: "
            f"{again.inputs_sha256}\n"
            f"得分 scores {'一致 match' if same_scores else '不一致 DIFFER'}"
        )
    if not (same_inputs and same_scores):
        raise typer.Exit(1)


def _term(entry: Entry, name: str) -> str:
    value = entry.term(name).value
    return "—" if value is None else f"{value:.2f}"


GATE_CODES = {
    "no_serious_violation": "一票否决 serious",
    "workload": "工作量 workload",
    "minimum_sample": "样本 sample",
}


def _eligibility(entry: Entry) -> str:
    """✓ eligible, △ provisional (a penalty not yet final), ✗ and the gates that failed."""
    if entry.eligible:
        return "△ 暂定 provisional" if entry.provisional else "✓"
    failed = [GATE_CODES.get(g.name, g.name) for g in entry.gates if g.passed is False]
    return "✗ " + ", ".join(failed)


def _print_ranking(result: Ranking) -> None:
    scope = result.property_id or "全公司 company"
    table = Table(
        title=f"履约之星 performance star {result.period} — {scope} "
        f"({result.formula_version}, log position {result.log_position})",
        caption="OT 及时 on time · Q 质量 quality · R 业主评价 rating · C 合规 compliance · "
        "W 工作量 workload · P 扣分 penalty · B 奖励 bonus",
    )
    columns = ("名次\nrank", "人员\nperson", "岗位族\nfamily", "得分\nscore", "OT", "Q", "R",
               "C", "W", "P", "B", "工作量\nWU", "资格 eligible /\n未过 gates failed")  # fmt: skip
    for column in columns:
        numeric = column in ("OT", "Q", "R", "C", "W", "P", "B")
        table.add_column(column, justify="right" if numeric else "left")
    for entry in result.entries:
        table.add_row(
            str(entry.rank or "—"), entry.person_id, entry.job_family,
            f"{entry.score} {entry.band}", *(_term(entry, n) for n in ("OT", "Q", "R", "C", "W")),
            str(entry.p), str(entry.b), str(entry.work_units), _eligibility(entry),
        )  # fmt: skip
    console.print(table)
    console.print(f"输入 inputs sha256 {result.inputs_sha256}; 详情 details: --json")


# -- kpi -----------------------------------------------------------------------------------------


def kpi(
    person: Annotated[str | None, typer.Option("--person", help="person id")] = None,
    property_id: Annotated[str | None, typer.Option("--property", help="property id")] = None,
    team: Annotated[str | None, typer.Option("--team", help="supervisor's person id")] = None,
    period: Annotated[
        str | None, typer.Option("--period", help="2026-07 or 2026Q3 (default: every month)")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="with the event ids behind each KPI")
    ] = False,
) -> None:
    """KPIs (绩效指标) of a person, a team, a property, or every property, by period."""
    if sum(x is not None for x in (person, property_id, team)) > 1:
        raise typer.BadParameter("give at most one of --person, --property, --team")
    with _caught_up() as (_ledger, engine):
        if person is not None:
            rows = kpi_queries.person_kpis(engine, person, period)
        elif team is not None:
            rows = kpi_queries.team_kpis(engine, team, period)
        else:
            chosen = [property_id] if property_id else kpi_queries.properties(engine)
            rows = [k for p in chosen for k in kpi_queries.property_kpis(engine, p, period)]
    if not rows:
        refuse("没有指标 no KPI facts for that subject and period")
    if as_json:
        _print_json({"kpis": [_kpi_json(k) for k in rows]})
        return
    _print_kpis(rows)


def _kpi_json(k: Kpis) -> dict[str, Any]:
    rates = {
        "response_rate": k.response.rate,
        "resolution_rate": k.resolution.rate,
        "first_time_fix_rate": k.tasks.rate,
        "acceptance_rate": k.acceptance.rate,
        "rating_mean": k.rating_mean,
        "inspection_mean": k.inspection_mean,
        "checkpoint_compliance": k.checkpoints.rate,
        "capa_on_time_rate": k.capa.rate,
        "work_units": k.work_units,
        "rework": k.rework,
    }
    return {**dataclasses.asdict(k), **{name: _ratio(v) for name, v in rates.items()}}


def _ratio(value: Fraction | int | None) -> str | int | None:
    if value is None or isinstance(value, int):
        return value
    return f"{Decimal(value.numerator) / Decimal(value.denominator):.4f}"


def _pct(ok: int, n: int) -> str:
    return "—" if not n else f"{ok}/{n} {100 * ok / n:.1f}%"


def _hours(seconds: int | None) -> str:
    return "—" if seconds is None else f"{seconds / 3600:.1f}h"


def _mean(value: Fraction | None, digits: int = 2) -> str:
    return "—" if value is None else f"{float(value):.{digits}f}"


def _print_kpis(rows: Sequence[Kpis]) -> None:
    table = Table(title="绩效指标 KPIs (periods in Asia/Shanghai)")
    columns = ("主体 subject", "期间 period", "响应及时 response", "完成及时 resolution",
               "完成用时 P50/P90", "一次修复 first-time fix", "验收 accepted", "评分 rating",
               "检查分 inspection", "巡检到位 checkpoints", "整改按时 CAPA", "扣分 penalty",
               "奖励 reward", "工作量 WU")  # fmt: skip
    for column in columns:
        table.add_column(column)
    for k in rows:
        table.add_row(
            k.subject, k.period, _pct(k.response.ok, k.response.n),
            _pct(k.resolution.ok, k.resolution.n),
            f"{_hours(k.resolution_p50)}/{_hours(k.resolution_p90)}",
            _pct(k.tasks.ok, k.tasks.n), _pct(k.acceptance.ok, k.acceptance.n),
            f"{_mean(k.rating_mean)} ({k.rating_count})",
            f"{_mean(k.inspection_mean, 1)} ({k.inspection_count})",
            _pct(k.checkpoints.ok, k.checkpoints.n), _pct(k.capa.ok, k.capa.n),
            f"{k.penalty_points}" + (f" (+{k.penalties_pending} pending)" if k.penalties_pending
                                     else ""),
            str(k.reward_points), _mean(k.work_units, 1),
        )  # fmt: skip
    console.print(table)
    console.print("事件来源 event ids behind every number: --json")
