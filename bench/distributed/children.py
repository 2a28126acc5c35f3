#!/usr/bin/env python3
"""Distributed Map children: EXPRESS against STANDARD against a plain Python loop.

    python3 bench/distributed/children.py [--items 1000000] [--runs 1] [--concurrency 1000]
                                          [--only express,standard,python] [--quick]
                                          [--timeout 1800] [--scratch bench/.peers]
                                          [--sluice PATH | --no-build]

One Distributed Map over N JSON lines (default 1,000,000; `{"id": i, "price": i % 997,
"qty": i * 7 % 13}`, written once into the scratch dir), each child one Pass state computing
`{"id", "total": price + qty}`, the results written by the `ResultWriter` (AWS's
SUCCEEDED_n.json files) into local storage, by:

  express   `sluice run <project> --json`, `ProcessorConfig.ExecutionType: EXPRESS`: the children
            run in memory, only their items are stored;
  standard  the same flow with `ExecutionType: STANDARD`: every child is a durable execution
            with its history;
  python    a plain Python loop over the same file: `json.loads` per line, the same total, the
            results dumped as one JSON array (on the interpreter running this script).

Sluice runs durable (SQLite, WAL, synchronous=FULL, group commit), `MaxConcurrency`
--concurrency, from a fresh project directory per run. Every run's output is checked: N items,
each exactly once, with the expected total (their sum must match). Reported: process wall time,
items/s over it, CPU, and Sluice's peak RSS (through /usr/bin/time when present); runs are
interleaved over --runs rounds and the medians reported. Prints a markdown table and writes
bench/out/children.json. --quick: 10,000 items. Standard library only.
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
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
REPO = BENCH.parent


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The process runner (wall, CPU, peak RSS) and the build step of the engine benchmark.
eb = _load("bench_engine_run", BENCH / "engine" / "run.py")

SYSTEMS = ["express", "standard", "python"]

# The plain loop: the same parse and total per item, the results as one JSON array.
PYTHON_LOOP = """import json, sys, time
start = time.perf_counter()
out = []
with open(sys.argv[1]) as f:
    for line in f:
        item = json.loads(line)
        out.append({"id": item["id"], "total": item["price"] + item["qty"]})
with open(sys.argv[2], "w") as f:
    json.dump(out, f)
print(json.dumps({"items": len(out), "sum": sum(o["total"] for o in out),
                  "seconds": time.perf_counter() - start}))
"""


def log(msg: str) -> None:
    print(f"[children] {msg}", file=sys.stderr, flush=True)


def items_file(scratch: Path, n: int) -> tuple[Path, int]:
    """The N-item JSON lines file (written once) and the sum of the totals."""
    path = scratch / "children" / f"items-{n}.jsonl"
    expected = sum(i % 997 + i * 7 % 13 for i in range(n))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            for i in range(n):
                f.write(json.dumps({"id": i, "price": i % 997, "qty": i * 7 % 13}) + "\n")
        tmp.rename(path)
    return path, expected


def flow(execution_type: str, concurrency: int) -> dict:
    return {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSONL"},
                    "Parameters": {"Bucket": "in", "Key": "items.jsonl"},
                },
                "MaxConcurrency": concurrency,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
                    "StartAt": "Total",
                    "States": {
                        "Total": {
                            "Type": "Pass",
                            "Parameters": {"id.$": "$.id", "total.$": "States.MathAdd($.price, $.qty)"},
                            "End": True,
                        }
                    },
                },
                "ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket": "out", "Prefix": "results"},
                },
                "End": True,
            }
        },
    }


def make_project(root: Path, execution_type: str, items: Path, concurrency: int) -> Path:
    if root.exists():
        shutil.rmtree(root)
    (root / "data" / "in").mkdir(parents=True)
    os.link(items, root / "data" / "in" / "items.jsonl")
    (root / "items.json").write_text(json.dumps(flow(execution_type, concurrency)))
    (root / "sluice.yaml").write_text("storage: file://./data\nflows:\n  items: items.json\n")
    return root


def check_written(project: Path, n: int, expected: int) -> str | None:
    """Why the ResultWriter output is wrong, or None: N items, each once, the right sum."""
    seen = set()
    total = 0
    for path in sorted((project / "data" / "out" / "results").glob("*/*.json")):
        if path.name == "manifest.json":
            continue
        if not path.name.startswith("SUCCEEDED_"):
            return f"{path.name} written"
        for entry in json.loads(path.read_text()):
            out = json.loads(entry["Output"])
            if out["id"] in seen:
                return f"item {out['id']} written twice"
            seen.add(out["id"])
            total += out["total"]
    if len(seen) != n or total != expected:
        return f"{len(seen)} items with sum {total}, expected {n} with sum {expected}"
    return None


def run_sluice(binary: Path, system: str, items: Path, n: int, expected: int, scratch: Path,
               args) -> dict:
    project = make_project(scratch / "children" / f"project-{system}", system.upper(), items,
                           args.concurrency)
    p = eb.run_process([str(binary), "run", str(project), "--json"], None, args.timeout,
                       measure_rss=True)
    res = {"wall_s": p["wall_s"], "cpu_s": p["cpu_s"], "max_rss_mb": p.get("max_rss_mb")}
    if p["timed_out"]:
        return {**res, "status": "timeout"}
    line = eb.last_json_line(p["stdout"]) or {}
    if line.get("status") != "SUCCEEDED":
        return {**res, "status": "failed", "line": line, "stderr_tail": eb.tail(p["stderr"], 20)}
    wrong = check_written(project, n, expected)
    if wrong:
        return {**res, "status": "wrong", "why": wrong}
    shutil.rmtree(project)
    return {**res, "status": "ok"}


def run_python(python: str, items: Path, n: int, expected: int, scratch: Path, args) -> dict:
    script = scratch / "children" / "loop.py"
    script.write_text(PYTHON_LOOP)
    out = scratch / "children" / "loop-out.json"
    p = eb.run_process([python, str(script), str(items), str(out)], None, args.timeout)
    res = {"wall_s": p["wall_s"], "cpu_s": p["cpu_s"]}
    line = eb.last_json_line(p["stdout"]) or {}
    out.unlink(missing_ok=True)
    if line.get("items") != n or line.get("sum") != expected:
        return {**res, "status": "wrong", "line": line, "stderr_tail": eb.tail(p["stderr"], 20)}
    return {**res, "status": "ok", "inner_s": line["seconds"]}


def median(runs: list[dict], key: str) -> float | None:
    xs = [r[key] for r in runs if r.get("status") == "ok" and r.get(key) is not None]
    return statistics.median(xs) if xs else None


def table(summary: dict, n: int) -> str:
    rows = ["| System | Wall s | Items/s | CPU s | Peak RSS MB | vs Python loop |",
            "|---|---|---|---|---|---|"]
    py = summary.get("python", {}).get("wall_s")
    for system, s in summary.items():
        wall = s.get("wall_s")
        if wall is None:
            rows.append(f"| {system} | {s.get('status', '-')} | - | - | - | - |")
            continue
        rss = s.get("max_rss_mb")
        vs = f"{wall / py:.1f}x its time" if py else "-"
        rows.append(f"| {system} | {wall:.1f} | {n / wall:,.0f} | {s['cpu_s']:.1f} | "
                    f"{'-' if rss is None else f'{rss:.0f}'} | {vs} |")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=1, help="interleaved rounds (medians reported)")
    ap.add_argument("--concurrency", type=int, default=1000, help="the Map's MaxConcurrency")
    ap.add_argument("--only", default=",".join(SYSTEMS))
    ap.add_argument("--quick", action="store_true", help="10,000 items")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per process")
    ap.add_argument("--python", default=sys.executable, help="interpreter of the Python loop")
    ap.add_argument("--scratch", default=str(BENCH / ".peers"))
    ap.add_argument("--sluice", help="path to a sluice binary (skips the build)")
    ap.add_argument("--no-build", action="store_true", help="use target/release/sluice as it is")
    ap.add_argument("--out", default=str(BENCH / "out" / "children.json"))
    args = ap.parse_args()
    n = 10_000 if args.quick else args.items
    systems = [s for s in args.only.split(",") if s]
    for s in systems:
        if s not in SYSTEMS:
            sys.exit(f"unknown system {s}; choose from {','.join(SYSTEMS)}")
    scratch = Path(args.scratch).resolve()
    binary = eb.build_sluice(args) if any(s != "python" for s in systems) else None
    items, expected = items_file(scratch, n)
    load_before = os.getloadavg()
    runs: dict = {s: [] for s in systems}
    for round_ in range(args.runs):
        for system in systems:
            log(f"round {round_ + 1}/{args.runs}: {system} over {n:,} items")
            if system == "python":
                r = run_python(args.python, items, n, expected, scratch, args)
            else:
                r = run_sluice(binary, system, items, n, expected, scratch, args)
            log(f"  {r['status']} in {r['wall_s']:.1f}s")
            runs[system].append(r)
    summary = {}
    for system, rs in runs.items():
        ok = [r for r in rs if r["status"] == "ok"]
        summary[system] = ({k: median(rs, k) for k in ("wall_s", "cpu_s", "max_rss_mb")}
                           if ok else {"status": rs[-1]["status"] if rs else "-"})
    print(table(summary, n))
    result = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "settings": {"items": n, "runs": args.runs, "concurrency": args.concurrency},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "load_before": load_before, "load_after": os.getloadavg()},
        "summary": summary,
        "runs": runs,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"Wrote {out}")
    return 0 if all(r["status"] == "ok" for rs in runs.values() for r in rs) else 1


if __name__ == "__main__":
    sys.exit(main())
