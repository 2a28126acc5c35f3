#!/usr/bin/env python3
"""Server benchmark: `sluice serve` nodes under a StartExecution load, on SQLite and PostgreSQL.

    python3 bench/server/run.py [--runs 3] [--executions 10000] [--connections 32]
                                [--configs sqlite-1,pg-1,pg-2,open-sqlite-1]
                                [--rate 1000] [--open-seconds 10]
                                [--store postgres://postgres@127.0.0.1:5432/test]
                                [--timeout 600] [--scratch bench/.peers/server] [--no-build]

The load is bench/server/loadgen (`sluice-loadgen`, release build): keep-alive HTTP/1.1
connections sending StartExecution for the five-Pass flow of bench/server/project, each start's
latency recorded, then DescribeExecution until every execution has SUCCEEDED. Configurations:

  sqlite-1       one node on its own SQLite store (durable: WAL, synchronous=FULL, group commit)
  pg-1           one node on PostgreSQL (a fresh schema per run)
  pg-2           two nodes sharing one PostgreSQL schema; the connections alternate between them
  open-sqlite-1  one SQLite node under an open loop: --rate starts/s on a fixed schedule for
                 --open-seconds, latency counted from each start's scheduled time
  open-pg-1      the same open loop on one PostgreSQL node (not run by default)

Closed-loop runs send --executions starts over --connections connections. Reported per
configuration (median of --runs): executions/s from the first start to the last execution's
stopDate, starts/s over the start phase, p50/p99 start latency; with ratios against Step
Functions' default StartExecution quota for Standard workflows (300/s sustained, bursts of 800).
Nodes start with a fresh --data-dir under --scratch (on the repo's disk, so that fsync costs
what it costs) and are stopped (SIGTERM, then SIGKILL) after each run; they also get SIGTERM if
this script dies (PR_SET_PDEATHSIG). Prints a markdown table and writes bench/out/server.json.
Standard library only.
"""
from __future__ import annotations

import argparse
import collections
import ctypes
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
REPO = BENCH.parent
PROJECT = HERE / "project"
MACHINE = "arn:aws:states:local:000000000000:stateMachine:five"

# name -> (store, nodes, open loop)
CONFIGS = {
    "sqlite-1": ("sqlite", 1, False),
    "pg-1": ("postgres", 1, False),
    "pg-2": ("postgres", 2, False),
    "open-sqlite-1": ("sqlite", 1, True),
    "open-pg-1": ("postgres", 1, True),
}
DEFAULT_CONFIGS = ["sqlite-1", "pg-1", "pg-2", "open-sqlite-1"]
# Step Functions' default StartExecution quota for Standard workflows (per account and region).
SFN_STARTS_PER_S = 300
SFN_BURST = 800
NODE_STARTUP_S = 60
NODE_STOP_S = 15
STDERR_LINES = 200


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def die_with_parent() -> None:
    """In the child before exec: SIGTERM when this script's process ends (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Listener:
    """A server process that prints `... on http://ADDR` on stderr once it listens."""

    def __init__(self, cmd: list[str], env: dict | None = None):
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True,
            start_new_session=True, preexec_fn=die_with_parent,
        )
        self.lines: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self.listening = threading.Event()
        self.addr: str | None = None
        threading.Thread(target=self._read, daemon=True).start()
        if not self.listening.wait(NODE_STARTUP_S) or self.addr is None:
            self.stop()
            raise RuntimeError(f"{cmd[0]} did not listen: " + " | ".join(self.lines))

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())
            if self.addr is None and "on http://" in line:
                self.addr = line.split("on http://", 1)[1].split()[0]
                self.listening.set()
        self.listening.set()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(NODE_STOP_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Node(Listener):
    """A `sluice serve` process of `project` (the bench project by default), once it listens."""

    def __init__(self, binary: Path, data_dir: Path, store: str | None, project: Path = PROJECT):
        env = dict(os.environ)
        env.pop("SLUICE_STORE", None)
        if store:
            env["SLUICE_STORE"] = store
        super().__init__(
            [str(binary), "--data-dir", str(data_dir), "serve", str(project), "--listen", "127.0.0.1:0"],
            env,
        )


def build(args) -> tuple[Path, Path]:
    release = REPO / "target" / "release"
    if not args.no_build:
        log("cargo build --release -p sluice -p sluice-loadgen ...")
        subprocess.run(["cargo", "build", "--release", "-p", "sluice", "-p", "sluice-loadgen"],
                       cwd=REPO, check=True)
    binaries = (release / "sluice", release / "sluice-loadgen")
    for b in binaries:
        if not b.exists():
            sys.exit(f"no binary at {b} (build it, or drop --no-build)")
    return binaries


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def drop_schema(url: str, schema: str) -> None:
    if shutil.which("psql"):
        subprocess.run(["psql", url.split("?")[0], "-qc", f"DROP SCHEMA IF EXISTS {schema} CASCADE"],
                       capture_output=True)


def one_run(args, binaries: tuple[Path, Path], config: str, scratch: Path) -> dict:
    """Starts the configuration's nodes on fresh state, loads them, stops them."""
    store_kind, nodes, open_loop = CONFIGS[config]
    sluice, loadgen = binaries
    run_dir = scratch / f"{config}-{uuid.uuid4().hex[:8]}"
    schema = f"sluice_bench_{uuid.uuid4().hex[:12]}"
    store = with_schema(args.store, schema) if store_kind == "postgres" else None
    started: list[Node] = []
    try:
        for i in range(nodes):
            started.append(Node(sluice, run_dir / f"node-{i}", store))
        cmd = [str(loadgen), "--machine", MACHINE, "--timeout", str(int(args.timeout))]
        for node in started:
            cmd += ["--target", node.addr]
        if open_loop:
            cmd += ["--rate", str(args.rate), "--executions", str(int(args.rate * args.open_seconds)),
                    "--connections", str(args.open_connections)]
        else:
            cmd += ["--executions", str(args.executions), "--connections", str(args.connections)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout + 60,
                           preexec_fn=die_with_parent)
        try:
            report = json.loads(r.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            report = {}
        report["rc"] = r.returncode
        if r.returncode != 0:
            report["stderr_tail"] = r.stderr.strip().splitlines()[-5:]
            report["node_stderr_tail"] = [list(n.lines)[-5:] for n in started]
        return report
    finally:
        for node in started:
            node.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
        if store:
            drop_schema(args.store, schema)


def median(runs: list[dict], path: list[str]) -> float | None:
    values = []
    for r in runs:
        v = r
        for key in path:
            v = v.get(key) if isinstance(v, dict) else None
        if isinstance(v, (int, float)):
            values.append(float(v))
    return statistics.median(values) if values else None


def summarize(runs: list[dict]) -> dict:
    ok = [r for r in runs if r.get("rc") == 0]
    s = {
        "runs": len(runs),
        "ok": len(ok),
        "executions": median(ok, ["executions"]),
        "executions_per_s": median(ok, ["executions_per_s"]),
        "starts_per_s": median(ok, ["starts_per_s"]),
        "p50_ms": median(ok, ["start_latency_ms", "p50"]),
        "p99_ms": median(ok, ["start_latency_ms", "p99"]),
        "max_ms": median(ok, ["start_latency_ms", "max"]),
    }
    for key, quota in (("executions_per_s", SFN_STARTS_PER_S), ("starts_per_s", SFN_STARTS_PER_S)):
        s[f"{key}_over_sfn_quota"] = s[key] / quota if s[key] else None
    s["starts_per_s_over_sfn_burst"] = s["starts_per_s"] / SFN_BURST if s["starts_per_s"] else None
    return s


def fmt(x, nd=0, suffix="") -> str:
    if x is None:
        return "-"
    return f"{x:,.{nd}f}{suffix}"


def table(summary: dict, args) -> str:
    rows = ["| configuration | executions/s (start to all SUCCEEDED) | starts/s | start p50 | start p99 "
            "| executions/s ÷ 300/s quota | starts/s ÷ 300/s (÷ 800 burst) |",
            "|---|---|---|---|---|---|---|"]
    for config, s in summary.items():
        store_kind, nodes, open_loop = CONFIGS[config]
        what = f"{'SQLite' if store_kind == 'sqlite' else 'PostgreSQL'}, {nodes} node{'s' if nodes > 1 else ''}"
        if open_loop:
            what += f", open loop {args.rate:,.0f} starts/s"
        if s["ok"] < s["runs"]:
            what += f" ({s['runs'] - s['ok']} of {s['runs']} runs failed)"
        rows.append(
            f"| {what} | {fmt(s['executions_per_s'])} | {fmt(s['starts_per_s'])} "
            f"| {fmt(s['p50_ms'], 1, ' ms')} | {fmt(s['p99_ms'], 1, ' ms')} "
            f"| {fmt(s['executions_per_s_over_sfn_quota'], 1, 'x')} "
            f"| {fmt(s['starts_per_s_over_sfn_quota'], 1, 'x')} ({fmt(s['starts_per_s_over_sfn_burst'], 1, 'x')}) |")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--configs", default=",".join(DEFAULT_CONFIGS),
                    help=f"comma-separated, of {', '.join(CONFIGS)}")
    ap.add_argument("--executions", type=int, default=10_000, help="starts per closed-loop run")
    ap.add_argument("--connections", type=int, default=32, help="connections of a closed-loop run")
    ap.add_argument("--rate", type=float, default=1000.0, help="starts/s of the open-loop runs")
    ap.add_argument("--open-seconds", type=float, default=10.0, help="length of the open-loop runs")
    ap.add_argument("--open-connections", type=int, default=64, help="connections of an open-loop run")
    ap.add_argument("--store", default="postgres://postgres@127.0.0.1:5432/test",
                    help="the PostgreSQL server of the pg configurations")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per run")
    ap.add_argument("--scratch", default=str(BENCH / ".peers" / "server"))
    ap.add_argument("--no-build", action="store_true", help="use target/release as it is")
    ap.add_argument("--out", default=str(BENCH / "out" / "server.json"))
    args = ap.parse_args()
    configs = [c for c in args.configs.split(",") if c]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        sys.exit(f"unknown configuration(s) {unknown}; known: {', '.join(CONFIGS)}")

    binaries = build(args)
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.timezone.utc)
    load_before = os.getloadavg()
    raw: dict[str, list[dict]] = {c: [] for c in configs}
    for i in range(args.runs):
        for config in configs:
            log(f"run {i + 1}/{args.runs}: {config} ...")
            try:
                r = one_run(args, binaries, config, scratch)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                r = {"rc": -1, "error": str(e)}
            raw[config].append(r)
            log("    " + json.dumps({k: r.get(k) for k in (
                "rc", "executions_per_s", "starts_per_s", "start_latency_ms", "errors", "error")})[:600])
    load_after = os.getloadavg()
    summary = {c: summarize(runs) for c, runs in raw.items()}
    machine = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
    }
    git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    result = {
        "benchmark": "server",
        "date": started.isoformat(timespec="seconds"),
        "git": git,
        "settings": {k: getattr(args, k) for k in (
            "runs", "executions", "connections", "rate", "open_seconds", "open_connections", "timeout")},
        "sfn_quota": {"starts_per_s": SFN_STARTS_PER_S, "burst": SFN_BURST},
        "machine": machine,
        "summary": summary,
        "raw": raw,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")

    print()
    print(f"Server benchmark, {started:%Y-%m-%d %H:%M} UTC, {machine['cpus']} CPUs, "
          f"load {load_before[0]:.1f} -> {load_after[0]:.1f}, median of {args.runs} run(s), "
          f"{args.executions:,} executions over {args.connections} connections (closed loop)")
    print(table(summary, args))
    print(f"Wrote {out}")
    return 0 if all(s["ok"] == s["runs"] for s in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
