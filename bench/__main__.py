"""`python -m bench`: run the figures, write bench/results/<timestamp>.json and docs/benchmarks.md.

Each figure family runs in its own child process (`--child NAME`), so its peak RSS is its own
and one family's leftovers never slow the next. Shared fixtures (the bulk-filled logs, the demo
database) live in one work directory for the whole run and are built by the first family that
needs them. The Markdown file is only rewritten by a full run of every figure (or when
`--markdown PATH` is given), so `--quick` and `--only` never overwrite the committed table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench import demo, http_api, reads, scale, verify, watcher, writes
from bench.harness import REGISTRY, Context, Figure, Mode, Spec, own_peak_rss_mb, unavailable
from bench.report import MARKDOWN, RESULTS_DIR, machine, markdown, table, write_json

ORDER = (
    "write_sqlite",
    "write_postgres",
    "sealing_overhead",
    "append_scale",
    "asof_replay",
    "verify_bundle",
    "demo",
    "projection_rebuild",
    "sla_watcher",
    "http_command",
)
FAMILIES = (demo, http_api, reads, scale, verify, watcher, writes)
"""The figure modules: importing them registers their figures in harness.REGISTRY."""


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (< 2 min)")
    parser.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="run only these (repeatable)"
    )
    parser.add_argument("--reps", type=int, default=None, help="override the repetitions")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="JSON output directory")
    parser.add_argument("--markdown", type=Path, default=None, help="write the table here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--list", action="store_true", help="list the figure names and exit")
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="JSON",
        help="only rewrite the Markdown table from an earlier results file",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="reuse this work directory (kept afterwards)"
    )
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _selected(only: Sequence[str]) -> list[Spec]:
    names = [n.strip() for item in only for n in item.split(",") if n.strip()]
    unknown = sorted(set(names) - REGISTRY.keys())
    if unknown:
        raise SystemExit(f"unknown figure {', '.join(unknown)}; known: {', '.join(ORDER)}")
    chosen = names or list(ORDER)
    return [REGISTRY[name] for name in ORDER if name in chosen]


# -- the child: one figure family -----------------------------------------------------------------


def _child(args: argparse.Namespace) -> int:
    spec = REGISTRY[args.child]
    ctx = Context(Mode(args.quick, args.reps), args.workdir)
    start = time.perf_counter()
    try:
        figures = list(spec.fn(ctx))
    except Exception as error:  # a broken family is reported as failed rows, not a crash
        traceback.print_exc()
        reason = f"failed: {type(error).__name__}: {error}".splitlines()[0][:300]
        figures = [
            unavailable(n, spec.name, spec.summary, None, "failed", reason) for n in spec.numbers
        ]
    seconds = time.perf_counter() - start
    peak = own_peak_rss_mb()
    for f in figures:
        f.seconds = seconds
        if f.peak_rss_mb is None and f.status == "measured":
            f.peak_rss_mb = peak
    args.out.write_text(json.dumps([f.to_json() for f in figures], ensure_ascii=False))
    return 0


def _run_family(spec: Spec, args: argparse.Namespace, workdir: Path) -> list[Figure]:
    out = workdir / f"{spec.name}.json"
    command = [sys.executable, "-m", "bench", "--child", spec.name, "--workdir", str(workdir)]
    command += ["--out", str(out)]
    if args.quick:
        command.append("--quick")
    if args.reps is not None:
        command += ["--reps", str(args.reps)]
    print(f"\n== {spec.name}: {spec.summary}", flush=True)
    start = time.perf_counter()
    code = subprocess.run(command, check=False).returncode
    print(f"== {spec.name} took {time.perf_counter() - start:.0f} s", flush=True)
    if code != 0 or not out.exists():
        why = f"the figure process exited with {code}"
        return [unavailable(n, spec.name, spec.summary, None, "failed", why) for n in spec.numbers]
    return [Figure.from_json(doc) for doc in json.loads(out.read_text())]


# -- the orchestrator ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    if args.list:
        for name in ORDER:
            spec = REGISTRY[name]
            print(f"{name:20} figures {', '.join(spec.numbers):10} {spec.summary}")
        return 0
    if args.child is not None:
        return _child(args)
    if args.render is not None:
        doc = json.loads(args.render.read_text(encoding="utf-8"))
        target = args.markdown or MARKDOWN
        target.write_text(markdown(doc, [Figure.from_json(f) for f in doc["figures"]]))
        print(f"table: {target}")
        return 0
    specs = _selected(args.only)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    keep = args.keep or args.workdir is not None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lvyue-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    info = machine()
    begin = time.perf_counter()
    figures: list[Figure] = []
    try:
        for spec in specs:
            figures.extend(_run_family(spec, args, workdir))
    finally:
        if keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    wall = time.perf_counter() - begin
    doc = {
        "started": started.isoformat(timespec="seconds"),
        "wall_seconds": round(wall, 1),
        "quick": args.quick,
        "only": [s.name for s in specs] if args.only else None,
        "command": ["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])],
        "machine": info,
        "load_average_end": list(os.getloadavg()),
        "figures": [f.to_json() for f in figures],
    }
    path = write_json(doc, args.results, stamp)
    print(f"\n{table(figures)}\n")
    print(f"results: {path}  (wall time {wall / 60:.1f} min)")
    target = args.markdown
    if target is None and not args.only and not args.quick:
        target = MARKDOWN
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(markdown(doc, figures), encoding="utf-8")
        print(f"table: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
