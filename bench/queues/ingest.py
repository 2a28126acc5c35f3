#!/usr/bin/env python3
"""HTTP ingest benchmark: POSTs to an HTTP trigger of `sluice serve`, each durable on a queue
before its 2xx, beside a plain-Python durable ingest server.

    python3 bench/queues/ingest.py [--runs 3] [--requests 100000] [--connections 64]
                                   [--configs sqlite,pg,python] [--rate 0]
                                   [--store postgres://postgres@127.0.0.1:5432/test]
                                   [--timeout 600] [--scratch bench/.peers/ingest] [--no-build]

The load is bench/server/loadgen (`sluice-loadgen --post /ingest`, release build): a fixed
number of small JSON events over --connections keep-alive HTTP/1.1 connections, each request's
latency recorded. Configurations:

  sqlite   `sluice serve` on its own SQLite store (WAL, synchronous=FULL): the route
           `{http: /ingest, queue: events}` answers 202 once the message is committed; concurrent
           requests share a commit
  pg       the same node on PostgreSQL (a fresh schema per run)
  python   the peer: Python's standard library ThreadingHTTPServer whose handler inserts the
           body into SQLite (WAL, synchronous=FULL) and commits before answering 202, one commit
           per request, as a small durable ingest service is usually written

After each Sluice run the queue must hold exactly as many messages as requests were answered
2xx (read from `GET /v1/queues`); after the peer's, its table must. With --rate R the requests
follow a fixed schedule of R/s (open loop) and latency counts from each scheduled time.
Reported (median of --runs): requests/s and p50/p99 latency, with the ratio against the peer and
the goal (20,000 requests/s, p99 < 25 ms). Nodes start with a fresh --data-dir under --scratch
and are stopped after each run. Prints a markdown table and writes bench/out/ingest.json.
Standard library only.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
REPO = BENCH.parent
_SPEC = importlib.util.spec_from_file_location("server_bench", BENCH / "server" / "run.py")
SERVER_BENCH = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(SERVER_BENCH)
Node, log, die_with_parent = SERVER_BENCH.Node, SERVER_BENCH.log, SERVER_BENCH.die_with_parent
CONFIGS = ["sqlite", "pg", "python"]
GOAL_RPS, GOAL_P99_MS = 20_000, 25.0
BODY = '{"event":"click","user":"u{i}","page":"/products/{i}","ts":"2026-12-06T10:00:00Z"}'

PROJECT_YAML = """\
queues:
  events: {}
triggers:
  ingest: { http: /ingest, queue: events }
"""

PEER = r'''
import http.server, json, sqlite3, sys, threading

db = sqlite3.connect(sys.argv[1], check_same_thread=False, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
lock = threading.Lock()


class Ingest(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with lock:
            db.execute("BEGIN IMMEDIATE")
            cur = db.execute("INSERT INTO events (body) VALUES (?)", (body.decode(),))
            db.execute("COMMIT")
        reply = json.dumps({"messageId": str(cur.lastrowid)}).encode()
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ingest)
server.daemon_threads = True
print("listening on http://127.0.0.1:%d" % server.server_address[1], file=sys.stderr, flush=True)
server.serve_forever()
'''


def queue_depth(addr: str) -> int:
    import http.client

    conn = http.client.HTTPConnection(addr, timeout=30)
    conn.request("GET", "/v1/queues")
    queues = json.loads(conn.getresponse().read())["queues"]
    stats = next(q for q in queues if q["name"] == "events")["stats"]
    return stats["ready"] + stats["delayed"] + stats["inFlight"]


def peer_rows(db: Path) -> int:
    import sqlite3

    return sqlite3.connect(db).execute("SELECT count(*) FROM events").fetchone()[0]


def load(args, loadgen: Path, addr: str) -> dict:
    cmd = [str(loadgen), "--target", addr, "--post", "/ingest", "--body", BODY,
           "--executions", str(args.requests), "--connections", str(args.connections)]
    if args.rate:
        cmd += ["--rate", str(args.rate)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                       preexec_fn=die_with_parent)
    try:
        report = json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        report = {}
    report["rc"] = r.returncode
    if r.returncode != 0:
        report["stderr_tail"] = r.stderr.strip().splitlines()[-5:]
    return report


class Peer(SERVER_BENCH.Listener):
    """The plain-Python ingest server, once it listens."""

    def __init__(self, run_dir: Path):
        run_dir.mkdir(parents=True)
        self.db = run_dir / "ingest.db"
        script = run_dir / "peer.py"
        script.write_text(PEER)
        super().__init__([sys.executable, str(script), str(self.db)])


def one_run(args, binaries, config: str, scratch: Path) -> dict:
    sluice, loadgen = binaries
    run_dir = scratch / f"{config}-{uuid.uuid4().hex[:8]}"
    schema = f"sluice_ingest_{uuid.uuid4().hex[:12]}"
    store = SERVER_BENCH.with_schema(args.store, schema) if config == "pg" else None
    server = None
    try:
        if config == "python":
            server = Peer(run_dir)
        else:
            project = run_dir / "project"
            project.mkdir(parents=True)
            (project / "sluice.yaml").write_text(PROJECT_YAML)
            server = Node(sluice, run_dir / "data", store, project)
        report = load(args, loadgen, server.addr)
        kept = peer_rows(server.db) if config == "python" else queue_depth(server.addr)
        report["kept"] = kept
        if kept != report.get("succeeded"):
            report["rc"] = report["rc"] or 1
            report["lost"] = f"{report.get('succeeded')} answered 2xx but {kept} kept"
        return report
    finally:
        if server:
            server.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
        if store:
            SERVER_BENCH.drop_schema(args.store, schema)


def median(runs: list[dict], *path: str) -> float | None:
    values = []
    for r in runs:
        v = r
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        if isinstance(v, (int, float)):
            values.append(v)
    return statistics.median(values) if values else None


def table(summary: dict) -> str:
    peer = summary.get("python", {}).get("requests_per_s")
    rows = ["| system | requests/s | p50 ms | p99 ms | vs Python | vs goal 20k/s |",
            "|---|---|---|---|---|---|"]
    for config, s in summary.items():
        rps = s["requests_per_s"]
        ratio = f"{rps / peer:.1f}x" if rps and peer else "-"
        goal = f"{rps / GOAL_RPS:.2f}x" if rps else "-"
        p50 = f"{s['p50']:.1f}" if s["p50"] is not None else "-"
        p99 = f"{s['p99']:.1f}" if s["p99"] is not None else "-"
        rate = f"{rps:,.0f}" if rps else "failed"
        rows.append(f"| {config} | {rate} | {p50} | {p99} | {ratio} | {goal} |")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--store", default="postgres://postgres@127.0.0.1:5432/test")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--scratch", default=str(BENCH / ".peers" / "ingest"))
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    configs = [c for c in args.configs.split(",") if c]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        sys.exit(f"unknown configs {unknown}; known: {CONFIGS}")
    binaries = SERVER_BENCH.build(args)
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    results, summary = {}, {}
    for config in configs:
        runs = []
        for i in range(args.runs):
            log(f"{config} run {i + 1}/{args.runs} ...")
            r = one_run(args, binaries, config, scratch)
            log(f"  {r.get('requests_per_s', 0):,.0f} req/s, p99 "
                f"{(r.get('latency_ms') or {}).get('p99', 0):.1f} ms, rc {r['rc']}"
                + (f", {r['lost']}" if "lost" in r else "")
                + (f", {r.get('errors')}" if r["rc"] else ""))
            runs.append(r)
        ok = [r for r in runs if r["rc"] == 0]
        results[config] = runs
        summary[config] = {
            "requests_per_s": median(ok, "requests_per_s"),
            "p50": median(ok, "latency_ms", "p50"),
            "p99": median(ok, "latency_ms", "p99"),
        }
    print(table(summary))
    out = BENCH / "out"
    out.mkdir(exist_ok=True)
    (out / "ingest.json").write_text(json.dumps({
        "date": dt.datetime.now(dt.timezone.utc).isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "args": vars(args),
        "summary": summary,
        "runs": results,
    }, indent=2))
    return 0 if all(r["rc"] == 0 for runs in results.values() for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
