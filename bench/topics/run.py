#!/usr/bin/env python3
"""Topic benchmark: publishing on a topic through `sluice serve` beside sending onto one queue.

    python3 bench/topics/run.py [--runs 3] [--requests 2000] [--subscribers 3]
                                [--concurrency 1,16] [--store postgres://...] [--no-build]

A publish writes one delivery per subscriber, all in one transaction, before it answers; a send
writes one message. Each run makes --requests requests, split over --concurrency clients (each
one keep-alive connection), of each kind against a fresh node on its own SQLite store (or on
--store, a PostgreSQL server, in a fresh schema): `POST /v1/topics/orders/messages` (the topic
has --subscribers queue subscribers, no consumers, so that nothing else competes) and
`POST /v1/queues/q0/messages`. Runs are interleaved; reported: the median requests/s of each,
and the ratio publish/send (the price of the fan-out). Prints a markdown table and writes
bench/out/topics.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import importlib.util
import json
import os
import platform
import shutil
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
_SPEC = importlib.util.spec_from_file_location("server_bench", BENCH / "server" / "run.py")
SERVER_BENCH = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(SERVER_BENCH)
Node, log = SERVER_BENCH.Node, SERVER_BENCH.log

KINDS = {
    "publish": ("/v1/topics/orders/messages", json.dumps({"message": {"amount": 150}})),
    "send": ("/v1/queues/q0/messages", json.dumps({"body": {"amount": 150}})),
}


def project(run_dir: Path, subscribers: int) -> Path:
    proj = run_dir / "project"
    proj.mkdir(parents=True)
    queues = "".join(f"  q{i}: {{}}\n" for i in range(subscribers))
    subs = "".join(f"      - queue: q{i}\n" for i in range(subscribers))
    (proj / "sluice.yaml").write_text(
        f"queues:\n{queues}topics:\n  orders:\n    subscribers:\n{subs}")
    return proj


def load(addr: str, path: str, body: str, requests: int, clients: int) -> float:
    """Requests/s of `requests` POSTs of `body` to `path` from `clients` connections."""
    host, port = addr.split(":")
    errors: list[str] = []

    def client(n: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        for _ in range(n):
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            reply = conn.getresponse()
            reply.read()
            if reply.status != 200:
                errors.append(f"{path}: {reply.status}")
    shares = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]
    threads = [threading.Thread(target=client, args=(n,)) for n in shares]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(errors[0])
    return requests / (time.time() - t0)


def run(args, binary: Path, kind: str, clients: int) -> dict:
    run_dir = Path(args.scratch) / f"{kind}-{uuid.uuid4().hex[:8]}"
    schema = f"sluice_bench_{uuid.uuid4().hex[:12]}"
    store = f"{args.store}{'&' if '?' in args.store else '?'}schema={schema}" if args.store else None
    node = None
    try:
        node = Node(binary, run_dir / "data", store, project(run_dir, args.subscribers))
        path, body = KINDS[kind]
        return {"rc": 0, "requests_per_s": load(node.addr, path, body, args.requests, clients)}
    except Exception as e:  # a failed run is reported, the others go on
        return {"rc": -1, "error": f"{type(e).__name__}: {e}"}
    finally:
        if node:
            node.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
        if store and shutil.which("psql"):
            subprocess.run(["psql", args.store.split("?")[0], "-qc",
                            f"DROP SCHEMA IF EXISTS {schema} CASCADE"], capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=2000, help="requests per run")
    ap.add_argument("--subscribers", type=int, default=3, help="queue subscribers of the topic")
    ap.add_argument("--concurrency", default="1,16", help="client counts, comma-separated")
    ap.add_argument("--store", default=None, help="a PostgreSQL URL (default: SQLite)")
    ap.add_argument("--scratch", default=str(BENCH / ".peers" / "topics"))
    ap.add_argument("--no-build", action="store_true", help="use target/release as it is")
    ap.add_argument("--out", default=str(BENCH / "out" / "topics.json"))
    args = ap.parse_args()
    levels = [int(c) for c in args.concurrency.split(",") if c]
    Path(args.scratch).mkdir(parents=True, exist_ok=True)
    binary = REPO / "target" / "release" / "sluice"
    if not args.no_build:
        log("cargo build --release -p sluice ...")
        subprocess.run(["cargo", "build", "--release", "-p", "sluice"], cwd=REPO, check=True)
    if not binary.exists():
        sys.exit(f"no binary at {binary} (build it, or drop --no-build)")

    started = dt.datetime.now(dt.timezone.utc)
    load_before = os.getloadavg()
    raw = {f"{kind}@{c}": [] for c in levels for kind in KINDS}
    for i in range(args.runs):
        for c in levels:
            for kind in KINDS:
                r = run(args, binary, kind, c)
                raw[f"{kind}@{c}"].append(r)
                log(f"run {i + 1}/{args.runs} {kind} x{c}: {json.dumps(r)}")
    load_after = os.getloadavg()

    def median(key: str) -> float | None:
        ok = [r["requests_per_s"] for r in raw[key] if r["rc"] == 0]
        return statistics.median(ok) if ok else None
    summary = {}
    for c in levels:
        publish, send = median(f"publish@{c}"), median(f"send@{c}")
        summary[c] = {"publish_per_s": publish, "send_per_s": send,
                      "ratio": publish / send if publish and send else None}
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(),
               "loadavg_before": [round(x, 2) for x in load_before],
               "loadavg_after": [round(x, 2) for x in load_after]}
    git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    result = {"benchmark": "topics", "date": started.isoformat(timespec="seconds"), "git": git,
              "settings": {k: getattr(args, k) for k in ("runs", "requests", "subscribers",
                                                         "concurrency", "store")},
              "machine": machine, "summary": summary, "raw": raw}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")

    print()
    print(f"Topic benchmark, {started:%Y-%m-%d %H:%M} UTC, {machine['cpus']} CPUs, "
          f"load {load_before[0]:.1f} -> {load_after[0]:.1f}, median of {args.runs} run(s), "
          f"{args.requests:,} requests per run, {args.subscribers} subscribers, "
          f"{'PostgreSQL' if args.store else 'SQLite'}")
    print("| clients | publish/s | send/s | publish / send |")
    print("|---|---|---|---|")
    for c, s in summary.items():
        fmt = lambda x, d=0: "-" if x is None else f"{x:,.{d}f}"  # noqa: E731
        print(f"| {c} | {fmt(s['publish_per_s'])} | {fmt(s['send_per_s'])} | {fmt(s['ratio'], 2)} |")
    print(f"Wrote {out}")
    return 0 if all(r["rc"] == 0 for runs in raw.values() for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
