#!/usr/bin/env python3
"""Prefect 3 on its ephemeral local API server (SQLite under PREFECT_HOME): time one benchmark shape.

    python prefect_shapes.py chain N            one flow calling a trivial task N times in sequence
    python prefect_shapes.py concurrent E L     E flow runs of L sequential trivial tasks each, started
                                                together (async flows under asyncio.gather)
    python prefect_shapes.py map N              one flow running task.map over N items, gathering results

Run it in a fresh process with a fresh PREFECT_HOME (bench/engine/run.py does). A warm-up flow runs
first so the timed part excludes the import and the start of the temporary API server (with its DB
migrations); those are reported as import_s and warmup_s.
Prints one JSON line: {peer, shape, import_s, warmup_s, seconds, units, ok, ...}; exits 1 if a check fails.
"""
import asyncio
import json
import sys
import time

t0 = time.perf_counter()
from prefect import flow, task  # noqa: E402

IMPORT_S = time.perf_counter() - t0


@task
def add_one(x: int) -> int:
    return x + 1


@task
async def add_one_async(x: int) -> int:
    return x + 1


@flow
def warmup() -> int:
    return add_one(0)


@flow
def chain_flow(n: int) -> int:
    acc = 0
    for _ in range(n):
        acc = add_one(acc)
    return acc


@flow
async def chain_flow_async(n: int) -> int:
    acc = 0
    for _ in range(n):
        acc = await add_one_async(acc)
    return acc


@flow
def map_flow(n: int) -> int:
    futures = add_one.map(range(n))
    return sum(f.result() for f in futures)


async def concurrent(e: int, length: int) -> list:
    return await asyncio.gather(*(chain_flow_async(length) for _ in range(e)))


def main() -> int:
    shape = sys.argv[1]
    args = [int(a) for a in sys.argv[2:]]
    start = time.perf_counter()
    warmup()
    warmup_s = time.perf_counter() - start

    start = time.perf_counter()
    if shape == "chain":
        n = args[0] if args else 1000
        result, executions, units = chain_flow(n), 1, n
        ok = result == n
    elif shape == "concurrent":
        e, length = (args + [100, 20][len(args):])[:2]
        results = asyncio.run(concurrent(e, length))
        executions, units = e, e * length
        ok = len(results) == e and all(r == length for r in results)
    elif shape == "map":
        n = args[0] if args else 10000
        result, executions, units = map_flow(n), 1, n
        ok = result == n * (n + 1) // 2
    else:
        raise SystemExit(f"unknown shape {shape}")
    seconds = time.perf_counter() - start

    print(json.dumps({"peer": "prefect", "shape": shape, "executions": executions, "units": units,
                      "import_s": round(IMPORT_S, 3), "warmup_s": round(warmup_s, 3),
                      "seconds": round(seconds, 4), "ok": ok}), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
