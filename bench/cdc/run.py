#!/usr/bin/env python3
"""CDC benchmark: a PostgreSQL table's snapshot and change stream through `sluice serve`, beside
`COPY ... TO STDOUT` of the same table.

    python3 bench/cdc/run.py [--rows 1000000] [--changes 100000] [--batch-size 1000]
                             [--rate 10000] [--seconds 10]
                             [--url postgres://postgres@127.0.0.1:5432/test] [--no-build]
                             [--sluice PATH] [--scratch bench/.peers/cdc] [--timeout 1800]

Setup: a table of --rows rows (id bigint key, text, numeric(10,2), nullable text, timestamptz)
in the source database, and an empty copy of it in database `postgres` (the analytics store)
with one more column, `loaded_at timestamptz DEFAULT clock_timestamp()`.

  copy            `psql -c "COPY (SELECT * FROM t ORDER BY id) TO STDOUT" > /dev/null`: the
                  server's fastest way out for the same rows, the peer of the snapshot
  snapshot-ack    `sluice serve` with a CDC trigger into the built-in `ack` function: the
                  snapshot (slot, exported snapshot, keyset-ordered cursor, Canal-JSON) with a
                  sink that does nothing; measured from the node's start to its status showing
                  every row delivered and the phase `streaming`
  snapshot-load   the same into the `postgres-upsert` built-in (rows upserted into the target
                  table in one transaction per batch)
  stream-load     after snapshot-load, with the node stopped: --changes changes written by
                  set-based statements of 10,000 rows each (80% updates, 10% inserts, 10%
                  deletes; the writer's time is printed apart), then the node started again on
                  the same data directory, measured from its start to its status counting every
                  change delivered; the target is then checked equal to the source (count and
                  checksum over every row)
  latency         the same node, with rows inserted at a fixed --rate for --seconds (one
                  statement every 20 ms, each its own transaction, `created_at` set to
                  clock_timestamp()): p50/p99/max of `loaded_at - created_at` of those rows in the
                  target, both stamped by the same server's clock

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
    row = "(id, customer, amount, note, created_at)::text"
    return psql(url, f"SELECT count(*) || ':' || md5(string_agg({row}, '|' ORDER BY id)) FROM {TABLE} t")


COLUMNS = "id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(10,2), note text, created_at timestamptz NOT NULL"
LOADED = "loaded_at timestamptz NOT NULL DEFAULT clock_timestamp()"


def setup(url: str, rows: int) -> None:
    cleanup(url)
    psql(url, f"""CREATE TABLE {TABLE} ({COLUMNS});
        INSERT INTO {TABLE} SELECT g, 'customer ' || g, (g % 10000) / 100.0,
               CASE WHEN g % 5 = 0 THEN NULL ELSE 'note ' || g END, now()
        FROM generate_series(1, {rows}) g;
        ANALYZE {TABLE};""")
    psql(target_url(url), f"CREATE TABLE {TABLE} ({COLUMNS}, {LOADED})")


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

    def __init__(self, sluice: str, scratch: Path, url: str, function: str, batch: int,
                 data: Path | None = None):
        project = scratch / f"project-{function}"
        self.data = data or scratch / f"data-{function}-{time.time_ns()}"
        data = self.data
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


def write_changes(url: str, rows: int, changes: int) -> float:
    """Writes `changes` changes as set-based statements of at most 10,000 rows, each its own
    transaction, through one psql session: 80% updates of existing rows, 10% inserts of new
    ids, 10% deletes of existing rows. Returns the seconds taken."""
    inserts = deletes = changes // 10
    updates = changes - inserts - deletes
    step = 10_000
    sql = []
    for lo in range(1, updates + 1, step):
        hi = min(lo + step - 1, updates)
        sql.append(f"UPDATE {TABLE} SET amount = amount + 1, note = 'changed' WHERE id BETWEEN {lo} AND {hi};")
    for lo in range(rows + 1, rows + inserts + 1, step):
        hi = min(lo + step - 1, rows + inserts)
        sql.append(f"INSERT INTO {TABLE} SELECT g, 'new ' || g, 1.5, NULL, now() FROM generate_series({lo}, {hi}) g;")
    for lo in range(rows - deletes + 1, rows + 1, step):
        hi = min(lo + step - 1, rows)
        sql.append(f"DELETE FROM {TABLE} WHERE id BETWEEN {lo} AND {hi};")
    start = time.monotonic()
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-Atq"], input="\n".join(sql),
                   check=True, capture_output=True, text=True)
    return time.monotonic() - start


def write_paced(url: str, first_id: int, rate: int, seconds: float) -> tuple[int, float]:
    """Inserts rows from `first_id` at `rate` rows/s for `seconds`, 50 statements a second,
    each its own transaction (`synchronous_commit` off) with `created_at = clock_timestamp()`.
    Returns the rows written and the seconds until the last one was committed."""
    per = max(1, rate // 50)
    period = per / rate
    proc = subprocess.Popen(["psql", url, "-v", "ON_ERROR_STOP=1", "-Atq"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    proc.stdin.write("SET synchronous_commit = off;\n")
    start = time.monotonic()
    written = 0
    tick = 0
    while time.monotonic() - start < seconds:
        lo = first_id + written
        proc.stdin.write(f"INSERT INTO {TABLE} SELECT g, 'paced ' || g, 2.5, NULL, clock_timestamp() "
                         f"FROM generate_series({lo}, {lo + per - 1}) g;\n")
        proc.stdin.flush()
        written += per
        tick += 1
        pause = start + tick * period - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("the paced writer failed")
    return written, time.monotonic() - start


def latency(url: str, first_id: int) -> dict:
    """p50, p99 and max of `loaded_at - created_at` (ms) of the target's rows from `first_id`."""
    out = psql(target_url(url), f"""SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d),
            percentile_cont(0.99) WITHIN GROUP (ORDER BY d), max(d), count(*)
        FROM (SELECT extract(epoch FROM loaded_at - created_at) * 1000 AS d
              FROM {TABLE} WHERE id >= {first_id}) s""")
    p50, p99, worst, n = out.split("|")
    return {"p50_ms": float(p50), "p99_ms": float(p99), "max_ms": float(worst), "rows": int(n)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--changes", type=int, default=100_000)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--rate", type=int, default=10_000, help="rows/s of the latency run")
    p.add_argument("--seconds", type=float, default=10, help="length of the latency run")
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
        finally:
            node.stop()
        results["stream-writes"] = write_changes(a.url, a.rows, a.changes)
        node = Node(a.sluice, scratch, a.url, "load", a.batch_size, data=node.data)
        try:
            wait("every change delivered", a.timeout, lambda: node.status()["events"] >= a.changes)
            results["stream-load"] = time.monotonic() - node.start
            source, target = digest(a.url), digest(target_url(a.url))
            if source != target:
                raise SystemExit(f"the target differs from the source: {target} != {source}")
            first = a.rows + a.changes
            paced, results["latency-writes"] = write_paced(a.url, first, a.rate, a.seconds)
            wait("the paced rows loaded", a.timeout,
                 lambda: psql(target_url(a.url), f"SELECT count(*) FROM {TABLE} WHERE id >= {first}") == str(paced))
            lat = latency(a.url, first)
            results["latency-rows"] = paced
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
    print(f"(the {a.changes:,} changes took {results['stream-writes']:.2f} s to write, before the node started)")
    achieved = results["latency-rows"] / results["latency-writes"]
    print(f"| latency at {achieved:,.0f} rows/s ({results['latency-rows']:,} rows) | p50 {lat['p50_ms']:.1f} ms | "
          f"p99 {lat['p99_ms']:.1f} ms | max {lat['max_ms']:.1f} ms |")
    out = ROOT / "bench/out/cdc.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": vars(a), "machine": platform.platform(), "cpus": os.cpu_count(),
        "load_before": load_before, "load_after": load_after,
        "postgres": psql(a.url, "SHOW server_version"),
        "seconds": results, "per_second": rows, "latency": lat,
    }, indent=2))
    print(f"Wrote {out}")


if __name__ == "__main__":
    main()
