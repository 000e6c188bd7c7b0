"""Figure 7: offline verification of a 1M-event bundle against a read + parse + SHA-256 loop.

The bundle is written straight from the sealed 1M log (every record with its `seq` and
`prev_hash`, the stored leaf hashes, a checkpoint signed by `ledger.trail.sign_checkpoint`, and
the manifest of AUDIT-BUNDLE.md), because `projections.bundle.export_bundle` also audits the
whole log and writes the CSV and OCEL files, which would take minutes at this size; its rate is
measured on the small log instead and reported in the details. Only `events.jsonl`,
`checkpoint` and `manifest.json` are in the bundle, which is what the verifier checks anyway.

Both the verifier (`python -m lvyue_verify BUNDLE`, importing nothing of the write side) and
the baseline loop run in their own child processes: wall time and peak RSS (wait4) each.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import (
    Context,
    Figure,
    Run,
    Target,
    figure,
    interleaved,
    rate_ratio,
    sqlite_url,
)
from bench.scale import log_sizes
from bench.workload import LogInfo, ensure_log, open_ledger, run_python, sealed_log
from ledger.checkpoint import SigningKey
from ledger.trail import SealedLog, read_checkpoint, sign_checkpoint
from projections.bundle import export_bundle

ORIGIN = "bench.lvyue/ledger"
PAGE = 5000
MEMORY_LIMIT_MB = 200.0
BASELINE_LOOP = """
import hashlib, json, sys
with open(sys.argv[1], "rb") as handle:
    for line in handle:
        json.loads(line)
        hashlib.sha256(line).digest()
"""


def _dumps(record: dict[str, object]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def build_bundle(info: LogInfo, home: Path) -> tuple[Path, int]:
    """Write the bundle of the whole log into `home/bundle`; returns (directory, events)."""
    bundle = home / "bundle"
    if (bundle / "manifest.json").exists():
        return bundle, json.loads((bundle / "manifest.json").read_text())["tree_size"]
    bundle.mkdir(parents=True, exist_ok=True)
    app = open_ledger(sqlite_url(info.db))
    try:
        log = sealed_log(app)
        key = SigningKey.load_or_create(home / "signing.key", ORIGIN, lambda: os.urandom(32))
        note = sign_checkpoint(log, key, ORIGIN)
        signed = read_checkpoint(note, key)
        size = _write_events(log, bundle / "events.jsonl", signed.size)
    finally:
        app.close()
    (bundle / "checkpoint").write_text(note, encoding="utf-8")
    files = {name: _digest(bundle / name) for name in ("checkpoint", "events.jsonl")}
    manifest = {
        "format": "lvyue-audit-bundle/1",
        "origin": signed.origin,
        "tree_size": signed.size,
        "root_hash": signed.root.hex(),
        "verifier_key": key.verifier_key_text(),
        "scope": {
            "property": None,
            "period": None,
            "created_at": datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
            "display_zone": "Asia/Shanghai",
            "events_in_scope": size,
            "events_redacted": 0,
            "since_tree_size": None,
        },
        "files": files,
    }
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return bundle, size


def _write_events(log: SealedLog, path: Path, size: int) -> int:
    """Every sealed event with its seq and prev_hash, in seq order (leaves from the store)."""
    last: dict[str, str] = {}
    written = 0
    after_event, after_seq = 0, 0
    with path.open("wb") as out:
        while written < size:
            events = log.iter_events(after_event, PAGE)
            leaves = log.iter_leaves(after_seq, len(events))
            if not events or len(leaves) != len(events):
                raise RuntimeError("events and leaves do not line up")
            for event, leaf in zip(events, leaves, strict=True):
                if (leaf.originator_id, leaf.originator_version) != (
                    event.originator_id,
                    event.originator_version,
                ):
                    raise RuntimeError(f"leaf {leaf.seq} seals a different event")
                record = json.loads(event.state)
                record["seq"] = leaf.seq
                record["prev_hash"] = last.get(record["stream_id"])
                last[record["stream_id"]] = leaf.leaf_hash.hex()
                out.write(_dumps(record) + b"\n")
            written += len(events)
            after_event, after_seq = events[-1].position, leaves[-1].seq
    return written


def _export_rate(ctx: Context, info: LogInfo) -> float:
    """events/s of the product's own exporter (audit + jsonl + csv + OCEL) on a small log."""
    home = ctx.workdir / "export-rate"
    home.mkdir(exist_ok=True)
    app = open_ledger(sqlite_url(info.db))
    try:
        key = SigningKey.load_or_create(home / "signing.key", ORIGIN, lambda: os.urandom(32))
        out = home / f"bundle-{time.monotonic_ns()}"
        start = time.perf_counter()
        summary = export_bundle(
            sealed_log(app),
            out,
            key,
            ORIGIN,
            created_at=datetime(2026, 1, 1, tzinfo=UTC),
            display_zone="Asia/Shanghai",
        )
        return summary.tree_size / (time.perf_counter() - start)
    finally:
        app.close()


@figure("verify_bundle", ("7a", "7b"), "offline verification of a 1M-event bundle")
def verify_bundle(ctx: Context) -> Sequence[Figure]:
    small_size, large_size = log_sizes(ctx)
    info = ensure_log(ctx.workdir, large_size, ctx.log)
    ctx.log(f"  writing the bundle of the {large_size:,}-event log…")
    start = time.perf_counter()
    bundle, size = build_bundle(info, info.db.parent)
    build_seconds = time.perf_counter() - start
    ctx.log(f"  bundle of {size:,} events written in {build_seconds:.1f} s")
    reps = ctx.mode.reps(3)
    peaks: list[float] = []
    baseline_peaks: list[float] = []

    def verifier() -> float:
        child = run_python("-m", "lvyue_verify", [str(bundle)])
        if child.code != 0:
            raise RuntimeError(f"the bundle does not verify:\n{child.output[-2000:]}")
        peaks.append(child.peak_rss_mb)
        return size / child.seconds

    def loop() -> float:
        child = run_python("-c", BASELINE_LOOP, [str(bundle / "events.jsonl")])
        if child.code != 0:
            raise RuntimeError(child.output[-2000:])
        baseline_peaks.append(child.peak_rss_mb)
        return size / child.seconds

    ctx.log(
        f"figure 7: `python -m lvyue_verify` of {size:,} events vs read + json.loads + "
        f"sha256 loop, {reps} runs (each its own process)"
    )
    runs = interleaved(reps, verifier, loop, rate_ratio, ctx.log)
    small = ensure_log(ctx.workdir, small_size, ctx.log)
    details = {
        "events": size,
        "bundle_mb": (bundle / "events.jsonl").stat().st_size / 1e6,
        "bundle_build_seconds": build_seconds,
        f"export_bundle_events_per_s_at_{small_size}": _export_rate(ctx, small),
    }
    rate = Figure(
        "7a",
        "verify_rate",
        f"offline verify of a {size:,}-event bundle",
        "python -m lvyue_verify BUNDLE (its own process, wall time incl. start-up)",
        "a Python loop reading each line, json.loads, sha256 (its own process, wall time)",
        "events/s",
        Target(">=", 0.3, "≥ 0.3× read + parse + SHA-256 loop"),
        runs=runs,
        details=details,
        peak_rss_mb=max(peaks),
    )
    memory = Figure(
        "7b",
        "verify_memory",
        f"peak memory of the verifier on the {size:,}-event bundle",
        "peak RSS (VmHWM) of the verifier process",
        "peak RSS of the baseline loop's process",
        "MB",
        Target("<=", MEMORY_LIMIT_MB, "peak memory < 200 MB"),
        runs=[Run(a, b, a) for a, b in zip(peaks, baseline_peaks, strict=True)],
        note="absolute: the verifier's own peak RSS; the baseline column shows the loop's",
        peak_rss_mb=max(peaks),
        absolute=True,
    )
    return [rate, memory]
