"""The 履约之星 ranking: domain.md's worked example, hand-computed scores, every tie-breaker in
order, gates (small samples, a disqualifying offence, a pending appeal), and publishing: the
ledger pins the formula and log position, and `--as-published` recomputes the same result after
more events were appended."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from ledger.errors import InvalidValue
from ledger.ledger import Ledger
from lvyue.cli import app as cli
from projections import kpi_queries
from projections.projector import Projector
from projections.ranking import (
    FORMULA_VERSION,
    Entry,
    Fact,
    Person,
    combine,
    compute,
    percentile_rank,
    published,
    rank_group,
    shrunk_rating,
    wilson_lower_bound,
)
from projections.views.kpis import ALL, KpiView
from tests.clock import T0, Clock
from tests.test_kpis import P, register, views_for, work, world

D = Decimal


# -- facts by hand -----------------------------------------------------------------------------


class Facts:
    """Builds `kpi_facts` rows for one quarter of property P1."""

    def __init__(self) -> None:
        self.rows: list[Fact] = []

    def add(self, person: str, metric: str, count: int = 1, *, ok: int | None = None,
            n: int = 1, value: int | None = None, wu_cmin: int = 0, status: str | None = None,
            serious: bool = False, capacity: str = "executor") -> Facts:  # fmt: skip
        """`count` facts; the first `ok` of them successes (all by default)."""
        successes = count if ok is None else ok
        for i in range(count):
            key = f"{metric}:{person}:{len(self.rows)}"
            self.rows.append(Fact(
                key, person, f"s-{key}", metric, capacity, P, T0, "2026-07", "2026Q3", n,
                n if i < successes else 0, value, wu_cmin, status, serious, None, (f"e-{key}",),
            ))  # fmt: skip
        return self

    def ratings(self, person: str, values: list[int]) -> Facts:
        """Ratings for the person, each with its whole (`*`) row for the project mean."""
        for value in values:
            self.add(person, "rating", value=value)
            self.add(ALL, "rating", value=value, capacity="all")
        return self


def technician(person: str) -> Person:
    return Person(person, "engineering", "technician", P, "ES", True)


# -- domain.md §4.3 worked example ---------------------------------------------------------------


def test_the_worked_example_term_by_term() -> None:
    """46 of 50 on time → Wilson LB ≈ 0.81; 30 ratings averaging 4.6 in a 4.3 project → r̃ =
    4.525; the 75th percentile; 2 penalty points and a praise letter → S ≈ 85.6."""
    ot = wilson_lower_bound(46, 50)
    r_tilde = shrunk_rating(30 * 46 // 10, 30, Fraction(43, 10))

    assert ot.quantize(D("0.01")) == D("0.81")
    assert abs(ot - D("0.8116")) < D("0.0001")
    assert r_tilde == Fraction(181, 40)  # 4.525
    assert (r_tilde - 1) / 4 == Fraction(141, 160)  # 0.88125 ≈ 0.881
    assert percentile_rank(Fraction(10), [Fraction(5), Fraction(10)]) == Fraction(3, 4)
    terms = {"OT": D("0.81"), "Q": D("0.96"), "R": D("0.88125"), "C": D("0.95"), "W": D("0.75")}
    assert combine(terms, 2, 1) == D("85.625")  # domain.md's 85.6, with OT rounded to 0.81
    exact = combine({**terms, "OT": ot}, 2, 1)
    assert published(exact) == D("85.67")  # the unrounded Wilson bound adds 0.05
    assert abs(exact - D("85.6")) < D("0.1")


def test_the_worked_example_through_the_ranking() -> None:
    facts = (
        Facts()
        .add("TA", "response", 50, ok=46)
        .add("TA", "task", 25, ok=24, wu_cmin=6_000)  # 1 of 25 reworked: 4%
        .ratings("TA", [5] * 18 + [4] * 12)  # 30 ratings, mean 4.6
        .ratings("TB", [4] * 30)  # the project mean becomes (138 + 120) / 60 = 4.3
        .add("TA", "round", 20, ok=19)  # PM compliance 0.95
        .add("TA", "penalty", value=2, status="confirmed")
        .add("TA", "reward", value=1)
        .add("TB", "task", 1, wu_cmin=6_000)
    )
    ranking = compute("2026Q3", [technician("TA"), technician("TB")], facts.rows, P)
    ta = next(e for e in ranking.entries if e.person_id == "TA")

    assert [t.value for t in ta.terms] == [
        wilson_lower_bound(46, 50), D("0.96"), D("0.88125"), D("0.95"), D("0.75")
    ]
    assert (ta.p, ta.b, ta.score, ta.band) == (2, 1, D("85.67"), "B")
    assert (ta.rank, ta.eligible, ta.provisional) == (1, True, False)
    assert ta.term("OT").event_ids[0] == "e-response:TA:0"
    assert [e.split(":")[0] for e in ta.penalty_event_ids] == ["e-penalty"]


# -- hand-computed scores, gates ----------------------------------------------------------------


def small_group() -> Facts:
    """A: 20/20 on time, 20 tasks none reworked, no ratings of their own, more work.
    B: 10/20 on time, 20 tasks 5 reworked, ten 5-star ratings, 3 penalty points, 7 rewards.
    The project mean is 4.0 (B's ten 5s and ten 3s from others). Nobody has compliance data."""
    return (
        Facts()
        .add("A", "resolution", 20)
        .add("A", "task", 20, wu_cmin=12_000)
        .add("B", "resolution", 20, ok=10)
        .add("B", "task", 20, ok=15, wu_cmin=6_000)
        .ratings("B", [5] * 10)
        .ratings("X", [3] * 10)
        .add("B", "penalty", value=3, status="confirmed")
        .add("B", "reward", 7, value=1)
    )


def test_hand_computed_scores_of_a_small_group() -> None:
    ranking = compute("2026Q3", [technician("A"), technician("B")], small_group().rows, P)
    a, b = ranking.entries

    # A: 100 × (0.30 × 20/23.8416 + 0.20 × 1 + 0.20 × 0.75 + 0.15 × 0.75) / 0.85 = 84.0189…
    #    (r̃ = 4.0 with no ratings; W = (1 + ½) / 2; C missing, so the weights sum to 0.85)
    assert abs((a.term("OT").value or 0) - D(20) / D("23.8416")) < D("1e-25")  # n / (n + z²)
    assert (a.term("R").value, a.term("C").value, a.term("W").value) == (D("0.75"), None, D("0.75"))
    assert (a.person_id, a.rank, a.score, a.band) == ("A", 1, D("84.02"), "B")
    # B: 100 × (0.30 × 0.29929… + 0.20 × 0.75 + 0.20 × 0.875 + 0.15 × 0.25) / 0.85 − 3 + 5
    #    (r̃ = (10 × 4 + 50) / 20 = 4.5; rewards capped at 5)
    assert (b.term("Q").value, b.term("R").value) == (D("0.75"), D("0.875"))
    assert (b.p, b.b, b.reward_points) == (3, 5, 7)
    assert (b.person_id, b.rank, b.score, b.band) == ("B", 2, D("55.21"), "D")
    assert ranking.peer_groups[0].threshold_wu == D(15)  # half the median of 40 and 20 WU


def test_small_samples_are_gated() -> None:
    facts = small_group().add("C", "task", 19, wu_cmin=18_000)  # 19 tasks, 57 WU
    people = [technician("A"), technician("B"), technician("C")]
    c = next(e for e in compute("2026Q3", people, facts.rows, P).entries if e.person_id == "C")

    gate = next(g for g in c.gates if g.name == "minimum_sample")
    assert (c.eligible, c.rank, gate.passed) == (False, None, False)
    assert "19 tasks executed" in gate.detail
    enough = facts.add("C", "task", 1, wu_cmin=6_000)  # the 20th task
    c = next(e for e in compute("2026Q3", people, enough.rows, P).entries if e.person_id == "C")
    assert (c.eligible, c.rank) == (True, 1)


def test_a_serious_violation_disqualifies_and_a_pending_appeal_makes_it_provisional() -> None:
    facts = (
        small_group()
        .add("A", "penalty", value=10, status="confirmed", serious=True)
        .add("B", "penalty", value=4, status="appealed")
    )
    ranking = compute("2026Q3", [technician("A"), technician("B")], facts.rows, P)
    a = next(e for e in ranking.entries if e.person_id == "A")
    b = next(e for e in ranking.entries if e.person_id == "B")

    assert [g.name for g in a.gates if g.passed is False] == ["no_serious_violation"]
    assert (a.eligible, a.rank, a.score) == (False, None, D("74.02"))  # still scored: 84.02 − 10
    assert (b.eligible, b.provisional, b.rank) == (True, True, 1)
    assert (b.score, b.pending_points, b.score_if_pending_upheld) == (D("55.21"), 4, D("51.21"))
    assert [e.person_id for e in ranking.entries] == ["B", "A"]  # ranked first, then the rest


def test_a_revoked_penalty_counts_nothing() -> None:
    facts = small_group().add("A", "penalty", value=0, status="revoked")
    a = compute("2026Q3", [technician("A"), technician("B")], facts.rows, P).entries[0]

    assert (a.person_id, a.p, a.provisional, a.score) == ("A", 0, False, D("84.02"))


# -- tie-breakers, in order ----------------------------------------------------------------------


def base_entry() -> Entry:
    return compute("2026Q3", [technician("A"), technician("B")], small_group().rows, P).entries[0]


def variant(
    person: str,
    *,
    ot: str = "0.90",
    score: str = "80.00",
    penalty_points: int = 0,
    rated_tasks: int = 5,
    work_cmin: int = 60_000,
) -> Entry:
    """An entry that differs from the others only where a test says so."""
    entry = base_entry()
    terms = tuple(replace(t, value=D(ot)) if t.name == "OT" else t for t in entry.terms)
    return replace(
        entry, person_id=person, terms=terms, score=D(score), penalty_points=penalty_points,
        rated_tasks=rated_tasks, work_cmin=work_cmin,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("first", "second", "breaker"),
    [
        (variant("Z", score="80.01"), variant("A", penalty_points=0), "higher score"),
        (variant("Z", penalty_points=1), variant("A", penalty_points=2), "fewer penalty points"),
        (variant("Z", ot="0.91"), variant("A", ot="0.90"), "higher OT lower bound"),
        (variant("Z", rated_tasks=6), variant("A", rated_tasks=5), "more rated tasks"),
        (variant("Z", work_cmin=60_001), variant("A"), "higher WU"),
        (variant("A"), variant("Z"), "person id (stand-in for the committee vote)"),
    ],
)
def test_ties_break_in_the_fixed_order(first: Entry, second: Entry, breaker: str) -> None:
    """Each pair ties on everything before its breaker and wins on it despite later ones."""
    if breaker == "fewer penalty points":
        second = replace(second, rated_tasks=99, work_cmin=10**9)
    ranked = rank_group([second, first])

    assert [e.person_id for e in ranked] == [first.person_id, second.person_id], breaker
    assert [e.rank for e in ranked] == [1, 2]


def test_a_tie_on_the_score_goes_to_fewer_penalty_points() -> None:
    """Same work, same terms: one has a penalty point offset by a reward point."""
    facts = (
        Facts()
        .add("M", "task", 20, wu_cmin=6_000)
        .add("N", "task", 20, wu_cmin=6_000)
        .add("M", "penalty", value=1, status="confirmed")
        .add("M", "reward", value=1)
    )
    m, n = compute("2026Q3", [technician("M"), technician("N")], facts.rows, P).entries[::-1]

    assert m.score == n.score
    assert [(e.person_id, e.rank) for e in (n, m)] == [("N", 1), ("M", 2)]


# -- the fixture through the view ---------------------------------------------------------------


@pytest.fixture
def views(ledger: Ledger) -> Iterator[Engine]:
    world(ledger, Clock())
    engine = views_for(ledger)
    Projector(ledger, engine, [KpiView()]).catch_up()
    yield engine
    engine.dispose()


def test_the_fixtures_ranking_gates_everyone_on_sample_size(views: Engine) -> None:
    ranking = kpi_queries.ranking(views, "2026Q3", P)
    by = {e.person_id: e for e in ranking.entries}

    assert ranking.formula_version == FORMULA_VERSION
    assert all(e.rank is None for e in ranking.entries)
    assert all(
        next(g for g in e.gates if g.name == "minimum_sample").passed is False
        for e in ranking.entries
    )
    assert not next(g for g in by["G1"].gates if g.name == "no_serious_violation").passed
    assert not next(g for g in by["T1"].gates if g.name == "no_pending_penalty").passed
    assert by["T2"].penalty_points == 3
    assert by["T1"].term("R").value == D("0.875")  # two ratings 4, 5 in a 4.5 project: r̃ = 4.5
    assert set(by) == {"PM", "PO", "ES", "SS", "DS", "T1", "T2", "G1"}
    with pytest.raises(InvalidValue, match="quarterly"):
        kpi_queries.ranking(views, "2026-07", P)


# -- publishing and recomputing ------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'lvyue.db'}"
    monkeypatch.setenv("LVYUE_DATABASE_URL", url)
    monkeypatch.setenv("LVYUE_OPERATOR", "HQ-PO")
    monkeypatch.setenv("COLUMNS", "200")
    app = Ledger(url)
    world(app, Clock())
    app.close()
    return url


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_as_published_equals_the_published_result_after_more_events(store: str) -> None:
    code, out = run("ranking", "--period", "2026Q3", "--property", P, "--publish")
    assert code == 0, out
    app = Ledger(store)
    record = kpi_queries.published(app, P, "2026Q3")
    assert record is not None
    assert (record.formula_version, record.actor_id) == (FORMULA_VERSION, "HQ-PO")
    # more happens in the quarter after publication: a task closed, a penalty confirmed
    clock = Clock(now=T0 + timedelta(days=8), prefix="later")
    register(app, clock, "R9", "repair", "normal")
    app.dispatch_task(clock.ctx("DS"), "R9", "T1", "T2")
    work(app, clock, "R9", "T2")
    app.sign_off_completion(clock.ctx("T1"), "R9")
    clock.advance(days=3)
    app.auto_close_task(clock.ctx("DS"), "R9", "owner silent 3 days", 3)
    app.close()

    code, out = run("ranking", "--period", "2026Q3", "--property", P, "--as-published")
    assert code == 0, out
    assert "一致 match" in out
    assert "DIFFER" not in out
    code, out = run("ranking", "--period", "2026Q3", "--property", P, "--json")
    now = json.loads(out)
    assert now["ranking"]["inputs_sha256"] != record.inputs_sha256  # today's differs
    assert now["ranking"]["log_position"] > record.log_position


def test_as_published_fails_when_the_record_does_not_match(store: str) -> None:
    app = Ledger(store)
    app.close_performance_period(
        Clock(now=T0 + timedelta(days=9), prefix="fake").admin(), P, "2026Q3", FORMULA_VERSION,
        50, "ab" * 32, ("T1:99.00:A",),
    )  # fmt: skip
    app.close()

    code, out = run("ranking", "--period", "2026Q3", "--property", P, "--as-published")
    assert code == 1
    assert "不一致 DIFFER" in out
    code, out = run("ranking", "--period", "2026Q3", "--property", P, "--publish")
    assert code == 1
    assert "--as-published" in out


def test_the_ranking_command_refuses_bad_usage(store: str) -> None:
    assert run("ranking", "--period", "2026Q3", "--publish")[0] == 2
    assert run("ranking", "--period", "2026Q3", "--property", P, "--as-published")[0] == 1
    assert run("ranking", "--period", "2026-13")[0] == 2
    assert run("ranking", "--period", "2026-07")[0] == 2  # monthly bands are not a ranking
    code, out = run("ranking", "--period", "2026Q3")
    assert code == 0
    assert "T1" in out
    assert "G1" in out


def test_the_kpi_command(store: str) -> None:
    code, out = run("kpi", "--person", "T1", "--period", "2026Q3", "--json")
    (t1,) = json.loads(out)["kpis"]

    assert code == 0
    assert (t1["tasks"], t1["rework"], t1["acceptance_rate"]) == ({"n": 2, "ok": 1}, 1, "0.6667")
    assert t1["sources"]["rating"]
    code, out = run("kpi", "--property", P)
    assert code == 0
    assert "2026-07" in out
    assert run("kpi", "--team", "ES", "--period", "2026Q3")[0] == 0
    assert run("kpi", "--person", "nobody")[0] == 1
    assert run("kpi", "--person", "T1", "--property", P)[0] == 2
