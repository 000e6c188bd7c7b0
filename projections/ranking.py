"""KPI arithmetic and the 履约之星 quarterly ranking (domain.md §4.1–4.3), as pure functions.

Input: the KPI view's fact rows (`Fact`) and staff (`Person`), read by `projections.kpi_queries`;
nothing here touches a database or a clock, so the same rows always give the same ranking,
byte for byte (`inputs_sha256` digests exactly those rows). Counts are integers, rates are
`Fraction`s, and the score is a `Decimal` computed at 34 digits (the Wilson bound needs a square
root); only the published score is rounded, to 0.01 (half up).

The method (formula version `lvyue-star/1`):
- Peer groups are job families; only active staff (in the property, when one is given) are
  ranked; a person's facts are their own rows (team and property totals use the `*` rows).
- S = 100 × (0.30·OT + 0.20·Q + 0.20·R + 0.15·C + 0.15·W) − P + B, where
  OT = Wilson lower bound (95%, z = 1.96) of on-time SLA clocks, response and resolution pooled;
  Q = 1 − rework rate for engineering; for other families the mean inspection score of the zones
      the person answered for / 100, else 1 − rework rate;
  R = (r̃ − 1) / 4, r̃ = (k·m + Σr) / (k + n), k = 10, m = mean rating of the person's property;
  C = per family: checkpoint compliance of their inspection plans (patrol for security, PM rounds
      for engineering) or CAPA closed by due — the family's first source with data, else the other;
  W = mid-rank percentile of work units in the peer group, (below + ½·equal) / N, capped at 0.90;
  P = confirmed (or reduced) penalty points, capped at 30; B = reward points, capped at 5.
  A term with no sample at all (no clocks, no closed tasks and no zones, no plan rounds and no
  CAPA, no ratings in the property) is left out and the other weights are rescaled to sum to 1;
  the breakdown names it. With every term present this is exactly the domain formula.
- Gates: no confirmed serious violation (`SERIOUS_MARKERS` of the view); WU ≥ half the peer
  group's median WU (members with work); sample ≥ 20 closed tasks executed or ≥ 60 WU; the
  quarterly exam is not evaluated (training events are R2). A penalty not yet final (proposed,
  notified, under appeal) makes the result provisional; the score with it upheld is shown too.
- Ties (equal published scores) break by: fewer penalty points, higher OT lower bound, more
  rated tasks, more WU, then person id — a deterministic stand-in for the committee's vote.
- Bands: A ≥ 90, B ≥ 80, C ≥ 70, else D.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from fractions import Fraction
from typing import Any

from projections.views.kpis import (
    ALL,
    CMIN_PER_WU,
    FINAL_PENALTY,
    WORK_STANDARD_VERSION,
)

FORMULA_VERSION = "lvyue-star/1"
WEIGHTS: dict[str, Decimal] = {
    "OT": Decimal("0.30"),
    "Q": Decimal("0.20"),
    "R": Decimal("0.20"),
    "C": Decimal("0.15"),
    "W": Decimal("0.15"),
}
Z_95 = Decimal("1.96")
SHRINK_K = 10
W_CAP = Fraction(9, 10)
P_CAP = 30
B_CAP = 5
MIN_TASKS = 20
MIN_WU = 60
WU_THRESHOLD_SHARE = Fraction(1, 2)
BANDS = ((Decimal(90), "A"), (Decimal(80), "B"), (Decimal(70), "C"))
COMPLIANCE: dict[str, tuple[str, str]] = {
    "security": ("round", "capa"),
    "engineering": ("round", "capa"),
    "cleaning": ("round", "capa"),
    "management": ("capa", "round"),
    "quality": ("capa", "round"),
    "customer_service": ("capa", "round"),
}
REWORK_QUALITY = ("engineering",)
SETTLED = (*FINAL_PENALTY, "revoked")
CENT = Decimal("0.01")
PRECISION = Context(prec=34)


# -- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """One row of `kpi_facts`: a fact attributed to one person (or `*`, the fact as a whole)."""

    fact_key: str
    person_id: str
    stream_id: str
    metric: str
    capacity: str
    property_id: str | None
    decided_at: datetime
    month: str
    quarter: str
    n: int
    ok: int
    value: int | None
    wu_cmin: int
    status: str | None
    serious: bool
    detail: str | None
    event_ids: tuple[str, ...]


@dataclass(frozen=True)
class Person:
    """One staff member as the KPI view knows them (latest position)."""

    person_id: str
    job_family: str
    position: str | None
    property_id: str | None
    supervisor_id: str | None
    active: bool


# -- KPI summaries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    """`ok` successes of `n` trials (rates are exact fractions; None without trials)."""

    n: int = 0
    ok: int = 0

    @property
    def rate(self) -> Fraction | None:
        return Fraction(self.ok, self.n) if self.n else None

    def __add__(self, other: Count) -> Count:
        return Count(self.n + other.n, self.ok + other.ok)


@dataclass(frozen=True)
class Kpis:
    """domain.md §4.1 for one person, team or property over one period, with its sources."""

    subject: str
    period: str
    response: Count
    resolution: Count
    response_p50: int | None
    response_p90: int | None
    resolution_p50: int | None
    resolution_p90: int | None
    tasks: Count
    acceptance: Count
    rating_sum: int
    rating_count: int
    inspection_sum: int
    inspection_count: int
    rounds: Count
    checkpoints: Count
    capa: Count
    findings: int
    finding_points: int
    penalty_points: int
    penalties_pending: int
    serious_violations: int
    reward_points: int
    wu_cmin: int
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def rework(self) -> int:
        return self.tasks.n - self.tasks.ok

    @property
    def work_units(self) -> Fraction:
        return Fraction(self.wu_cmin, CMIN_PER_WU)

    @property
    def rating_mean(self) -> Fraction | None:
        return Fraction(self.rating_sum, self.rating_count) if self.rating_count else None

    @property
    def inspection_mean(self) -> Fraction | None:
        if not self.inspection_count:
            return None
        return Fraction(self.inspection_sum, self.inspection_count)


def nearest_rank(samples: Sequence[int], share: Fraction) -> int | None:
    """The nearest-rank percentile (an observed value, so exact): the ⌈share·n⌉-th smallest."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, -(-share.numerator * len(ordered) // share.denominator))
    return ordered[rank - 1]


def count(facts: Iterable[Fact], metric: str) -> Count:
    return sum((Count(f.n, f.ok) for f in facts if f.metric == metric), Count())


def sources(facts: Iterable[Fact]) -> dict[str, tuple[str, ...]]:
    """Metric → the event ids behind it, in first-seen order."""
    found: dict[str, dict[str, None]] = {}
    for fact in facts:
        found.setdefault(fact.metric, {}).update(dict.fromkeys(fact.event_ids))
    return {metric: tuple(ids) for metric, ids in sorted(found.items())}


def summarize(subject: str, period: str, facts: Sequence[Fact]) -> Kpis:
    """The KPIs of one subject's rows (one person's, a team's merged, or a property's `*`)."""

    def of(metric: str) -> list[Fact]:
        return [f for f in facts if f.metric == metric]

    def elapsed(metric: str) -> list[int]:
        return [f.value for f in of(metric) if f.value is not None and f.status != "breached"]

    penalties = of("penalty")
    final = [f for f in penalties if f.status in FINAL_PENALTY]
    rounds = of("round")
    return Kpis(
        subject=subject,
        period=period,
        response=count(facts, "response"),
        resolution=count(facts, "resolution"),
        response_p50=nearest_rank(elapsed("response"), Fraction(1, 2)),
        response_p90=nearest_rank(elapsed("response"), Fraction(9, 10)),
        resolution_p50=nearest_rank(elapsed("resolution"), Fraction(1, 2)),
        resolution_p90=nearest_rank(elapsed("resolution"), Fraction(9, 10)),
        tasks=count(facts, "task"),
        acceptance=count(facts, "acceptance"),
        rating_sum=sum(f.value or 0 for f in of("rating")),
        rating_count=len(of("rating")),
        inspection_sum=sum(f.value or 0 for f in of("zone")),
        inspection_count=len(of("zone")),
        rounds=Count(len(rounds), sum(1 for f in rounds if f.status == "completed")),
        checkpoints=count(facts, "round"),
        capa=count(facts, "capa"),
        findings=len(of("finding")),
        finding_points=sum(f.value or 0 for f in of("finding")),
        penalty_points=sum(f.value or 0 for f in final),
        penalties_pending=sum(1 for f in penalties if f.status not in SETTLED),
        serious_violations=sum(1 for f in final if f.serious),
        reward_points=sum(f.value or 0 for f in of("reward")),
        wu_cmin=sum(f.wu_cmin for f in facts),
        sources=sources(facts),
    )


def merge_team(facts: Iterable[Fact]) -> list[Fact]:
    """A team's rows, one per fact: trials once, a failure if any member failed, work summed."""
    merged: dict[str, Fact] = {}
    for fact in sorted(facts, key=lambda f: (f.fact_key, f.person_id)):
        seen = merged.get(fact.fact_key)
        if seen is None:
            merged[fact.fact_key] = replace(fact, person_id=ALL, capacity="team")
            continue
        merged[fact.fact_key] = replace(
            seen,
            n=max(seen.n, fact.n),
            ok=min(seen.ok, fact.ok),
            wu_cmin=seen.wu_cmin + fact.wu_cmin,
            event_ids=tuple(dict.fromkeys(seen.event_ids + fact.event_ids)),
        )
    return list(merged.values())


# -- the score's terms -------------------------------------------------------------------------


def wilson_lower_bound(ok: int, n: int, z: Decimal = Z_95) -> Decimal:
    """The lower bound of the Wilson score interval for ok/n (0 without trials)."""
    if n <= 0:
        return Decimal(0)
    with localcontext(PRECISION):
        trials = Decimal(n)
        p = Decimal(ok) / trials
        z2 = z * z
        centre = p + z2 / (2 * trials)
        margin = z * ((p * (1 - p) + z2 / (4 * trials)) / trials).sqrt()
        return (centre - margin) / (1 + z2 / trials)


def shrunk_rating(total: int, n: int, mean: Fraction, k: int = SHRINK_K) -> Fraction:
    """r̃ = (k·m + Σr) / (k + n): few ratings stay near the project mean."""
    return (k * mean + total) / (k + n)


def percentile_rank(value: Fraction, group: Sequence[Fraction]) -> Fraction:
    """Mid-rank percentile of `value` among `group` (which includes it): (below + ½·equal) / N."""
    below = sum(1 for other in group if other < value)
    equal = sum(1 for other in group if other == value)
    return (below + Fraction(equal, 2)) / len(group)


def median(values: Sequence[Fraction]) -> Fraction:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def decimal(value: Fraction) -> Decimal:
    with localcontext(PRECISION):
        return Decimal(value.numerator) / Decimal(value.denominator)


def combine(terms: Mapping[str, Decimal | None], penalty: int, bonus: int) -> Decimal:
    """S = 100 × Σ wᵢ·xᵢ / Σ wᵢ (over the terms present) − P + B; unrounded."""
    present = {name: value for name, value in terms.items() if value is not None}
    with localcontext(PRECISION):
        weight = sum((WEIGHTS[name] for name in present), Decimal(0))
        if weight == 0:
            return Decimal(bonus - penalty)
        weighted = sum((WEIGHTS[name] * value for name, value in present.items()), Decimal(0))
        return 100 * weighted / weight - penalty + bonus


def published(score: Decimal) -> Decimal:
    """The score as published and compared: 0.01, half up."""
    return score.quantize(CENT, rounding=ROUND_HALF_UP)


def band(score: Decimal) -> str:
    return next((name for floor, name in BANDS if score >= floor), "D")


# -- the ranking ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One score component: its value (None: no sample), weight, how it was got, its events."""

    name: str
    value: Decimal | None
    weight: Decimal
    basis: str
    event_ids: tuple[str, ...]


@dataclass(frozen=True)
class Gate:
    """One eligibility gate: passed, failed, or not evaluated (None)."""

    name: str
    passed: bool | None
    detail: str


@dataclass(frozen=True)
class Entry:
    """One person's result within their peer group."""

    person_id: str
    job_family: str
    position: str | None
    property_id: str | None
    rank: int | None
    score: Decimal
    band: str
    eligible: bool
    provisional: bool
    gates: tuple[Gate, ...]
    terms: tuple[Term, ...]
    penalty_points: int
    p: int
    penalty_event_ids: tuple[str, ...]
    pending_points: int
    score_if_pending_upheld: Decimal
    reward_points: int
    b: int
    reward_event_ids: tuple[str, ...]
    work_units: Decimal
    work_cmin: int
    tasks_executed: int
    rated_tasks: int
    exact_score: Decimal

    def term(self, name: str) -> Term:
        return next(t for t in self.terms if t.name == name)


@dataclass(frozen=True)
class ProjectMean:
    """m of the rating shrinkage for one property: mean of its ratings in the period."""

    property_id: str
    mean: Fraction | None
    ratings: int
    event_ids: tuple[str, ...]


@dataclass(frozen=True)
class PeerGroup:
    """A job family's members and its workload threshold."""

    job_family: str
    members: tuple[str, ...]
    median_wu: Decimal
    threshold_wu: Decimal


@dataclass(frozen=True)
class Ranking:
    """The quarter's ranking, reproducible from `log_position` (`inputs_sha256` pins the rows)."""

    formula_version: str
    work_standard_version: str
    period: str
    property_id: str | None
    log_position: int
    inputs_sha256: str
    project_means: tuple[ProjectMean, ...]
    peer_groups: tuple[PeerGroup, ...]
    entries: tuple[Entry, ...]

    def scores(self) -> tuple[str, ...]:
        """Each person's `person:score:band`, as `PerformancePeriodClosed` records them."""
        ordered = sorted(self.entries, key=lambda e: e.person_id)
        return tuple(f"{e.person_id}:{e.score}:{e.band}" for e in ordered)


def compute(
    period: str,
    people: Sequence[Person],
    facts: Sequence[Fact],
    property_id: str | None = None,
    log_position: int = 0,
) -> Ranking:
    """Rank the active staff (of `property_id`, or all) on the period's facts."""
    ranked = sorted(
        (p for p in people if p.active and p.job_family
         and (property_id is None or p.property_id == property_id)),
        key=lambda p: p.person_id,
    )  # fmt: skip
    own: dict[str, list[Fact]] = {}
    for fact in facts:
        own.setdefault(fact.person_id, []).append(fact)
    means = project_means(facts)
    work = {p.person_id: Fraction(sum(f.wu_cmin for f in own.get(p.person_id, ())), CMIN_PER_WU)
            for p in ranked}  # fmt: skip
    groups = peer_groups(ranked, work)
    entries = []
    for group in groups:
        members = [p for p in ranked if p.job_family == group.job_family]
        scored = [_entry(p, own.get(p.person_id, []), means, group, work) for p in members]
        entries += rank_group(scored)
    return Ranking(
        formula_version=FORMULA_VERSION,
        work_standard_version=WORK_STANDARD_VERSION,
        period=period,
        property_id=property_id,
        log_position=log_position,
        inputs_sha256=inputs_digest(period, property_id, ranked, facts),
        project_means=tuple(means.values()),
        peer_groups=tuple(groups),
        entries=tuple(entries),
    )


def project_means(facts: Iterable[Fact]) -> dict[str, ProjectMean]:
    """m per property, from the whole (`*`) rating rows."""
    ratings: dict[str, list[Fact]] = {}
    for fact in facts:
        if fact.metric == "rating" and fact.person_id == ALL:
            ratings.setdefault(fact.property_id or "", []).append(fact)
    means = {}
    for prop, rows in sorted(ratings.items()):
        total = sum(f.value or 0 for f in rows)
        ids = tuple(dict.fromkeys(e for f in rows for e in f.event_ids))
        means[prop] = ProjectMean(prop, Fraction(total, len(rows)), len(rows), ids)
    return means


def peer_groups(people: Sequence[Person], work: dict[str, Fraction]) -> list[PeerGroup]:
    groups = []
    for family in sorted({p.job_family for p in people}):
        members = tuple(p.person_id for p in people if p.job_family == family)
        busy = [work[m] for m in members if work[m] > 0]
        middle = median(busy) if busy else Fraction(0)
        threshold = middle * WU_THRESHOLD_SHARE
        groups.append(PeerGroup(family, members, decimal(middle), decimal(threshold)))
    return groups


def _ids(facts: Iterable[Fact]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(e for f in facts for e in f.event_ids))


def _of(facts: Sequence[Fact], *metrics: str) -> list[Fact]:
    return [f for f in facts if f.metric in metrics]


def on_time_term(facts: Sequence[Fact]) -> Term:
    clocks = _of(facts, "response", "resolution")
    trials = count(clocks, "response") + count(clocks, "resolution")
    value = wilson_lower_bound(trials.ok, trials.n) if trials.n else None
    basis = f"{trials.ok}/{trials.n} clocks on time; Wilson 95% lower bound"
    return Term("OT", value, WEIGHTS["OT"], basis, _ids(clocks))


def quality_term(family: str, facts: Sequence[Fact]) -> Term:
    tasks, zones = _of(facts, "task"), _of(facts, "zone")
    if zones and family not in REWORK_QUALITY:
        total = sum(f.value or 0 for f in zones)
        value = Fraction(total, 100 * len(zones))
        basis = f"mean inspection score of own zones {decimal(value * 100):.2f} over {len(zones)}"
        return Term("Q", decimal(value), WEIGHTS["Q"], basis, _ids(zones))
    done = count(tasks, "task")
    if not done.n:
        return Term("Q", None, WEIGHTS["Q"], "no closed tasks and no zone inspections", ())
    rate = done.rate or Fraction(0)
    basis = f"1 − rework rate: {done.n - done.ok} reworked of {done.n} closed tasks"
    return Term("Q", decimal(rate), WEIGHTS["Q"], basis, _ids(tasks))


def rating_term(person: Person, facts: Sequence[Fact], means: dict[str, ProjectMean]) -> Term:
    ratings = _of(facts, "rating")
    mean = means.get(person.property_id or "")
    if mean is None or mean.mean is None:
        return Term("R", None, WEIGHTS["R"], "no owner ratings in the property", _ids(ratings))
    total = sum(f.value or 0 for f in ratings)
    shrunk = shrunk_rating(total, len(ratings), mean.mean)
    basis = (f"r̃ = ({SHRINK_K}·{decimal(mean.mean):.4f} + {total}) / ({SHRINK_K} + "
             f"{len(ratings)}) = {decimal(shrunk):.4f}")  # fmt: skip
    return Term("R", decimal((shrunk - 1) / 4), WEIGHTS["R"], basis, _ids(ratings))


def compliance_term(family: str, facts: Sequence[Fact]) -> Term:
    order = COMPLIANCE.get(family, ("round", "capa"))
    for metric in order:
        rows = _of(facts, metric)
        done = count(rows, metric)
        if done.n:
            what = "checkpoints visited in window" if metric == "round" else "CAPA closed by due"
            basis = f"{done.ok}/{done.n} {what}"
            return Term("C", decimal(done.rate or Fraction(0)), WEIGHTS["C"], basis, _ids(rows))
    return Term("C", None, WEIGHTS["C"], "no plan rounds and no corrective actions", ())


def workload_term(person_id: str, group: PeerGroup, work: dict[str, Fraction],
                  facts: Sequence[Fact]) -> Term:  # fmt: skip
    mine = work[person_id]
    rank = percentile_rank(mine, [work[m] for m in group.members])
    value = min(rank, W_CAP)
    basis = f"{decimal(mine):.2f} WU, percentile {decimal(rank):.4f} of {len(group.members)}"
    basis += " (capped at 0.90)" if rank > W_CAP else ""
    return Term("W", decimal(value), WEIGHTS["W"], basis, _ids(f for f in facts if f.wu_cmin))


def _gates(facts: Sequence[Fact], group: PeerGroup, wu: Fraction) -> tuple[Gate, ...]:
    penalties = _of(facts, "penalty")
    serious = [f for f in penalties if f.serious and f.status in FINAL_PENALTY]
    executed = sum(1 for f in _of(facts, "task") if "executor" in f.capacity)
    pending = [f for f in penalties if f.status not in SETTLED]
    wu_d = decimal(wu)
    return (
        Gate("no_serious_violation", not serious,
             ", ".join(f.fact_key for f in serious) or "none confirmed"),
        Gate("workload", wu_d >= group.threshold_wu,
             f"{wu_d:.2f} WU vs peer threshold {group.threshold_wu:.2f}"),
        Gate("minimum_sample", executed >= MIN_TASKS or wu >= MIN_WU,
             f"{executed} tasks executed (≥ {MIN_TASKS}) or {wu_d:.2f} WU (≥ {MIN_WU})"),
        Gate("exam", None, "quarterly exam not evaluated: training events are R2"),
        Gate("no_pending_penalty", not pending,
             ", ".join(f.fact_key for f in pending) or "none pending"),
    )  # fmt: skip


def _entry(
    person: Person,
    facts: Sequence[Fact],
    means: dict[str, ProjectMean],
    group: PeerGroup,
    work: dict[str, Fraction],
) -> Entry:
    family = person.job_family
    terms = (
        on_time_term(facts),
        quality_term(family, facts),
        rating_term(person, facts, means),
        compliance_term(family, facts),
        workload_term(person.person_id, group, work, facts),
    )
    penalties = [f for f in _of(facts, "penalty") if f.status in FINAL_PENALTY]
    pending = [f for f in _of(facts, "penalty") if f.status not in SETTLED]
    rewards = _of(facts, "reward")
    points = sum(f.value or 0 for f in penalties)
    pending_points = sum(f.value or 0 for f in pending)
    reward_points = sum(f.value or 0 for f in rewards)
    p, b = min(points, P_CAP), min(reward_points, B_CAP)
    values = {t.name: t.value for t in terms}
    exact = combine(values, p, b)
    with_pending = combine(values, min(points + pending_points, P_CAP), b)
    gates = _gates(facts, group, work[person.person_id])
    eligible = all(g.passed is not False for g in gates if g.name != "no_pending_penalty")
    score = published(exact)
    return Entry(
        person_id=person.person_id,
        job_family=family,
        position=person.position,
        property_id=person.property_id,
        rank=None,
        score=score,
        band=band(score),
        eligible=eligible,
        provisional=eligible and bool(pending),
        gates=gates,
        terms=terms,
        penalty_points=points,
        p=p,
        penalty_event_ids=_ids(penalties),
        pending_points=pending_points,
        score_if_pending_upheld=published(with_pending),
        reward_points=reward_points,
        b=b,
        reward_event_ids=_ids(rewards),
        work_units=published(decimal(work[person.person_id])),
        work_cmin=sum(f.wu_cmin for f in facts),
        tasks_executed=sum(1 for f in _of(facts, "task") if "executor" in f.capacity),
        rated_tasks=len(_of(facts, "rating")),
        exact_score=exact,
    )


def tie_key(entry: Entry) -> tuple[Any, ...]:
    """Higher score, then the fixed tie-breakers of domain.md §4.3, then the person id."""
    ot = entry.term("OT").value
    return (
        -entry.score,
        entry.penalty_points,
        -(ot if ot is not None else Decimal(-1)),
        -entry.rated_tasks,
        -entry.work_cmin,
        entry.person_id,
    )


def rank_group(entries: Sequence[Entry]) -> list[Entry]:
    """Eligible people ranked 1… by `tie_key`; the ineligible follow, unranked."""
    eligible = sorted((e for e in entries if e.eligible), key=tie_key)
    others = sorted((e for e in entries if not e.eligible), key=tie_key)
    ranked = [_with_rank(e, n) for n, e in enumerate(eligible, 1)]
    return ranked + others


def _with_rank(entry: Entry, rank: int) -> Entry:
    return replace(entry, rank=rank)


# -- reproducibility ----------------------------------------------------------------------------


def inputs_digest(
    period: str, property_id: str | None, people: Sequence[Person], facts: Sequence[Fact]
) -> str:
    """SHA-256 of the canonical JSON of everything the ranking read (sorted rows)."""
    payload = {
        "formula_version": FORMULA_VERSION,
        "work_standard_version": WORK_STANDARD_VERSION,
        "period": period,
        "property_id": property_id,
        "people": [asdict(p) for p in sorted(people, key=lambda p: p.person_id)],
        "fact_fields": [f.name for f in fields(Fact)],
        "facts": [_fact_json(f) for f in sorted(facts, key=lambda f: (f.fact_key, f.person_id))],
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _fact_json(fact: Fact) -> list[Any]:
    """A fact as a list in `Fact` field order (faster to build than a dict per row)."""
    return [
        fact.fact_key, fact.person_id, fact.stream_id, fact.metric, fact.capacity,
        fact.property_id, fact.decided_at.isoformat(), fact.month, fact.quarter, fact.n,
        fact.ok, fact.value, fact.wu_cmin, fact.status, fact.serious, fact.detail,
        list(fact.event_ids),
    ]  # fmt: skip
