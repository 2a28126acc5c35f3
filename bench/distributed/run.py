#!/usr/bin/env python3
"""Distributed Map benchmark: examples/wordcount-distributed against plain Python and DuckDB.

    python3 bench/distributed/run.py [--records 10000000] [--objects 80] [--runs 3]
                                     [--mappers python,builtin] [--only sluice,python,duckdb]
                                     [--quick] [--python PATH] [--timeout 900]
                                     [--scratch bench/.peers] [--sluice PATH | --no-build]

One word count (how many records have `"value": "data_1"` and how many `"data_2"`) over N
generated records (default 10,000,000, about 540 MB of JSON lines; bench/functions/gen_records.py,
seed 42, whose .meta.json holds the true totals), by:

  sluice    `sluice run <project> --json` on a copy of examples/wordcount-distributed whose
            data/raw/ holds the records cut into --objects objects of consecutive lines
            (part-00000.jsonl, ...). The flow lists them with listObjectsV2 and runs one child
            execution per object (Distributed Map, MaxConcurrency 4); the ResultWriter writes
            the per-object counts back to storage and the reducer adds them up. Two mappers
            (--mappers), the rest of the project being the same:
              python   the example as it is: functions/mapper.py on 4 warm Python processes;
              builtin  `{ runtime: builtin, handler: count-by, options: { field: value } }`,
                       the same count done inside the sluice binary (same event, same result).
            Every run starts from fresh state: the project's .sluice/ and data/results/ are
            removed first. Durable, as the example is.
  python    bench/functions/wordcount_plain.py over the single records file: one thread, one
            pass, `json.loads(line)["value"]` and a dict per line.
  duckdb    bench/functions/wordcount_duckdb.py: `SELECT value, count(*) FROM read_json(...)
            GROUP BY value` over the same file, DuckDB's default threads (one per core).

Every run of every system must report exactly the generator's totals, or it counts as failed.
Reported per system: the process wall time as this script sees it (start-up, compile, store and
interpreters included) and records/s over it, CPU (user + system of the process and its
children, Sluice's function processes included), and each one's own time: Sluice's engine time
from its stderr summary line, the peers' `seconds` (Python: the loop; DuckDB: connect + query).
Ratios are on process wall times: speedup over Python = Python's time / Sluice's (higher is
better), against DuckDB = Sluice's time / DuckDB's (lower is better). The goals checked for the
built-in mapper: at least 10x the Python script, at most 2x DuckDB's time.

Sluice's Python functions and the Python peers run on the same interpreter (the one behind
`python3` on PATH, shims resolved; --python picks another). DuckDB is installed on first use into
a venv in the scratch dir (default bench/.peers, gitignored), where the records file, the split
objects and the project copies (wc-distributed-<mode>/) are also kept and reused between runs.
The systems' runs are interleaved over --runs rounds (default 3) and medians reported. Prints
markdown tables and writes bench/out/distributed.json (settings, machine, versions, every raw
run). --quick is a smoke test: 100,000 records, 1 round. Standard library only.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import itertools
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
REPO = BENCH.parent
FUNCTIONS = BENCH / "functions"
EXAMPLE = REPO / "examples" / "wordcount-distributed"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The word-count peers, the records generator and the process helpers of the functions benchmark.
gen_records = _load("gen_records", FUNCTIONS / "gen_records.py")
fb = _load("bench_functions_run", FUNCTIONS / "run.py")
run_process, last_json_line, tail, version_of = fb.run_process, fb.last_json_line, fb.tail, fb.version_of
x, n = fb.x, fb.n

SEED = 42
MODES = ["python", "builtin"]
SYSTEMS = ["sluice", "python", "duckdb"]
BUILTIN_MAPPER = "  mapper:  { runtime: builtin, handler: count-by, options: { field: value } }"
SPLIT_FORMAT = 1
# "1 execution, 163 state transitions in 1.234s (132/s, 45 commits)"
SUMMARY = re.compile(r"(\d+) executions?, (\d+) state transitions in ([0-9.]+)s "
                     r"\(([0-9.]+)/s, (\d+) commits\)")
GOAL_PYTHON_SPEEDUP = 10.0
GOAL_DUCKDB_RATIO = 2.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- data


def split_records(records_file: Path, meta: dict, objects: int, scratch: Path) -> tuple[Path, dict]:
    """Cuts the records file into `objects` files of consecutive lines, once; returns their dir."""
    records = meta["records"]
    out = scratch / f"split-{records}-seed{SEED}-{objects}"
    marker = out / "split.json"
    wanted = {"format": SPLIT_FORMAT, "source": records_file.name, "source_bytes": meta["bytes"],
              "records": records, "seed": SEED, "objects": objects}
    try:
        done = json.loads(marker.read_text())
        if {k: done.get(k) for k in wanted} == wanted and all(
                (out / p["name"]).stat().st_size == p["bytes"] for p in done["parts"]):
            return out, done
    except (OSError, ValueError, KeyError, TypeError):
        pass
    log(f"splitting {records_file.name} into {objects} objects in {out} ...")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    parts = []
    with open(records_file, "rb") as src:
        for i in range(objects):
            lines = list(itertools.islice(src, (i + 1) * records // objects - i * records // objects))
            name = f"part-{i:05d}.jsonl"
            with open(out / name, "wb") as dst:
                dst.writelines(lines)
            parts.append({"name": name, "lines": len(lines), "bytes": (out / name).stat().st_size})
        if src.read(1):
            sys.exit(f"{records_file} has more than {records} lines")
    if sum(p["lines"] for p in parts) != records or sum(p["bytes"] for p in parts) != meta["bytes"]:
        sys.exit(f"splitting {records_file} lost lines or bytes")
    done = {**wanted, "parts": parts}
    marker.write_text(json.dumps(done, indent=1) + "\n")
    return out, done


def make_project(mode: str, split_dir: Path, split: dict, scratch: Path) -> Path:
    """A copy of the example (its data/ aside) with the split objects linked in under data/raw/."""
    project = scratch / f"wc-distributed-{mode}"
    project.mkdir(parents=True, exist_ok=True)
    for sub in ("flows", "functions"):
        shutil.rmtree(project / sub, ignore_errors=True)
        shutil.copytree(EXAMPLE / sub, project / sub, ignore=shutil.ignore_patterns("__pycache__"))
    text = (EXAMPLE / "sluice.yaml").read_text()
    if mode == "builtin":
        lines = text.splitlines()
        at = [i for i, line in enumerate(lines) if line.startswith("  mapper:")]
        if len(at) != 1:
            sys.exit(f"{EXAMPLE / 'sluice.yaml'}: expected one '  mapper:' line, found {len(at)}")
        lines[at[0]] = BUILTIN_MAPPER
        text = "\n".join(lines) + "\n"
    (project / "sluice.yaml").write_text(text)

    raw = project / "data" / "raw"
    names = sorted(p["name"] for p in split["parts"])
    try:
        same = sorted(os.listdir(raw)) == names and all(
            os.path.samefile(raw / name, split_dir / name) for name in names)
    except OSError:
        same = False
    if not same:
        shutil.rmtree(raw, ignore_errors=True)
        raw.mkdir(parents=True)
        for name in names:
            try:
                os.link(split_dir / name, raw / name)
            except OSError:
                shutil.copyfile(split_dir / name, raw / name)
    return project


# ---------------------------------------------------------------------------- runs


def reset_project(project: Path) -> None:
    shutil.rmtree(project / ".sluice", ignore_errors=True)
    shutil.rmtree(project / "data" / "results", ignore_errors=True)


def run_sluice(ctx: dict, project: Path, timeout: float) -> dict:
    reset_project(project)
    p = run_process([str(ctx["sluice"]), "run", str(project), "--json"], timeout, ctx["env"])
    res = {"wall_s": p["wall_s"], "cpu_s": p["cpu_s"], "rc": p["rc"]}
    m = None
    for line in reversed(p["stderr"].splitlines()):
        m = SUMMARY.search(line)
        if m:
            break
    if m:
        res.update(engine_s=float(m.group(3)), transitions=int(m.group(2)), commits=int(m.group(5)))
    if p["timed_out"]:
        return {**res, "status": "timeout", "stderr_tail": tail(p["stderr"], 20)}
    line = last_json_line(p["stdout"]) or {}
    if p["rc"] != 0 or line.get("status") != "SUCCEEDED":
        # Exit code 2 is a project the binary rejects (for instance a runtime it does not know).
        status = "rejected" if p["rc"] == 2 else "failed"
        return {**res, "status": status, "error": line.get("error"), "cause": line.get("cause"),
                "stderr_tail": tail(p["stderr"], 20)}
    out = line.get("output") or {}
    return {**res, "status": "ok", "totals": out.get("totals"), "objects": out.get("objects"),
            "failed_result_files": out.get("failedResultFiles")}


def run_script(ctx: dict, cmd: list[str], timeout: float) -> dict:
    p = run_process(cmd, timeout, ctx["env"])
    res = {"wall_s": p["wall_s"], "cpu_s": p["cpu_s"], "rc": p["rc"]}
    if p["timed_out"]:
        return {**res, "status": "timeout"}
    line = last_json_line(p["stdout"])
    if p["rc"] != 0 or not line:
        return {**res, "status": "failed", "stderr_tail": tail(p["stderr"], 20)}
    return {**res, "status": "ok", "totals": line["totals"], "inner_s": line["seconds"],
            **({"threads": line["threads"]} if "threads" in line else {})}


def describe(r: dict, records: int) -> str:
    msg = f"    {r['status']} {r['wall_s']:.2f}s wall, {r['cpu_s']:.1f}s cpu"
    if "engine_s" in r:
        msg += f", engine {r['engine_s']:.3f}s ({r['transitions']} transitions)"
    if "inner_s" in r:
        msg += f", own {r['inner_s']:.3f}s"
    if r["status"] == "ok":
        msg += f", {records / r['wall_s']:,.0f} records/s, totals {json.dumps(r['totals'])}"
    else:
        msg += " " + json.dumps({k: v for k, v in r.items() if k != "stderr_tail"})[:600]
        if r.get("stderr_tail"):
            msg += "\n    " + r["stderr_tail"].replace("\n", "\n    ")
    return msg


def bench(ctx: dict, args, systems: dict, expected: dict, rounds: int) -> dict:
    rows = {k: [] for k in systems}
    given_up = set()
    for i in range(rounds):
        for system, fn in systems.items():
            if system in given_up:
                continue
            log(f"round {i + 1}/{rounds} {system} ({args.records:,} records) ...")
            r = fn()
            if r["status"] == "ok" and r["totals"] != expected:
                r["status"] = "wrong totals"
            rows[system].append(r)
            log(describe(r, args.records))
            if r["status"] == "rejected":
                log(f"    the binary rejected the {system} project; no more rounds of it")
                given_up.add(system)
    return rows


def summarise(rows: dict, records: int, rounds: int) -> dict:
    out = {}
    for system, rs in rows.items():
        ok = [r for r in rs if r["status"] == "ok"]
        s: dict = {"runs": len(rs), "ok_runs": len(ok), "planned_runs": rounds,
                   "statuses": [r["status"] for r in rs]}
        if ok:
            wall = statistics.median(r["wall_s"] for r in ok)
            s.update(wall_s=wall, records_per_s=records / wall,
                     cpu_s=statistics.median(r["cpu_s"] for r in ok),
                     all_wall_s=[round(r["wall_s"], 3) for r in ok])
            for key in ("engine_s", "inner_s"):
                vals = [r[key] for r in ok if key in r]
                if vals:
                    s[key] = statistics.median(vals)
                    s[f"{key.split('_')[0]}_records_per_s"] = records / s[key]
            for key in ("transitions", "objects", "threads"):
                if key in ok[0]:
                    s[key] = ok[0][key]
        failed = [r for r in rs if r["status"] != "ok"]
        if failed:
            s["first_failure"] = failed[0]
        out[system] = s
    return out


def ratios(summary: dict, modes: list[str]) -> dict:
    out = {}
    py, duck = summary.get("python", {}), summary.get("duckdb", {})
    for mode in modes:
        s = summary.get(f"sluice-{mode}", {})
        r: dict = {}
        if s.get("ok_runs") and py.get("ok_runs"):
            r["speedup_over_python"] = py["wall_s"] / s["wall_s"]
            if "engine_s" in s and "inner_s" in py:
                r["speedup_over_python_own_times"] = py["inner_s"] / s["engine_s"]
        if s.get("ok_runs") and duck.get("ok_runs"):
            r["time_over_duckdb"] = s["wall_s"] / duck["wall_s"]
            if "engine_s" in s and "inner_s" in duck:
                r["time_over_duckdb_own_times"] = s["engine_s"] / duck["inner_s"]
        out[mode] = r
    b = out.get("builtin", {})
    goals = {
        "python_speedup_at_least": GOAL_PYTHON_SPEEDUP,
        "duckdb_ratio_at_most": GOAL_DUCKDB_RATIO,
        "python_goal_met": None if "speedup_over_python" not in b
        else b["speedup_over_python"] >= GOAL_PYTHON_SPEEDUP,
        "duckdb_goal_met": None if "time_over_duckdb" not in b
        else b["time_over_duckdb"] <= GOAL_DUCKDB_RATIO,
    }
    return {"by_mode": out, "goals": goals}


# ---------------------------------------------------------------------------- report


def tables(result: dict) -> str:
    s, settings = result["summary"], result["settings"]
    records = settings["records"]
    labels = {"sluice-python": f"Sluice, Python mapper ({settings['objects']} objects, concurrency 4)",
              "sluice-builtin": f"Sluice, built-in `count-by` mapper ({settings['objects']} objects)",
              "python": "plain Python, 1 thread",
              "duckdb": f"DuckDB SQL ({s.get('duckdb', {}).get('threads', '?')} threads)"}
    out = [f"### Word count as a Distributed Map, {records:,} records "
           f"({settings['bytes'] / 1e6:,.0f} MB JSON lines)", "",
           "| System | wall s (median) | records/s | CPU s | own time s | own records/s | runs ok |",
           "|---|---|---|---|---|---|---|"]
    for system in s:
        r = s[system]
        own = r.get("engine_s", r.get("inner_s"))
        own_rate = r.get("engine_records_per_s", r.get("inner_records_per_s"))
        ok = f"{r['ok_runs']}/{r['planned_runs']}"
        if r["ok_runs"] < r["planned_runs"]:
            ok += " (" + ", ".join(sorted(set(st for st in r["statuses"] if st != "ok"))) + ")"
        out.append(f"| {labels.get(system, system)} | {n(r.get('wall_s'), 2)} | {n(r.get('records_per_s'))} | "
                   f"{n(r.get('cpu_s'), 1)} | {n(own, 3)} | {n(own_rate)} | {ok} |")
    out += ["", "Own time: Sluice's engine time from its summary line (after start-up); Python's loop; "
                "DuckDB's connect + query.", ""]
    rat = result["ratios"]["by_mode"]
    if rat:
        out += ["| Sluice mapper | speedup over Python (Python s / Sluice s) | Sluice s / DuckDB s | "
                "speedup over Python, own times | Sluice / DuckDB, own times |", "|---|---|---|---|---|"]
        for mode, r in rat.items():
            out.append(f"| {mode} | {x(r.get('speedup_over_python'))} | {x(r.get('time_over_duckdb'))} | "
                       f"{x(r.get('speedup_over_python_own_times'))} | {x(r.get('time_over_duckdb_own_times'))} |")
        out += ["", "Ratios on process wall times; \"own times\" uses Sluice's engine time and the peers' own "
                    "`seconds` instead.", ""]
    g = result["ratios"]["goals"]
    if "builtin" in rat:
        def verdict(v):
            return "not measured" if v is None else "met" if v else "NOT met"
        out += [f"Goals for the built-in mapper: >= {g['python_speedup_at_least']:g}x the Python script: "
                f"{verdict(g['python_goal_met'])}; within {g['duckdb_ratio_at_most']:g}x DuckDB: "
                f"{verdict(g['duckdb_goal_met'])}."
                + (" (Fixed costs dominate at this size: the goals are for the full run.)"
                   if records < 1_000_000 else ""), ""]
    agree = "every run agrees with the generator's totals" if result["all_agree"] \
        else "NOT every run succeeded with the generator's totals"
    out += [f"Totals {json.dumps(result['expected_totals'])}: {agree}.", ""]
    for system, r in s.items():
        f = r.get("first_failure")
        if f:
            what = {k: v for k, v in f.items() if k in ("status", "rc", "error", "cause", "totals") and v is not None}
            out += [f"{labels.get(system, system)}: {f['status']} ({json.dumps(what)[:600]})"]
            if f.get("stderr_tail"):
                out += ["", "```", f["stderr_tail"], "```"]
            out.append("")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=10_000_000, help="records to count")
    ap.add_argument("--objects", type=int, default=80, help="objects the records are split into")
    ap.add_argument("--runs", type=int, default=3, help="interleaved rounds (medians reported)")
    ap.add_argument("--mappers", default=",".join(MODES), help="Sluice mappers, comma-separated: python,builtin")
    ap.add_argument("--only", default=",".join(SYSTEMS), help="systems, comma-separated: sluice,python,duckdb")
    ap.add_argument("--quick", action="store_true", help="smoke test: 100,000 records, 1 round")
    ap.add_argument("--python", help="interpreter for Sluice's functions and the Python peers "
                                     "(default: the one behind python3 on PATH)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per process")
    ap.add_argument("--scratch", default=str(BENCH / ".peers"),
                    help="where DuckDB, the records, the objects and the projects go (default bench/.peers)")
    ap.add_argument("--sluice", help="path to a sluice binary (skips the build)")
    ap.add_argument("--no-build", action="store_true", help="use target/release/sluice as it is")
    ap.add_argument("--out", default=str(BENCH / "out" / "distributed.json"))
    args = ap.parse_args()

    only = [s.strip() for s in args.only.split(",") if s.strip()]
    modes = [m.strip() for m in args.mappers.split(",") if m.strip()]
    for s in only:
        if s not in SYSTEMS:
            sys.exit(f"unknown system {s}; choose from {','.join(SYSTEMS)}")
    for m in modes:
        if m not in MODES:
            sys.exit(f"unknown mapper {m}; choose from {','.join(MODES)}")
    if "sluice" not in only:
        modes = []
    rounds = max(1, args.runs)
    if args.quick:
        args.records, rounds = 100_000, 1
    if args.records < 1 or not 1 <= args.objects <= args.records:
        sys.exit("need at least 1 record and between 1 and --records objects")

    scratch = Path(args.scratch).resolve()
    tmp_root = scratch / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    python, env = fb.python_env(args, tmp_root)
    ctx: dict = {"python": python, "env": env}
    versions = {"python": version_of([str(python), "--version"]) + f" ({python})"}
    if modes:
        ctx["sluice"] = fb.build_sluice(args)
        versions["sluice"] = version_of([str(ctx["sluice"]), "--version"])
    if "duckdb" in only:
        ctx["duckdb_python"] = fb.install_duckdb(scratch, python)
        versions["duckdb"] = version_of([str(ctx["duckdb_python"]), "-c", "import duckdb; print(duckdb.__version__)"])

    records_file = scratch / f"records-{args.records}.jsonl"
    meta = gen_records.ensure(records_file, args.records, SEED)
    expected = meta["totals"]
    systems: dict = {}
    projects = {}
    if modes:
        split_dir, split = split_records(records_file, meta, args.objects, scratch)
        for mode in modes:
            project = projects[mode] = make_project(mode, split_dir, split, scratch)
            systems[f"sluice-{mode}"] = (lambda p=project: run_sluice(ctx, p, args.timeout))
    if "python" in only:
        systems["python"] = lambda: run_script(
            ctx, [str(python), str(FUNCTIONS / "wordcount_plain.py"), str(records_file)], args.timeout)
    if "duckdb" in only:
        systems["duckdb"] = lambda: run_script(
            ctx, [str(ctx["duckdb_python"]), str(FUNCTIONS / "wordcount_duckdb.py"), str(records_file)],
            args.timeout)
    if not systems:
        sys.exit("nothing to run")

    started = dt.datetime.now(dt.timezone.utc)
    load_before = os.getloadavg()
    rows = bench(ctx, args, systems, expected, rounds)
    load_after = os.getloadavg()
    for project in projects.values():
        reset_project(project)

    summary = summarise(rows, args.records, rounds)
    all_agree = all(s["ok_runs"] == rounds for s in summary.values())
    git = version_of(["git", "-C", str(REPO), "rev-parse", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.splitlines()
    result = {
        "benchmark": "distributed",
        "date": started.isoformat(timespec="seconds"),
        "git": {"commit": git, "modified_tracked_files": len(dirty)},
        "quick": args.quick,
        "settings": {"records": args.records, "bytes": meta["bytes"], "seed": SEED, "objects": args.objects,
                     "runs": rounds, "mappers": modes, "only": only, "timeout_s": args.timeout,
                     "records_file": str(records_file),
                     "projects": {m: str(p) for m, p in projects.items()},
                     "builtin_mapper_line": BUILTIN_MAPPER.strip()},
        "machine": {"nproc": os.cpu_count(),
                    "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
                    "platform": platform.platform(),
                    "loadavg_before": [round(v, 2) for v in load_before],
                    "loadavg_after": [round(v, 2) for v in load_after]},
        "versions": versions,
        "expected_totals": expected,
        "all_agree": all_agree,
        "summary": summary,
        "ratios": ratios(summary, modes),
        "raw": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")

    print()
    print(f"Distributed Map benchmark, {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"load {load_before[0]:.1f} -> {load_after[0]:.1f}, commit {git[:7]}"
          + (f" + {len(dirty)} modified files" if dirty else "") + (" [--quick]" if args.quick else ""))
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print()
    print(tables(result))
    print(f"Wrote {out}")

    # A binary that rejects the built-in mapper's project is reported, not a failure of the script;
    # anything else that did not produce the generator's totals is.
    bad = [system for system, rs in rows.items() for r in rs
           if r["status"] != "ok" and not (system == "sluice-builtin" and r["status"] == "rejected")]
    if bad:
        log("FAILED: not every run succeeded with the generator's totals: " + ", ".join(sorted(set(bad))))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
