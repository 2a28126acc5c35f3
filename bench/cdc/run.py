#!/usr/bin/env python3
"""CDC benchmark: a PostgreSQL or MariaDB table's snapshot and change stream through
`sluice serve`, beside the server's fastest way out of the same rows.

    python3 bench/cdc/run.py [--source postgres|mariadb|all] [--rows 1000000] [--changes 100000]
                             [--batch-size 1000] [--snapshot-parallel N] [--rate 10000]
                             [--seconds 10] [--url URL]
                             [--no-build] [--sluice PATH] [--scratch bench/.peers/cdc]
                             [--timeout 1800]

`--source` picks the database (default `postgres`); `all` runs PostgreSQL, then MariaDB, each
with its default URL. `--url` replaces the one source's URL (default
postgres://postgres@127.0.0.1:5432/test, mysql://root@127.0.0.1:3306/test).

Setup: a table of --rows rows (id bigint key, text, numeric(10,2), nullable text, timestamp) in
the source database, and an empty copy of it in the target (PostgreSQL: database `postgres`;
MariaDB: database `bench_cdc_target`, created here and dropped at the end) with one more column,
`loaded_at`, stamped by the target server when the row is inserted.

  peer            PostgreSQL: `psql -c "COPY (SELECT * FROM t ORDER BY id) TO STDOUT" > /dev/null`;
                  MariaDB: `mysql --quick -N -B -e "SELECT * FROM t ORDER BY id" > /dev/null`: the
                  server's fastest way out for the same rows, the peer of the snapshot
  snapshot-ack    `sluice serve` with a CDC trigger into the built-in `ack` function: the
                  snapshot (Canal-JSON) with a sink that does nothing; measured from the node's
                  start to its status showing every row delivered and the phase `streaming`
  snapshot-load   the same into the `postgres-upsert` or `mysql-upsert` built-in (rows upserted
                  into the target table in one transaction per batch)
  stream-load     after snapshot-load, with the node stopped: --changes changes written by
                  set-based statements of 10,000 rows each (80% updates, 10% inserts, 10%
                  deletes; the writer's time is printed apart), then the node started again on
                  the same data directory; its status is read every 50 ms: changes/s from the
                  first batch delivered to the last (the resume, from the node's start to its
                  first batch delivered, is printed apart); the target is then checked equal to
                  the source (count and checksum over every row)
  latency         the same node, with rows inserted at a fixed --rate for --seconds (one
                  statement every 20 ms, each its own transaction, `created_at` the time the row
                  was made: clock_timestamp() / SYSDATE(6)): p50/p99/max of
                  `loaded_at - created_at` of those rows in the target, both stamped by the same
                  server's clock

Prints a markdown table and writes bench/out/cdc.json (PostgreSQL) or bench/out/cdc-mariadb.json.
The slot, publication, tables and target database are dropped at the end.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TABLE = "bench_cdc_orders"


class Database:
    """What differs between the sources: clients, SQL dialect, the peer and the trigger."""

    name: str
    default_url: str
    peer: str  # the peer's key in the results
    peer_title: str  # and its name in the table's header
    session: str = ""  # SQL that starts the paced writer's session
    out: str  # the JSON written, under bench/out
    loader: str  # the built-in that upserts into the target
    now: str  # the time a row is made, in an INSERT's SELECT list
    columns: str  # the table's columns
    loaded: str  # the target's extra column
    analyze: str  # the statement that updates the table's statistics
    delay_ms: str  # `loaded_at - created_at` in milliseconds

    def __init__(self, url: str):
        self.url = url

    def client(self, target: bool) -> list[str]:
        """The command line client of the source (or the target) database, reading SQL from stdin."""
        raise NotImplementedError

    def query(self, sql: str, target: bool = False) -> list[list[str]]:
        """The rows of `sql` (one or more statements), each a list of its columns' text."""
        out = subprocess.run(self.client(target), input=sql, check=True, capture_output=True, text=True)
        return [line.split("\t") for line in out.stdout.splitlines()]

    def value(self, sql: str, target: bool = False) -> str:
        """The one value `sql` answers."""
        return self.query(sql, target)[0][0]

    def series(self, lo: int, hi: int) -> str:
        """A FROM item whose column `g` runs from `lo` to `hi`."""
        raise NotImplementedError

    def insert(self, lo: int, hi: int, customer: str, amount: str, note: str) -> str:
        """An INSERT of ids `lo`..`hi`; the expressions may use the id `g`."""
        return (f"INSERT INTO {TABLE} SELECT g, concat('{customer} ', g), {amount}, {note}, {self.now} "
                f"FROM {self.series(lo, hi)};")

    def setup(self, rows: int) -> None:
        """Makes the source table of `rows` rows (in statements of 100,000) and the empty target."""
        self.cleanup()
        self.query(f"CREATE TABLE {TABLE} ({self.columns});\n" + "\n".join(
            self.insert(lo, hi, "customer", "(g % 10000) / 100.0",
                        "CASE WHEN g % 5 = 0 THEN NULL ELSE concat('note ', g) END")
            for lo, hi in ranges(1, rows, 100_000)) + f"\n{self.analyze}")
        self.create_target()

    def create_target(self) -> None:
        """Makes the empty target table: the source's columns and `loaded_at`."""
        raise NotImplementedError

    def cleanup(self) -> None:
        """Drops what setup and the source made."""
        raise NotImplementedError

    def release(self) -> None:
        """Frees what a stopped node holds in the source (a replication slot), so that the next
        node with a new data directory starts with a snapshot again."""

    def peer_command(self) -> list[str]:
        """The peer: the server's fastest way out for the table's rows in key order."""
        raise NotImplementedError

    #: More settings of the trigger, `, name: value` each.
    settings = ""

    def project(self, handler: str, batch: int) -> str:
        """The project's sluice.yaml: one trigger on the table into `handler` (`ack` or the loader)."""
        options = "" if handler == "ack" else f", options: {{ url: '{self.target_url()}' }}"
        return (f"functions:\n  sink: {{ runtime: builtin, handler: {handler}{options} }}\n"
                f"triggers:\n  {TABLE}: {{ cdc: '{self.url}', tables: [{self.captured()}], function: sink, "
                f"batch_size: {batch}, batch_timeout: 200ms{self.settings} }}\n")

    def target_url(self) -> str:
        """The URL of the target database, for the loader."""
        raise NotImplementedError

    def captured(self) -> str:
        """The table as the trigger's `tables` names it."""
        raise NotImplementedError

    def digest(self, target: bool) -> str:
        """Count and checksum over every row of the source (or target) table."""
        raise NotImplementedError

    def delays(self, first_id: int) -> list[float]:
        """`loaded_at - created_at` (ms) of the target's rows from `first_id`."""
        rows = self.query(f"SELECT {self.delay_ms} FROM {TABLE} WHERE id >= {first_id}", target=True)
        return [float(r[0]) for r in rows]

    def version(self) -> str:
        """The server's version."""
        raise NotImplementedError


class Postgres(Database):
    name = "postgres"
    default_url = "postgres://postgres@127.0.0.1:5432/test"
    peer = "copy"
    peer_title = "COPY"
    out = "cdc.json"
    loader = "postgres-upsert"
    now = "clock_timestamp()"
    columns = ("id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(10,2), note text, "
               "created_at timestamptz NOT NULL")
    loaded = "loaded_at timestamptz NOT NULL DEFAULT clock_timestamp()"
    analyze = f"ANALYZE {TABLE};"
    delay_ms = "extract(epoch FROM loaded_at - created_at) * 1000"

    def target_url(self) -> str:
        return self.url.rsplit("/", 1)[0] + "/postgres"

    def client(self, target: bool) -> list[str]:
        return ["psql", self.target_url() if target else self.url, "-v", "ON_ERROR_STOP=1", "-Atq", "-F", "\t"]

    def series(self, lo: int, hi: int) -> str:
        return f"generate_series({lo}, {hi}) g"

    def create_target(self) -> None:
        self.query(f"CREATE TABLE {TABLE} ({self.columns}, {self.loaded})", target=True)

    def slot(self) -> str:
        return f"sluice_{TABLE}"

    def release(self) -> None:
        wait("the slot to be released", 30, lambda: self.value(
            f"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{self.slot()}' AND active") == "0")
        self.query(f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{self.slot()}'")

    def cleanup(self) -> None:
        self.query(f"SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                   f"WHERE slot_name = '{self.slot()}' AND active_pid IS NOT NULL")
        for _ in range(50):
            try:
                self.query(f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{self.slot()}'")
                break
            except subprocess.CalledProcessError:
                time.sleep(0.1)
        self.query(f"DROP PUBLICATION IF EXISTS {self.slot()}; DROP TABLE IF EXISTS {TABLE}")
        self.query(f"DROP TABLE IF EXISTS {TABLE}", target=True)

    def peer_command(self) -> list[str]:
        return ["psql", self.url, "-Atqc", f"COPY (SELECT * FROM {TABLE} ORDER BY id) TO STDOUT"]

    def captured(self) -> str:
        return f"public.{TABLE}"

    def digest(self, target: bool) -> str:
        row = "(id, customer, amount, note, created_at)::text"
        return self.value(f"SELECT count(*) || ':' || md5(string_agg({row}, '|' ORDER BY id)) FROM {TABLE} t", target)

    def version(self) -> str:
        return self.value("SHOW server_version")


class Mariadb(Database):
    name = "mariadb"
    default_url = "mysql://root@127.0.0.1:3306/test"
    peer = "mysql"
    peer_title = "mysql -B"
    out = "cdc-mariadb.json"
    loader = "mysql-upsert"
    # NOW(6) is the statement's start; SYSDATE(6) the time the row is made.
    now = "SYSDATE(6)"
    columns = ("id bigint PRIMARY KEY, customer varchar(64) NOT NULL, amount decimal(10,2), "
               "note varchar(64), created_at datetime(6) NOT NULL")
    # The start of the loader's statement that inserted the row.
    loaded = "loaded_at datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"
    analyze = f"ANALYZE TABLE {TABLE};"
    delay_ms = "TIMESTAMPDIFF(MICROSECOND, created_at, loaded_at) / 1000"
    TARGET_DB = "bench_cdc_target"

    def __init__(self, url: str):
        super().__init__(url)
        u = urllib.parse.urlsplit(url)
        self.login = ["-h", u.hostname or "127.0.0.1", "-P", str(u.port or 3306), "-u", u.username or "root"]
        if u.password:
            self.login.append(f"-p{urllib.parse.unquote(u.password)}")
        self.db = u.path.lstrip("/")

    def target_url(self) -> str:
        return self.url.rsplit("/", 1)[0] + "/" + self.TARGET_DB

    def client(self, target: bool) -> list[str]:
        # Both sessions in UTC, as the loader's is, so that the two timestamps compare.
        return ["mysql", *self.login, "-N", "-B", "--init-command=SET time_zone = '+00:00'",
                self.TARGET_DB if target else self.db]

    def series(self, lo: int, hi: int) -> str:
        return f"(SELECT seq AS g FROM seq_{lo}_to_{hi}) s"

    def create_target(self) -> None:
        self.query(f"CREATE DATABASE {self.TARGET_DB};\n"
                   f"CREATE TABLE {self.TARGET_DB}.{TABLE} ({self.columns}, {self.loaded})")

    def cleanup(self) -> None:
        self.query(f"DROP TABLE IF EXISTS {TABLE}; DROP DATABASE IF EXISTS {self.TARGET_DB}")

    def peer_command(self) -> list[str]:
        # --quick: rows are written as they arrive, not after the whole result is held.
        return ["mysql", *self.login, "--quick", "-N", "-B", "-e", f"SELECT * FROM {TABLE} ORDER BY id", self.db]

    def captured(self) -> str:
        return TABLE

    def digest(self, target: bool) -> str:
        row = "CONCAT_WS('|', id, customer, amount, COALESCE(note, '<null>'), created_at)"
        return ":".join(self.query(f"SELECT COUNT(*), BIT_XOR(CRC32({row})) FROM {TABLE}", target)[0])

    def version(self) -> str:
        return self.value("SELECT VERSION()")


SOURCES = {db.name: db for db in (Postgres, Mariadb)}


class Node:
    """`sluice serve` of a one-trigger project."""

    def __init__(self, sluice: str, scratch: Path, db: Database, handler: str, batch: int,
                 data: Path | None = None):
        project = scratch / f"project-{db.name}-{handler}"
        self.data = data or scratch / f"data-{db.name}-{handler}-{time.time_ns()}"
        project.mkdir(parents=True, exist_ok=True)
        (project / "sluice.yaml").write_text(db.project(handler, batch))
        self.start = time.monotonic()
        self.proc = subprocess.Popen([sluice, "--data-dir", str(self.data), "serve", str(project), "--listen", "127.0.0.1:0"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in self.proc.stderr:
            if "on http://" in line:
                self.addr = line.split("on http://")[1].split()[0]
                break
        else:
            raise SystemExit("sluice serve did not start")

    def status(self) -> dict:
        """The source's status; a failed source ends the run."""
        with urllib.request.urlopen(f"http://{self.addr}/v1/cdc") as r:
            s = json.loads(r.read())["sources"][0]
        if s["phase"] == "failed":
            raise SystemExit(f"source failed: {s.get('error')}")
        return s

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
        return s["phase"] == "streaming" and sum(t["rows"] for t in s["snapshot"].values()) >= rows
    wait("the snapshot", timeout, finished)
    return time.monotonic() - node.start


def ranges(lo: int, hi: int, step: int = 10_000):
    """(first, last) pairs covering `lo`..`hi` in steps of `step`."""
    for a in range(lo, hi + 1, step):
        yield a, min(a + step - 1, hi)


def write_changes(db: Database, rows: int, changes: int) -> float:
    """Writes `changes` changes as set-based statements of at most 10,000 rows, each its own
    transaction, through one client session: 80% updates of existing rows, 10% inserts of new
    ids, 10% deletes of existing rows. Returns the seconds taken."""
    inserts = deletes = changes // 10
    updates = changes - inserts - deletes
    sql = [f"UPDATE {TABLE} SET amount = amount + 1, note = 'changed' WHERE id BETWEEN {lo} AND {hi};"
           for lo, hi in ranges(1, updates)]
    sql += [db.insert(lo, hi, "new", "1.5", "NULL") for lo, hi in ranges(rows + 1, rows + inserts)]
    sql += [f"DELETE FROM {TABLE} WHERE id BETWEEN {lo} AND {hi};" for lo, hi in ranges(rows - deletes + 1, rows)]
    start = time.monotonic()
    db.query("\n".join(sql))
    return time.monotonic() - start


def write_paced(db: Database, first_id: int, rate: int, seconds: float) -> tuple[int, float]:
    """Inserts rows from `first_id` at `rate` rows/s for `seconds`, 50 statements a second,
    each its own durable transaction, with `created_at` the time the row is made. Returns the
    rows written and the seconds until the last one was committed. (With PostgreSQL's
    `synchronous_commit` off, a commit reaches the replication stream only when the WAL writer
    flushes it, up to `wal_writer_delay` later: the latency would be the server's.)"""
    per = max(1, rate // 50)
    period = per / rate
    proc = subprocess.Popen(db.client(False), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    proc.stdin.write(db.session + "\n")
    start = time.monotonic()
    written = 0
    tick = 0
    while time.monotonic() - start < seconds:
        lo = first_id + written
        proc.stdin.write(db.insert(lo, lo + per - 1, "paced", "2.5", "NULL") + "\n")
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


def percentile(sorted_values: list[float], q: float) -> float:
    """The `q` quantile, interpolated between the nearest ranks (as `percentile_cont`)."""
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def latency(db: Database, first_id: int) -> dict:
    """p50, p99 and max of `loaded_at - created_at` (ms) of the target's rows from `first_id`."""
    d = sorted(db.delays(first_id))
    return {"p50_ms": percentile(d, 0.5), "p99_ms": percentile(d, 0.99), "max_ms": d[-1], "rows": len(d)}


def run(db: Database, a: argparse.Namespace, scratch: Path) -> None:
    """Runs every measurement against `db`, prints the table and writes the JSON."""
    load_before = os.getloadavg()
    db.setup(a.rows)
    results = {}
    try:
        start = time.monotonic()
        with open(os.devnull, "wb") as null:
            subprocess.run(db.peer_command(), check=True, stdout=null)
        results[db.peer] = time.monotonic() - start
        node = Node(a.sluice, scratch, db, "ack", a.batch_size)
        try:
            results["snapshot-ack"] = snapshot_run(node, a.rows, a.timeout)
        finally:
            node.stop()
        db.release()
        node = Node(a.sluice, scratch, db, db.loader, a.batch_size)
        try:
            results["snapshot-load"] = snapshot_run(node, a.rows, a.timeout)
        finally:
            node.stop()
        results["stream-writes"] = write_changes(db, a.rows, a.changes)
        node = Node(a.sluice, scratch, db, db.loader, a.batch_size, data=node.data)
        try:
            first_seen = []

            def delivered() -> bool:
                events = node.status()["events"]
                if events and not first_seen:
                    first_seen.extend([time.monotonic(), events])
                return events >= a.changes

            wait("every change delivered", a.timeout, delivered)
            results["stream-resume"] = first_seen[0] - node.start
            results["stream-load"] = time.monotonic() - first_seen[0]
            results["stream-counted"] = a.changes - first_seen[1]
            source, target = db.digest(False), db.digest(True)
            if source != target:
                raise SystemExit(f"the target differs from the source: {target} != {source}")
            first = a.rows + a.changes
            paced, results["latency-writes"] = write_paced(db, first, a.rate, a.seconds)
            wait("the paced rows loaded", a.timeout,
                 lambda: db.value(f"SELECT count(*) FROM {TABLE} WHERE id >= {first}", target=True) == str(paced))
            lat = latency(db, first)
            results["latency-rows"] = paced
        finally:
            node.stop()
    finally:
        db.cleanup()
    load_after = os.getloadavg()
    rows = {
        db.peer: a.rows / results[db.peer],
        "snapshot-ack": a.rows / results["snapshot-ack"],
        "snapshot-load": a.rows / results["snapshot-load"],
        "stream-load": results["stream-counted"] / results["stream-load"],
    }
    print(f"{db.name} {db.version()}, load {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print(f"| run | seconds | rows or changes/s | vs {db.peer_title} |")
    print(f"|---|---|---|---|")
    for name in [db.peer, "snapshot-ack", "snapshot-load", "stream-load"]:
        ratio = "" if name in (db.peer, "stream-load") else f"{rows[name] / rows[db.peer]:.2f}x"
        print(f"| {name} | {results[name]:.2f} | {rows[name]:,.0f} | {ratio} |")
    print(f"(the {a.changes:,} changes took {results['stream-writes']:.2f} s to write, before the node started; "
          f"the node delivered the first {results['stream-resume']:.2f} s after its start)")
    achieved = results["latency-rows"] / results["latency-writes"]
    print(f"| latency at {achieved:,.0f} rows/s ({results['latency-rows']:,} rows) | p50 {lat['p50_ms']:.1f} ms | "
          f"p99 {lat['p99_ms']:.1f} ms | max {lat['max_ms']:.1f} ms |")
    out = ROOT / "bench/out" / db.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": {**vars(a), "source": db.name, "url": db.url}, "machine": platform.platform(),
        "cpus": os.cpu_count(), "load_before": load_before, "load_after": load_after,
        db.name: db.version(), "seconds": results, "per_second": rows, "latency": lat,
    }, indent=2))
    print(f"Wrote {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", choices=[*SOURCES, "all"], default="postgres")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--changes", type=int, default=100_000)
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--snapshot-parallel", type=int,
                   help="the trigger's snapshot_parallel (PostgreSQL: connections copying the snapshot)")
    p.add_argument("--rate", type=int, default=10_000, help="rows/s of the latency run")
    p.add_argument("--seconds", type=float, default=10, help="length of the latency run")
    p.add_argument("--url", help="the source's URL (not with --source all)")
    p.add_argument("--sluice", default=str(ROOT / "target/release/sluice"))
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--scratch", default=str(ROOT / "bench/.peers/cdc"))
    p.add_argument("--timeout", type=float, default=1800)
    a = p.parse_args()
    if a.url and a.source == "all":
        p.error("--url names one source's URL; give --source postgres or mariadb")
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "sluice"], cwd=ROOT, check=True)
    scratch = Path(a.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    for name in SOURCES if a.source == "all" else [a.source]:
        db = SOURCES[name](a.url or SOURCES[name].default_url)
        if a.snapshot_parallel and name == "postgres":
            db.settings = f", snapshot_parallel: {a.snapshot_parallel}"
        run(db, a, scratch)


if __name__ == "__main__":
    main()
