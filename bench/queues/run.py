#!/usr/bin/env python3
"""Queue benchmark: durable send + consume through `sluice serve`, beside RabbitMQ and Redis Streams.

    python3 bench/queues/run.py [--runs 1] [--messages 200000] [--senders 8] [--rate 0]
                                [--configs sqlite-ack,sqlite-python,pg-ack,pg-python,rabbitmq,redis]
                                [--concurrency 4] [--store postgres://postgres@127.0.0.1:5432/test]
                                [--rabbitmq amqp://guest:guest@127.0.0.1:5672/%2F]
                                [--redis redis://127.0.0.1:6379/0]
                                [--timeout 900] [--scratch bench/.peers/queues] [--no-build]

Each run sends --messages small JSON messages in batches of 100 from --senders processes, each
over one keep-alive connection, while consumers take them in batches of 100 and acknowledge
them; measured from the first send to the last acknowledgement:

  sqlite-ack      `sluice serve` on its own SQLite store (WAL, synchronous=FULL), REST sends
                  (`POST /v1/queues/events/messages` with 100 messages), the built-in `ack`
                  consumer (`batch_size: 100`, `max_concurrency: --concurrency`)
  sqlite-python   the same with a Python consumer (a trivial SQS handler over the Lambda event)
  pg-ack          the built-in consumer on PostgreSQL (a fresh schema per run)
  pg-python       the Python consumer on PostgreSQL
  rabbitmq        RabbitMQ: a durable queue, persistent messages, publisher confirms (each
                  sender publishes 100 and waits for their confirms), --concurrency consumers
                  with prefetch 100 and manual acks (one multiple-ack per 100 messages)
  redis           Redis Streams: XADD pipelined 100 at a time, --concurrency consumers in one
                  group with XREADGROUP COUNT 100 and one XACK per batch (durable only as far as
                  the server's appendonly/fsync settings, which are reported)

With --rate R the senders together send R messages/s on a fixed schedule (open loop), so that
latency is measured below saturation. Reported (median of --runs): messages/s end to end, sends/s over the send phase, and the
send-to-consume latency p50/p99. For Python consumers and the peers every message's latency is
recorded (ack time minus the send time); the built-in consumer records nothing, so its latency
is the age of the oldest message still on the queue, sampled every --poll seconds while the queue
drains (FIFO delivery makes that the latency of the message being consumed). The end of a Sluice
run is the first poll of `GET /v1/queues` that shows nothing ready, delayed or in flight (polled
ten times as often once fewer than 2,000 are left: counting scans the queue under the store's
lock, so frequent polls would slow what they measure).
Ratios: against Cloudflare Queues' published 5,000 messages/s per queue, and the goal of 50,000/s.
Nodes start with a fresh --data-dir under --scratch (on the repo's disk, so that fsync costs what
it costs) and get SIGTERM then SIGKILL after each run, and SIGTERM if this script dies. pika and
redis-py are installed on first use into a venv under --scratch. Prints a markdown table and writes
bench/out/queues.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import importlib.util
import json
import multiprocessing as mp
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
REPO = BENCH.parent
_SPEC = importlib.util.spec_from_file_location("server_bench", BENCH / "server" / "run.py")
SERVER_BENCH = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(SERVER_BENCH)
Node, log = SERVER_BENCH.Node, SERVER_BENCH.log  # the server benchmark's node and logging
QUEUE = "events"
BATCH = 100
# name -> (system, store, consumer)
CONFIGS = {
    "sqlite-ack": ("sluice", "sqlite", "ack"),
    "sqlite-python": ("sluice", "sqlite", "python"),
    "pg-ack": ("sluice", "postgres", "ack"),
    "pg-python": ("sluice", "postgres", "python"),
    "rabbitmq": ("rabbitmq", None, "python"),
    "redis": ("redis", None, "python"),
}
CLOUDFLARE_PER_QUEUE = 5_000
GOAL = 50_000
# Messages left on a queue under which its depth is polled ten times as often.
FEW = 2_000

CONSUMER_PY = '''\
import os
import time

OUT = os.environ["OUT"]


def handler(event, context):
    now = time.time() * 1000
    lines = "".join(
        f"{r['messageId']} {now - int(r['attributes']['SentTimestamp']):.1f}\\n" for r in event["Records"]
    )
    with open(OUT, "a") as out:
        out.write(lines)
    return {"batchItemFailures": []}
'''


def project(run_dir: Path, consumer: str, concurrency: int, out: Path) -> Path:
    """Writes the project of a Sluice run: one queue, consumed by `ack` or a Python function."""
    proj = run_dir / "project"
    proj.mkdir(parents=True)
    if consumer == "ack":
        function = "{ runtime: builtin, handler: ack }"
    else:
        (proj / "consume.py").write_text(CONSUMER_PY)
        function = (f"{{ runtime: python3, handler: consume.handler, concurrency: {concurrency}, "
                    f"env: {{ OUT: '{out}' }} }}")
    (proj / "sluice.yaml").write_text(
        f"functions:\n  consume: {function}\n"
        f"queues:\n  {QUEUE}: {{ consumer: consume, batch_size: {BATCH}, batch_timeout: 100ms, "
        f"max_concurrency: {concurrency} }}\n")
    return proj


def shares(total: int, parts: int) -> list[int]:
    """`total` messages split into `parts` whole batches (the last part takes the remainder)."""
    batches = -(-total // BATCH)
    out = []
    for i in range(parts):
        n = batches // parts + (1 if i < batches % parts else 0)
        out.append(n * BATCH)
    out[-1] -= sum(out) - total
    return [n for n in out if n > 0]


def body(n: int) -> str:
    return json.dumps({"n": n, "t": time.time() * 1000})


class Pace:
    """Holds a sender to `rate` messages/s from its first message on (no limit when 0)."""

    def __init__(self, rate: float):
        self.rate, self.start = rate, time.time()

    def wait(self, sent: int) -> None:
        if self.rate > 0:
            time.sleep(max(0.0, self.start + sent / self.rate - time.time()))


# --- senders (one process each; the start time and the count go back over a pipe) ---

def send_sluice(addr: str, count: int, first: int, rate: float, pipe) -> None:
    pace = Pace(rate)
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    path = f"/v1/queues/{QUEUE}/messages"
    sent, errors = 0, 0
    while sent < count:
        pace.wait(sent)
        k = min(BATCH, count - sent)
        payload = json.dumps({"messages": [{"body": body(first + sent + i)} for i in range(k)]})
        conn.request("POST", path, payload, {"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            errors += 1
            if errors > 10:
                raise RuntimeError(f"send failed: {r.status} {data[:300]!r}")
            time.sleep(0.1)
            continue
        sent += k
    pipe.send({"sent": sent, "errors": errors, "done": time.time()})


def send_rabbitmq(url: str, count: int, first: int, rate: float, pipe) -> None:
    """Publishes 100 persistent messages, waits for their confirms, publishes the next 100."""
    import pika
    props = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)
    state = {"sent": 0, "tag": 0, "outstanding": set(), "errors": 0}
    pace = Pace(rate)

    def publish(ch) -> None:
        pace.wait(state["sent"])
        k = min(BATCH, count - state["sent"])
        for i in range(k):
            ch.basic_publish("", QUEUE, body(first + state["sent"] + i), props)
            state["tag"] += 1
            state["outstanding"].add(state["tag"])
        state["sent"] += k

    def confirmed(ch, frame) -> None:
        m = frame.method
        if isinstance(m, pika.spec.Basic.Nack):
            state["errors"] += 1
        done = {t for t in state["outstanding"] if t <= m.delivery_tag} if m.multiple \
            else {m.delivery_tag}
        state["outstanding"] -= done
        if not state["outstanding"]:
            if state["sent"] < count:
                publish(ch)
            else:
                ch.connection.close()

    def opened(conn) -> None:
        def channel(ch) -> None:
            ch.confirm_delivery(lambda frame: confirmed(ch, frame), callback=lambda _: publish(ch))
        conn.channel(on_open_callback=channel)

    conn = pika.SelectConnection(pika.URLParameters(url), on_open_callback=opened,
                                 on_close_callback=lambda c, _e: c.ioloop.stop())
    conn.ioloop.start()
    if state["errors"] or state["sent"] < count:
        raise RuntimeError(f"RabbitMQ refused {state['errors']} publishes")
    pipe.send({"sent": count, "errors": 0, "done": time.time()})


def send_redis(url: str, count: int, first: int, rate: float, pipe) -> None:
    import redis
    r = redis.Redis.from_url(url)
    pace = Pace(rate)
    sent = 0
    while sent < count:
        pace.wait(sent)
        k = min(BATCH, count - sent)
        p = r.pipeline(transaction=False)
        for i in range(k):
            p.xadd(QUEUE, {"b": body(first + sent + i)})
        p.execute()
        sent += k
    pipe.send({"sent": count, "errors": 0, "done": time.time()})


# --- peer consumers (one process each; they stop when `done` reaches the total) ---

def consume_rabbitmq(url: str, total: int, done, pipe) -> None:
    import pika
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=BATCH)
    latencies, pending, last = [], None, 0
    unacked = 0
    for method, _props, payload in ch.consume(QUEUE, inactivity_timeout=0.05):
        if method is not None:
            latencies.append(time.time() * 1000 - json.loads(payload)["t"])
            pending, unacked = method.delivery_tag, unacked + 1
        if pending is not None and (unacked >= BATCH or method is None):
            ch.basic_ack(pending, multiple=True)
            with done.get_lock():
                done.value += unacked
            pending, unacked, last = None, 0, time.time()
        if done.value >= total:
            break
    ch.cancel()
    conn.close()
    pipe.send({"latencies": latencies, "last": last})


def consume_redis(url: str, total: int, done, name: str, pipe) -> None:
    import redis
    r = redis.Redis.from_url(url)
    latencies, last = [], 0
    while done.value < total:
        got = r.xreadgroup("bench", name, {QUEUE: ">"}, count=BATCH, block=100)
        if not got:
            continue
        entries = got[0][1]
        now = time.time() * 1000
        latencies.extend(now - json.loads(fields[b"b"])["t"] for _id, fields in entries)
        r.xack(QUEUE, "bench", *[i for i, _ in entries])
        with done.get_lock():
            done.value += len(entries)
        last = time.time()
    pipe.send({"latencies": latencies, "last": last})


def start(target, *args) -> tuple[mp.Process, object]:
    parent, child = mp.Pipe(duplex=False)
    p = mp.Process(target=target, args=(*args, child), daemon=True)
    p.start()
    return p, parent


def senders(target, where: str, total: int, parts: int, rate: float):
    out, first = [], 0
    for n in shares(total, parts):
        out.append(start(target, where, n, first, rate / parts))
        first += n
    return out


def collect(procs, timeout: float) -> list[dict]:
    deadline = time.time() + timeout
    results = []
    for p, pipe in procs:
        if not pipe.poll(max(0.0, deadline - time.time())):
            raise RuntimeError("a sender or consumer did not finish in time")
        results.append(pipe.recv())
        p.join(5)
    return results


def percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    values = sorted(values)
    at = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    return {"p50": round(at(0.50), 1), "p99": round(at(0.99), 1), "max": round(values[-1], 1),
            "samples": len(values)}


# --- runs ---

def get_json(addr: str, path: str) -> dict:
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", path)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    if r.status != 200:
        raise RuntimeError(f"GET {path}: {r.status} {data[:300]!r}")
    return json.loads(data)


def sluice_run(args, binary: Path, config: str, scratch: Path) -> dict:
    _, store_kind, consumer = CONFIGS[config]
    run_dir = scratch / f"{config}-{uuid.uuid4().hex[:8]}"
    schema = f"sluice_bench_{uuid.uuid4().hex[:12]}"
    store = f"{args.store}{'&' if '?' in args.store else '?'}schema={schema}" \
        if store_kind == "postgres" else None
    out = run_dir / "consumed.txt"
    node = None
    try:
        proj = project(run_dir, consumer, args.concurrency, out)
        node = Node(binary, run_dir / "data", store, proj)
        t0 = time.time()
        procs = senders(send_sluice, node.addr, args.messages, args.senders, args.rate)
        ages, sends_done, end, left = [], None, None, args.messages
        deadline = t0 + args.timeout
        while time.time() < deadline:
            # Counting the queue scans it: look often only near the end.
            time.sleep(args.poll if left > FEW else args.poll / 10)
            if sends_done is None and all(pipe.poll() for _, pipe in procs):
                sent = collect(procs, 10)
                sends_done = max(s["done"] for s in sent)
            stats = next(q["stats"] for q in get_json(node.addr, "/v1/queues")["queues"]
                         if q["name"] == QUEUE)
            now = time.time()
            if stats.get("oldestSentMs"):
                ages.append(now * 1000 - stats["oldestSentMs"])
            left = stats["ready"] + stats["delayed"] + stats["inFlight"]
            if sends_done is not None and left == 0:
                end = now
                break
            if stats["failed"]:
                raise RuntimeError(f"{stats['failed']} messages failed")
        if end is None:
            raise RuntimeError(f"not drained in {args.timeout}s")
        report = {"rc": 0, "messages": args.messages, "seconds": round(end - t0, 3),
                  "messages_per_s": args.messages / (end - t0),
                  "sends_per_s": args.messages / (sends_done - t0),
                  "errors": sum(s["errors"] for s in sent)}
        if consumer == "python":
            lines = out.read_text().split("\n")[:-1]
            ids = {ln.split(" ", 1)[0] for ln in lines}
            report["latency_ms"] = percentiles([float(ln.split(" ", 1)[1]) for ln in lines])
            report["latency_kind"] = "per message"
            report["consumed"], report["distinct"] = len(lines), len(ids)
            if len(ids) != args.messages:
                report["rc"] = 1
        else:
            report["latency_ms"] = percentiles(ages)
            report["latency_kind"] = "oldest message age"
        return report
    finally:
        if node:
            node.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
        if store and shutil.which("psql"):
            subprocess.run(["psql", args.store.split("?")[0], "-qc",
                            f"DROP SCHEMA IF EXISTS {schema} CASCADE"], capture_output=True)


def peer_run(args, config: str) -> dict:
    done = mp.Value("q", 0)
    if config == "rabbitmq":
        import pika
        conn = pika.BlockingConnection(pika.URLParameters(args.rabbitmq))
        ch = conn.channel()
        ch.queue_delete(QUEUE)
        ch.queue_declare(QUEUE, durable=True)
        conn.close()
        consumers = [start(consume_rabbitmq, args.rabbitmq, args.messages, done)
                     for _ in range(args.concurrency)]
        send, where = send_rabbitmq, args.rabbitmq
    else:
        import redis
        r = redis.Redis.from_url(args.redis)
        r.delete(QUEUE)
        r.xgroup_create(QUEUE, "bench", id="0", mkstream=True)
        consumers = [start(consume_redis, args.redis, args.messages, done, f"c{i}")
                     for i in range(args.concurrency)]
        send, where = send_redis, args.redis
    t0 = time.time()
    sent = collect(senders(send, where, args.messages, args.senders, args.rate), args.timeout)
    got = collect(consumers, max(1.0, t0 + args.timeout - time.time()))
    end = max(g["last"] for g in got)
    latencies = [x for g in got for x in g["latencies"]]
    report = {"rc": 0 if len(latencies) >= args.messages else 1, "messages": args.messages,
              "seconds": round(end - t0, 3), "messages_per_s": args.messages / (end - t0),
              "sends_per_s": args.messages / (max(s["done"] for s in sent) - t0),
              "latency_ms": percentiles(latencies), "latency_kind": "per message",
              "consumed": len(latencies)}
    if config == "redis":
        r = redis.Redis.from_url(args.redis)
        report["durability"] = {k: r.config_get(k).get(k) for k in ("appendonly", "appendfsync")}
        r.delete(QUEUE)
    return report


def peers_python(scratch: Path) -> None:
    """Re-runs this script in a venv with pika and redis-py when they are missing."""
    try:
        import pika  # noqa: F401
        import redis  # noqa: F401
        return
    except ImportError:
        pass
    venv = scratch / "venv"
    python = venv / "bin" / "python"
    if not python.exists():
        log(f"installing pika and redis-py into {venv} ...")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "pika", "redis"], check=True)
    os.execv(str(python), [str(python), *sys.argv])


def build(args) -> Path:
    binary = REPO / "target" / "release" / "sluice"
    if not args.no_build:
        log("cargo build --release -p sluice ...")
        subprocess.run(["cargo", "build", "--release", "-p", "sluice"], cwd=REPO, check=True)
    if not binary.exists():
        sys.exit(f"no binary at {binary} (build it, or drop --no-build)")
    return binary


def median(runs: list[dict], *path: str) -> float | None:
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
    s = {"runs": len(runs), "ok": len(ok),
         "messages_per_s": median(ok, "messages_per_s"), "sends_per_s": median(ok, "sends_per_s"),
         "p50_ms": median(ok, "latency_ms", "p50"), "p99_ms": median(ok, "latency_ms", "p99"),
         "latency_kind": ok[0]["latency_kind"] if ok else None}
    rate = s["messages_per_s"]
    s["over_cloudflare"] = rate / CLOUDFLARE_PER_QUEUE if rate else None
    s["over_goal"] = rate / GOAL if rate else None
    return s


def fmt(x, nd=0, suffix="") -> str:
    return "-" if x is None else f"{x:,.{nd}f}{suffix}"


NAMES = {
    "sqlite-ack": "Sluice, SQLite, built-in `ack`",
    "sqlite-python": "Sluice, SQLite, Python consumer",
    "pg-ack": "Sluice, PostgreSQL, built-in `ack`",
    "pg-python": "Sluice, PostgreSQL, Python consumer",
    "rabbitmq": "RabbitMQ (persistent, confirms, manual acks)",
    "redis": "Redis Streams (XADD / XREADGROUP / XACK)",
}


def table(summary: dict) -> str:
    rows = ["| system | messages/s (first send to last ack) | sends/s | latency p50 | latency p99 "
            "| ÷ Cloudflare 5,000/s | ÷ goal 50,000/s |",
            "|---|---|---|---|---|---|---|"]
    for config, s in summary.items():
        what = NAMES[config]
        if s["latency_kind"] == "oldest message age":
            what += " (latency: oldest message's age)"
        if s["ok"] < s["runs"]:
            what += f" ({s['runs'] - s['ok']} of {s['runs']} runs failed)"
        rows.append(f"| {what} | {fmt(s['messages_per_s'])} | {fmt(s['sends_per_s'])} "
                    f"| {fmt(s['p50_ms'], 0, ' ms')} | {fmt(s['p99_ms'], 0, ' ms')} "
                    f"| {fmt(s['over_cloudflare'], 1, 'x')} | {fmt(s['over_goal'], 2, 'x')} |")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--senders", type=int, default=8, help="sending processes, one connection each")
    ap.add_argument("--rate", type=float, default=0,
                    help="messages/s of all senders together (0: as fast as they go)")
    ap.add_argument("--concurrency", type=int, default=4,
                    help="max_concurrency of the Sluice consumers; consumers of the peers")
    ap.add_argument("--configs", default=",".join(CONFIGS), help=f"of {', '.join(CONFIGS)}")
    ap.add_argument("--store", default="postgres://postgres@127.0.0.1:5432/test")
    ap.add_argument("--rabbitmq", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--poll", type=float, default=0.5,
                    help="seconds between queue depth polls (a tenth of it near the end)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per run")
    ap.add_argument("--scratch", default=str(BENCH / ".peers" / "queues"))
    ap.add_argument("--no-build", action="store_true", help="use target/release as it is")
    ap.add_argument("--out", default=str(BENCH / "out" / "queues.json"))
    args = ap.parse_args()
    configs = [c for c in args.configs.split(",") if c]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        sys.exit(f"unknown configuration(s) {unknown}; known: {', '.join(CONFIGS)}")
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    if any(CONFIGS[c][0] != "sluice" for c in configs):
        peers_python(scratch)
    binary = build(args) if any(CONFIGS[c][0] == "sluice" for c in configs) else None

    started = dt.datetime.now(dt.timezone.utc)
    load_before = os.getloadavg()
    raw: dict[str, list[dict]] = {c: [] for c in configs}
    for i in range(args.runs):
        for config in configs:
            log(f"run {i + 1}/{args.runs}: {config} ...")
            try:
                if CONFIGS[config][0] == "sluice":
                    r = sluice_run(args, binary, config, scratch)
                else:
                    r = peer_run(args, config)
            except Exception as e:  # a failed run is reported, the others go on
                r = {"rc": -1, "error": f"{type(e).__name__}: {e}"}
            raw[config].append(r)
            log("    " + json.dumps({k: r.get(k) for k in (
                "rc", "messages_per_s", "sends_per_s", "latency_ms", "error")})[:600])
    load_after = os.getloadavg()
    summary = {c: summarize(runs) for c, runs in raw.items()}
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(),
               "python": platform.python_version(),
               "loadavg_before": [round(x, 2) for x in load_before],
               "loadavg_after": [round(x, 2) for x in load_after]}
    git = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    result = {"benchmark": "queues", "date": started.isoformat(timespec="seconds"), "git": git,
              "settings": {k: getattr(args, k) for k in ("runs", "messages", "senders", "rate",
                                                         "concurrency", "poll", "timeout")},
              "anchors": {"cloudflare_per_queue": CLOUDFLARE_PER_QUEUE, "goal": GOAL},
              "machine": machine, "summary": summary, "raw": raw}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")

    print()
    print(f"Queue benchmark, {started:%Y-%m-%d %H:%M} UTC, {machine['cpus']} CPUs, "
          f"load {load_before[0]:.1f} -> {load_after[0]:.1f}, median of {args.runs} run(s), "
          f"{args.messages:,} messages in batches of {BATCH} from {args.senders} senders"
          f"{f' at {args.rate:,.0f}/s' if args.rate else ''}, "
          f"consumer concurrency {args.concurrency}")
    print(table(summary))
    print(f"Wrote {out}")
    return 0 if all(s["ok"] == s["runs"] for s in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
