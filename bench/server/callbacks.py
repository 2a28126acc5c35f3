#!/usr/bin/env python3
"""Callback round trip: how soon an execution moves on once a worker sends its task token back.

    python3 bench/server/callbacks.py [--executions 500] [--store sqlite|postgres]
                                      [--postgres postgres://postgres@127.0.0.1:5432/test]
                                      [--scratch bench/.peers/server] [--no-build]

One `sluice serve` node of bench/server/project. Each execution of `asks` starts `echo` with its
`$$.Task.Token` (`.waitForTaskToken`) and waits; the script reads the token from the child's
output, sends SendTaskSuccess over a keep-alive connection and records:

  ack      the SendTaskSuccess call, sent to answered (the report is durable when answered)
  applied  sent to the node's `TaskSucceeded` event (the execution moved on), on the same clock,
           to the millisecond (event times are whole milliseconds)

and prints p50/p99/max of both. One execution at a time, so each number is a lone round trip.
Standard library only; writes bench/out/callbacks.json.
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import shutil
import statistics
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import BENCH, REPO, Node, build, drop_schema, log, with_schema  # noqa: E402

ACCOUNT = "arn:aws:states:local:000000000000"


class Sfn:
    """Step Functions calls over one keep-alive connection."""

    def __init__(self, addr: str):
        host, port = addr.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)

    def call(self, op: str, body: dict) -> tuple[int, dict]:
        self.conn.request("POST", "/", json.dumps(body), {
            "X-Amz-Target": f"AWSStepFunctions.{op}",
            "Content-Type": "application/x-amz-json-1.0",
        })
        reply = self.conn.getresponse()
        return reply.status, json.loads(reply.read() or b"{}")

    def ok(self, op: str, body: dict) -> dict:
        status, reply = self.call(op, body)
        if status != 200:
            raise RuntimeError(f"{op}: {status} {reply}")
        return reply

    def until(self, arn: str, status: str, deadline: float) -> dict:
        while True:
            code, reply = self.call("DescribeExecution", {"executionArn": arn})
            if code == 200 and reply["status"] == status:
                return reply
            if time.time() > deadline:
                raise RuntimeError(f"{arn} is not {status}: {reply}")
            time.sleep(0.001)


def quantiles(ms: list[float]) -> dict:
    ordered = sorted(ms)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return {"p50": round(statistics.median(ordered), 2), "p99": round(pick(0.99), 2),
            "max": round(ordered[-1], 2)}


def measure(sfn: Sfn, executions: int) -> dict:
    acks, applied = [], []
    deadline = time.time() + 600
    for i in range(executions):
        name = f"cb-{i}"
        arn = sfn.ok("StartExecution", {"stateMachineArn": f"{ACCOUNT}:stateMachine:asks",
                                         "name": name})["executionArn"]
        worker = f"{ACCOUNT}:execution:echo:{name}-worker"
        token = json.loads(sfn.until(worker, "SUCCEEDED", deadline)["output"])["token"]
        sfn.until(arn, "RUNNING", deadline)
        sent = time.time()
        sfn.ok("SendTaskSuccess", {"taskToken": token, "output": json.dumps({"i": i})})
        acks.append((time.time() - sent) * 1000)
        sfn.until(arn, "SUCCEEDED", deadline)
        events = sfn.ok("GetExecutionHistory", {"executionArn": arn, "reverseOrder": True,
                                                "maxResults": 5})["events"]
        moved = next(e for e in events if e["type"] == "TaskSucceeded")["timestamp"]
        # Event times are whole milliseconds: compare with the millisecond the call was sent in.
        applied.append(max(0.0, moved * 1000 - math.floor(sent * 1000)))
    return {"ack_ms": quantiles(acks), "applied_ms": quantiles(applied)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=500)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/test")
    parser.add_argument("--scratch", default=str(BENCH / ".peers" / "server"))
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    sluice, _ = build(args)
    scratch = Path(args.scratch) / f"callbacks-{uuid.uuid4().hex[:8]}"
    schema = f"bench_cb_{uuid.uuid4().hex[:8]}"
    store = with_schema(args.postgres, schema) if args.store == "postgres" else None
    node = Node(sluice, scratch, store)
    try:
        result = measure(Sfn(node.addr), args.executions)
    finally:
        node.stop()
        shutil.rmtree(scratch, ignore_errors=True)
        if store:
            drop_schema(args.postgres, schema)
    result.update({"store": args.store, "executions": args.executions})
    out = BENCH / "out" / "callbacks.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"| store | SendTaskSuccess answered p50 / p99 / max | execution moved on p50 / p99 / max |")
    print(f"|---|---|---|")
    a, m = result["ack_ms"], result["applied_ms"]
    print(f"| {args.store} | {a['p50']} / {a['p99']} / {a['max']} ms | "
          f"{m['p50']} / {m['p99']} / {m['max']} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
