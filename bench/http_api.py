"""Figure 11: a single-event command over HTTP against a bare FastAPI endpoint, same server.

Both servers are uvicorn with ONE worker (on this 2-core machine, with the load generator on
the other core), access log off, loopback. Ours is `create_app(Settings)` on a fresh SQLite
file — authentication by API token (cached per process for at most 5 s), authorization, the
idempotency key and the use case `onboard_staff`, its commit durable before the 201; the
embedded projections are caught up by the next read, not by the command (`api.freshness`).
The bare one only validates the same body model. The load comes from a separate process: a
fixed number of POST /api/staff requests over CONNECTIONS keep-alive connections (stdlib
http.client, one thread per connection), after an untimed warm-up; every response must be 201.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bench.harness import Context, Figure, Target, figure, interleaved, rate_ratio, scratch
from bench.workload import run_python

CONNECTIONS = 1
WARMUP = 20
CLIENT = """
import http.client, json, sys, threading, time
port, token, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[5]
n, conc = int(sys.argv[3]), int(sys.argv[4])
statuses = {}
errors = []
lock = threading.Lock()
def worker(w):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for i in range(w, n, conc):
        body = json.dumps({"person_id": f"{prefix}-{i}", "employee_no": f"E{i}",
                           "job_family": "engineering"})
        conn.request("POST", "/api/staff", body, {
            "Content-Type": "application/json", "Authorization": "Bearer " + token,
            "Idempotency-Key": f"{prefix}-{i}"})
        response = conn.getresponse()
        text = response.read()
        with lock:
            statuses[response.status] = statuses.get(response.status, 0) + 1
            if response.status >= 300 and not errors:
                errors.append(text.decode("utf-8", "replace")[:500])
    conn.close()
threads = [threading.Thread(target=worker, args=(w,)) for w in range(conc)]
start = time.perf_counter()
for t in threads:
    t.start()
for t in threads:
    t.join()
seconds = time.perf_counter() - start
print("BENCH-CLIENT " + json.dumps({"seconds": seconds, "statuses": statuses, "errors": errors}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(kind: str, db: Path) -> Iterator[tuple[int, str]]:
    """Start one server process; yields (port, token) once it accepts connections."""
    port = _free_port()
    log = db.with_suffix(".log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.http_server", kind, str(db), str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        token = _wait_ready(proc, port, Path(f"{db}.token"), db.with_suffix(".log"))
        yield port, token
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_ready(proc: subprocess.Popen[bytes], port: int, token: Path, log: Path) -> str:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the {port} server exited:\n{log.read_text()[-3000:]}")
        if token.exists():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return token.read_text()
            except OSError:
                pass
        time.sleep(0.1)
    raise RuntimeError("the server did not start within 90 s")


def _load(port: int, token: str, n: int, prefix: str) -> float:
    """Seconds for n requests; every one must be 201."""
    child = run_python("-c", CLIENT, [str(port), token, str(n), str(CONNECTIONS), prefix])
    lines = [x for x in child.output.splitlines() if x.startswith("BENCH-CLIENT ")]
    if child.code != 0 or not lines:
        raise RuntimeError(f"the load client failed:\n{child.output[-2000:]}")
    result = json.loads(lines[-1].split(" ", 1)[1])
    if result["statuses"] != {"201": n}:
        raise RuntimeError(f"expected {n} × 201, got {result['statuses']}: {result['errors']}")
    return float(result["seconds"])


def _rate(ctx: Context, kind: str, n: int) -> Callable[[], float]:
    def measure() -> float:
        with (
            scratch(ctx.workdir, f"http-{kind}-") as home,
            serving(kind, home / "api.db") as (
                port,
                token,
            ),
        ):
            _load(port, token, WARMUP, "warm")
            return n / _load(port, token, n, "req")

    return measure


@figure("http_command", ("11",), "single-event command over HTTP vs a bare FastAPI endpoint")
def http_command(ctx: Context) -> Sequence[Figure]:
    n = ctx.mode.size(600, 60)
    reps = ctx.mode.reps(3)
    ctx.log(
        f"figure 11: {n} POST /api/staff over {CONNECTIONS} connection(s), ledger API vs bare "
        f"endpoint, {reps} runs"
    )
    return [
        Figure(
            "11",
            "http_command",
            "single-event command over HTTP (1 uvicorn worker, 2 cores)",
            "POST /api/staff on create_app(Settings), SQLite, token auth, idempotency key, "
            "embedded projections (caught up by reads)",
            "bare FastAPI POST validating the same body model, writing nothing",
            "requests/s",
            Target(">=", 0.5, "≥ 0.5× a bare FastAPI endpoint, same server settings"),
            runs=interleaved(
                reps, _rate(ctx, "ledger", n), _rate(ctx, "bare", n), rate_ratio, ctx.log
            ),
            note=f"uvicorn, 1 worker, access log off; load: {n} requests, one after another "
            f"over {CONNECTIONS} keep-alive connection from a separate process, after "
            f"{WARMUP} untimed (with 4 concurrent connections every request is a 201 too, but "
            "the bare endpoint gains more from the overlap than the one-writer store does)",
            details={"requests": n, "connections": CONNECTIONS},
        )
    ]
