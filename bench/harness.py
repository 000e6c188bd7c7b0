"""The harness's vocabulary: figures, their runs, targets, modes, scratch space and PostgreSQL.

Every figure compares our code path with a baseline measured in the same run, because this
machine is shared and noisy: the variants of one repetition run back to back (their order
alternates between repetitions), each on a fresh database, and the figure reports the median
of the per-repetition ratios with their min–max.
"""

from __future__ import annotations

import gc
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

PG_URL = os.environ.get("LVYUE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

Op = Literal[">=", "<="]
Status = Literal["measured", "not measured yet", "skipped", "failed"]


@dataclass(frozen=True)
class Mode:
    """Sizes and repetitions: `full` is what `make bench` runs, `quick` is for development."""

    quick: bool
    reps_override: int | None = None

    def reps(self, full: int, quick: int = 2) -> int:
        if self.reps_override is not None:
            return self.reps_override
        return quick if self.quick else full

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full


@dataclass(frozen=True)
class Target:
    """A figure's target: `ratio op value` (e.g. ≥ 0.5)."""

    op: Op
    value: float
    text: str  # how the issue states it

    def met(self, ratio: float) -> bool:
        return ratio >= self.value if self.op == ">=" else ratio <= self.value

    def shortfall(self, ratio: float) -> str:
        """How far a missed ratio is from the target, in words."""
        if self.met(ratio):
            return ""
        if self.op == ">=":
            return f"missed: {ratio:.3g} vs ≥ {self.value:g}, {1 - ratio / self.value:.0%} short"
        return f"missed: {ratio:.3g} vs ≤ {self.value:g}, {ratio / self.value - 1:.0%} over"


@dataclass
class Run:
    """One repetition: our value, the baseline's, and their ratio."""

    ours: float
    baseline: float
    ratio: float


@dataclass
class Figure:
    """One row of the table (and one object of the JSON results)."""

    number: str
    name: str
    title: str
    ours_label: str
    baseline_label: str
    unit: str
    target: Target | None
    status: Status = "measured"
    runs: list[Run] = field(default_factory=list)
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    peak_rss_mb: float | None = None
    seconds: float | None = None
    absolute: bool = False  # no ratio: the "ratio" is the value itself (seconds, MB)

    @property
    def ratio(self) -> float | None:
        return statistics.median(r.ratio for r in self.runs) if self.runs else None

    @property
    def ours(self) -> float | None:
        return statistics.median(r.ours for r in self.runs) if self.runs else None

    @property
    def baseline(self) -> float | None:
        return statistics.median(r.baseline for r in self.runs) if self.runs else None

    @property
    def met(self) -> bool | None:
        ratio = self.ratio
        if self.target is None or ratio is None or self.status != "measured":
            return None
        return self.target.met(ratio)

    def to_json(self) -> dict[str, Any]:
        ratios = [r.ratio for r in self.runs]
        return {
            "number": self.number,
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "unit": self.unit,
            "ours_label": self.ours_label,
            "baseline_label": self.baseline_label,
            "ours": self.ours,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "ratio_min": min(ratios) if ratios else None,
            "ratio_max": max(ratios) if ratios else None,
            "repetitions": len(self.runs),
            "runs": [asdict(r) for r in self.runs],
            "target": None if self.target is None else asdict(self.target),
            "met": self.met,
            "shortfall": self.shortfall(),
            "note": self.note,
            "details": self.details,
            "peak_rss_mb": self.peak_rss_mb,
            "seconds": self.seconds,
            "absolute": self.absolute,
        }

    def shortfall(self) -> str:
        ratio = self.ratio
        if self.target is None or ratio is None or self.status != "measured":
            return ""
        return self.target.shortfall(ratio)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Figure:
        target = doc.get("target")
        return cls(
            number=doc["number"],
            name=doc["name"],
            title=doc["title"],
            ours_label=doc["ours_label"],
            baseline_label=doc["baseline_label"],
            unit=doc["unit"],
            target=None if target is None else Target(**target),
            status=doc["status"],
            runs=[Run(**r) for r in doc["runs"]],
            note=doc["note"],
            details=dict(doc["details"]),
            peak_rss_mb=doc.get("peak_rss_mb"),
            seconds=doc.get("seconds"),
            absolute=bool(doc.get("absolute", False)),
        )


# -- running variants ---------------------------------------------------------------------


Measure = Callable[[], float]


def interleaved(
    reps: int,
    ours: Measure,
    baseline: Measure,
    ratio: Callable[[float, float], float],
    log: Callable[[str], None] | None = None,
) -> list[Run]:
    """`reps` repetitions of both variants, order alternating (AB, BA, …), ratios per run."""
    runs = []
    for rep in range(reps):
        first, second = (ours, baseline) if rep % 2 == 0 else (baseline, ours)
        a = _settled(first)
        b = _settled(second)
        mine, theirs = (a, b) if rep % 2 == 0 else (b, a)
        runs.append(Run(mine, theirs, ratio(mine, theirs)))
        if log is not None:
            log(f"  run {rep + 1}/{reps}: ours {mine:,.4g}, baseline {theirs:,.4g}")
    return runs


def _settled(measure: Measure) -> float:
    """Measure with the garbage of the previous variant collected beforehand."""
    gc.collect()
    return measure()


def rate_ratio(ours: float, baseline: float) -> float:
    """For rates (higher is better): ours ÷ baseline."""
    return ours / baseline


def time_ratio(ours: float, baseline: float) -> float:
    """For durations (lower is better): ours ÷ baseline, so ≤ targets read directly."""
    return ours / baseline


def timed(fn: Callable[[], object]) -> float:
    """Seconds taken by `fn`."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def own_peak_rss_mb() -> float | None:
    """This process's peak RSS (VmHWM), in MB; None where /proc is not available."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def progress(message: str) -> None:
    print(message, flush=True)


# -- scratch space ------------------------------------------------------------------------


@contextmanager
def scratch(parent: Path, prefix: str) -> Iterator[Path]:
    """A fresh directory for one measurement's SQLite files, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        _remove_tree(path)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


# -- PostgreSQL ----------------------------------------------------------------------------


def pg_problem() -> str | None:
    """Why PostgreSQL cannot be used (None: it can)."""
    import psycopg

    try:
        with psycopg.connect(plain_pg_url(), connect_timeout=3):
            return None
    except psycopg.Error as error:
        return f"PostgreSQL not reachable at {PG_URL}: {str(error).strip()}"


def plain_pg_url() -> str:
    return PG_URL.replace("postgresql+psycopg", "postgresql")


def pg_version() -> str | None:
    import psycopg

    try:
        with psycopg.connect(plain_pg_url(), connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error:
        return None
    return None if row is None else str(row[0])


@contextmanager
def pg_schema(prefix: str = "bench") -> Iterator[str]:
    """A fresh schema for one measurement, dropped afterwards."""
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(plain_pg_url(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        with psycopg.connect(plain_pg_url(), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


# -- the registry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What a figure function gets: the mode, the run's shared work directory, a logger."""

    mode: Mode
    workdir: Path

    def log(self, message: str) -> None:
        progress(message)


FigureFn = Callable[[Context], Sequence[Figure]]


@dataclass(frozen=True)
class Spec:
    """A registered figure family: its name (for --only) and the rows it produces."""

    name: str
    numbers: tuple[str, ...]
    fn: FigureFn
    summary: str


REGISTRY: dict[str, Spec] = {}


def figure(name: str, numbers: tuple[str, ...], summary: str) -> Callable[[FigureFn], FigureFn]:
    """Register a figure function under `name`."""

    def register(fn: FigureFn) -> FigureFn:
        if name in REGISTRY:
            raise ValueError(f"figure {name} registered twice")
        REGISTRY[name] = Spec(name, numbers, fn, summary)
        return fn

    return register


def unavailable(
    number: str, name: str, title: str, target: Target | None, status: Status, why: str
) -> Figure:
    """A row that says why there is no number (never a fake one)."""
    return Figure(number, name, title, "", "", "", target, status=status, note=why)
