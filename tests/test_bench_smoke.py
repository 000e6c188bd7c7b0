"""A smoke test of the benchmark harness (not a timed test: no thresholds on any number).

Runs `python -m bench --quick --only sealing_overhead --reps 1` in a subprocess, writing its
JSON into a temporary directory, and checks the document's shape.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURE_KEYS = {
    "number",
    "name",
    "title",
    "status",
    "unit",
    "ours",
    "baseline",
    "ratio",
    "ratio_min",
    "ratio_max",
    "repetitions",
    "runs",
    "target",
    "met",
    "note",
    "details",
    "peak_rss_mb",
}


def test_quick_run_writes_the_expected_json(tmp_path: Path) -> None:
    markdown = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--only",
            "sealing_overhead",
            "--reps",
            "1",
            "--results",
            str(tmp_path),
            "--markdown",
            str(markdown),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    [result] = tmp_path.glob("*.json")
    doc = json.loads(result.read_text())
    assert {"started", "wall_seconds", "quick", "machine", "figures"} <= doc.keys()
    assert doc["quick"] is True
    assert {"cores", "memory_gb", "cpu", "python", "sqlite", "postgresql"} <= doc["machine"].keys()
    figures = {f["number"]: f for f in doc["figures"]}
    assert set(figures) == {"8a", "8b"}
    sqlite = figures["8a"]
    assert sqlite.keys() >= FIGURE_KEYS
    assert sqlite["status"] == "measured"
    assert sqlite["repetitions"] == 1
    assert {"ours", "baseline", "ratio"} <= sqlite["runs"][0].keys()
    assert sqlite["target"]["op"] == "<="
    assert isinstance(sqlite["met"], bool)
    assert figures["8b"]["status"] in ("measured", "skipped")
    assert "| 8a |" in markdown.read_text()
