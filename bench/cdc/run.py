#!/usr/bin/env python3
"""CDC benchmark: a PostgreSQL table's snapshot and change stream through `sluice serve`, beside
`COPY ... TO STDOUT` of the same table.

    python3 bench/cdc/run.py [--rows 1000000] [--changes 100000] [--batch-size 1000]
                             [--url postgres://postgres@127.0.0.1:5432/test] [--no-build]
                             [--sluice PATH] [--scratch bench/.peers/cdc] [--timeout 1800]

Setup: a table of --rows rows (id bigint key, text, numeric(10,2), nullable text, timestamptz)
in the source database, and an empty copy of it in database `postgres` (the analytics store).

  copy            `psql -c "COPY (SELECT * FROM t ORDER BY id) TO STDOUT" > /dev/null`: the
                  server's fastest way out for the same rows, the peer of the snapshot
  snapshot-ack    `sluice serve` with a CDC trigger into the built-in `ack` function: the
                  snapshot (slot, exported snapshot, keyset-ordered cursor, Canal-JSON) with a
                  sink that does nothing; measured from the node's start to its status showing
                  every row delivered and the phase `streaming`
  snapshot-load   the same into the `postgres-upsert` built-in (rows upserted into the target
                  table in one transaction per batch)
  stream-load     after snapshot-load: --changes updates written in transactions of 1,000 rows,
                  measured from the first write to the target table equal to the source (count
                  and checksum)

Prints a markdown table and writes bench/out/cdc.json. The slot, publication and tables are
dropped at the end.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABLE = "bench_cdc_orders"


def psql(url: str, sql: str) -> str:
    out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-Atqc", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def target_url(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/postgres"


def digest(url: str) -> str:
    return psql(url, f"SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY id)) FROM {TABLE} t")


COLUMNS = "id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(10,2), note text, created_at timestamptz NOT NULL"


def setup(url: str, rows: int) -> None:
    cleanup(url)
    psql(url, f"""CREATE TABLE {TABLE} ({COLUMNS});
        INSERT INTO {TABLE} SELECT g, 'customer ' || g, (g % 10000) / 100.0,
               CASE WHEN g % 5 = 0 THEN NULL ELSE 'note ' || g END, now()
        FROM generate_series(1, {rows}) g;
        ANALYZE {TABLE};""")
    psql(target_url(url), f"CREATE TABLE {TABLE} ({COLUMNS})")


def cleanup(url: str) -> None:
    slot = f"sluice_{TABLE}"
    psql(url, f"SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '{slot}' AND active_pid IS NOT NULL")
    for _ in range(50):
        try:
            psql(url, f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{slot}'")
            break
        except subprocess.CalledProcessError:
            time.sleep(0.1)
    psql(url, f"DROP PUBLICATION IF EXISTS {slot}; DROP TABLE IF EXISTS {TABLE}")
    psql(target_url(url), f"DROP TABLE IF EXISTS {TABLE}")


def copy_peer(url: str) -> float:
    start = time.monotonic()
    with open(os.devnull, "wb") as null:
        subprocess.run(["psql", url, "-Atqc", f"COPY (SELECT * FROM {TABLE} ORDER BY id) TO STDOUT"],
                       check=True, stdout=null)
    return time.monotonic() - start


class Node:
    """`sluice serve` of a one-trigger project."""

    def __init__(self, sluice: str, scratch: Path, url: str, function: str, batch: int):
        project = scratch / f"project-{function}"
        data = scratch / f"data-{function}-{time.time_ns()}"
        project.mkdir(parents=True, exist_ok=True)
        load = f"{{ runtime: builtin, handler: postgres-upsert, options: {{ url: '{target_url(url)}' }} }}"
        ack = "{ runtime: builtin, handler: ack }"
        (project / "sluice.yaml").write_text(
            f"functions:\n  sink: {load if function == 'load' else ack}\n"
            f"triggers:\n  {TABLE}: {{ cdc: '{url}', tables: [public.{TABLE}], function: sink, "
            f"batch_size: {batch}, batch_timeout: 200ms }}\n")
        self.start = time.monotonic()
        self.proc = subprocess.Popen([sluice, "--data-dir", str(data), "serve", str(project), "--listen", "127.0.0.1:0"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in self.proc.stderr:
            if "on http://" in line:
                self.addr = line.split("on http://")[1].split()[0]
                break
        else:
            raise SystemExit("sluice serve did not start")

    def status(self) -> dict:
        with urllib.request.urlopen(f"http://{self.addr}/v1/cdc") as r:
            return json.loads(r.read())["sources"][0]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def wait(what: str, timeout: float, done) -> None:
    end = time.monotonic() + timeout
    while not done():
        if time.monotonic() > end:
            raise SystemExit(f"not within {timeout}s: {what}")
        time.sleep(0.05)


def snapshot_run(node: Node, rows: int, timeout: float) -> float:
    def finished() -> bool:
        s = node.status()
        if s.get("error") and s["phase"] == "failed":
            raise SystemExit(f"source failed: {s['error']}")
        return s["phase"] == "streaming" and sum(t["rows"] for t in s["snapshot"].values()) >= rows
    wait("the snapshot", timeout, finished)
    return time.monotonic() - node.start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--changes", type=int, default=100_000)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--url", default="postgres://postgres@127.0.0.1:5432/test")
    p.add_argument("--sluice", default=str(ROOT / "target/release/sluice"))
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--scratch", default=str(ROOT / "bench/.peers/cdc"))
    p.add_argument("--timeout", type=float, default=1800)
    a = p.parse_args()
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "sluice"], cwd=ROOT, check=True)
    scratch = Path(a.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    setup(a.url, a.rows)
    results = {}
    try:
        results["copy"] = copy_peer(a.url)
        node = Node(a.sluice, scratch, a.url, "ack", a.batch_size)
        try:
            results["snapshot-ack"] = snapshot_run(node, a.rows, a.timeout)
        finally:
            node.stop()
        cleanup_slot = f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'sluice_{TABLE}'"
        wait("the slot to be released", 30, lambda: psql(a.url, f"SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'sluice_{TABLE}' AND active") == "0")
        psql(a.url, cleanup_slot)
        node = Node(a.sluice, scratch, a.url, "load", a.batch_size)
        try:
            results["snapshot-load"] = snapshot_run(node, a.rows, a.timeout)
            start = time.monotonic()
            per_txn = 1000
            for lo in range(1, a.changes + 1, per_txn):
                hi = min(lo + per_txn - 1, a.changes)
                psql(a.url, f"UPDATE {TABLE} SET amount = amount + 1, note = 'changed' WHERE id BETWEEN {lo} AND {hi}")
            writes = time.monotonic() - start
            wait("the target to match the source", a.timeout, lambda: digest(a.url) == digest(target_url(a.url)))
            results["stream-load"] = time.monotonic() - start
            results["stream-writes"] = writes
        finally:
            node.stop()
    finally:
        cleanup(a.url)
    load_after = os.getloadavg()
    rows = {
        "copy": a.rows / results["copy"],
        "snapshot-ack": a.rows / results["snapshot-ack"],
        "snapshot-load": a.rows / results["snapshot-load"],
        "stream-load": a.changes / results["stream-load"],
    }
    print(f"| run | seconds | rows or changes/s | vs COPY |")
    print(f"|---|---|---|---|")
    for name in ["copy", "snapshot-ack", "snapshot-load", "stream-load"]:
        ratio = "" if name in ("copy", "stream-load") else f"{rows[name] / rows['copy']:.2f}x"
        print(f"| {name} | {results[name]:.2f} | {rows[name]:,.0f} | {ratio} |")
    print(f"(the {a.changes:,} updates took {results['stream-writes']:.2f} s to write)")
    out = ROOT / "bench/out/cdc.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": vars(a), "machine": platform.platform(), "cpus": os.cpu_count(),
        "load_before": load_before, "load_after": load_after,
        "postgres": psql(a.url, "SHOW server_version"),
        "seconds": results, "per_second": rows,
    }, indent=2))
    print(f"Wrote {out}")


if __name__ == "__main__":
    main()
