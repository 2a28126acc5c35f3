#!/usr/bin/env python3
"""Engine overhead benchmark: Sluice against @wmfs/statebox and Prefect 3, side by side.

    python3 bench/engine/run.py [--runs 3] [--quick] [--only sluice,statebox,prefect]
                                [--shapes chain_1000,concurrent_100x20,map_10000,python_tasks_40]
                                [--store postgres://USER@HOST:PORT/DB]
                                [--timeout 600] [--scratch bench/.peers] [--no-build] [--python PATH]
    python3 bench/engine/run.py --shapes loops --runs 1

Shapes (see bench/README.md); the first four run by default:
  chain_1000          one execution of a 1,000-state chain of Pass states
  concurrent_100x20   100 concurrent executions of a 20-state Pass chain
  map_10000           one execution of an inline Map over 10,000 items, iterator = one Pass state
  python_tasks_40     one execution of 40 sequential Tasks calling a trivial Python function
                      (Sluice and Prefect only; printed beside published figures for the shape)
  loop_10k, loop_100k, loop_1m
                      a Pass/Choice loop of that many iterations (Sluice only)
  loop_task_10k, loop_task_100k
                      a Task/Choice loop calling the Python function that many times (Sluice only)
`--shapes loops` runs every loop shape. For Sluice runs the peak RSS of the process is recorded
(with /usr/bin/time when present).

Sluice runs through its release binary (`cargo build --release -p sluice`), durable (SQLite, WAL,
synchronous=FULL, group commit), with a fresh --data-dir per run on the repo's disk. With --store,
Sluice also runs every shape on that PostgreSQL server (system `sluice-pg`), in a fresh schema per
run (dropped afterwards with psql when psql is on PATH). The peers are
installed on first use into the scratch dir: statebox with npm, Prefect in a venv with pip.
Every (run, shape, system) is a fresh process; runs are interleaved so load drift hits all systems.
Prints tables and writes bench/out/engine.json. Standard library only.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
REPO = BENCH.parent


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SYSTEMS = ["sluice", "statebox", "prefect"]
SLUICE_PG = "sluice-pg"
PEERS = ["statebox", "prefect"]

# name -> (kind, executions, states per execution, items, tasks or iterations)
SHAPES = {
    "chain_1000": ("chain", 1, 1000),
    "concurrent_100x20": ("concurrent", 100, 20),
    "map_10000": ("map", 1, 10000),
    "python_tasks_40": ("tasks", 1, 40),
    "loop_10k": ("loop", 1, 10_000),
    "loop_100k": ("loop", 1, 100_000),
    "loop_1m": ("loop", 1, 1_000_000),
    "loop_task_10k": ("loop_task", 1, 10_000),
    "loop_task_100k": ("loop_task", 1, 100_000),
}
DEFAULT_SHAPES = ["chain_1000", "concurrent_100x20", "map_10000", "python_tasks_40"]
LOOP_SHAPES = [name for name, (kind, _, _) in SHAPES.items() if kind in ("loop", "loop_task")]
# Which systems run which kind of shape (Prefect runs `tasks` as its `chain` of trivial tasks).
KIND_SYSTEMS = {
    "chain": SYSTEMS,
    "concurrent": SYSTEMS,
    "map": SYSTEMS,
    "tasks": ["sluice", "prefect"],
    "loop": ["sluice"],
    "loop_task": ["sluice"],
}
# Sluice on PostgreSQL (--store) runs whatever Sluice runs.
KIND_SYSTEMS = {kind: [*systems, SLUICE_PG] if "sluice" in systems else systems
                for kind, systems in KIND_SYSTEMS.items()}
QUICK_PREFECT_MAP_ITEMS = 1000

# Published figures for 40 sequential trivial Python tasks (Windmill's orchestrator benchmark),
# seconds, printed beside python_tasks_40 for scale. Their machines are not this one.
TASKS_40_ANCHORS = {"Hatchet": 1.2, "Windmill": 2.1, "Temporal": 3.0, "Prefect": 4.9, "Airflow": 116}

# A trivial Python function for the Task shapes: adds one to `n`, keeps the rest of the event.
ADD_ONE = """def handler(event, context):
    return dict(event, n=event["n"] + 1)
"""

PREFECT_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    # The temporary API server runs its DB migrations at start; under load that exceeds the
    # default wait and Prefect gives up ("Timed out while attempting to connect to ephemeral ...").
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
}

SUMMARY_RE = re.compile(
    r"(\d+) executions?, (\d+) state transitions in ([0-9.]+)s \(([0-9.]+)/s, (\d+) commits\)"
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- flows


def pass_chain(n: int) -> dict:
    states = {}
    for i in range(n):
        s: dict = {"Type": "Pass"}
        if i == n - 1:
            s["End"] = True
        else:
            s["Next"] = f"S{i + 1}"
        states[f"S{i}"] = s
    return {"Comment": f"{n} Pass states in a chain", "StartAt": "S0", "States": states}


def map_flow() -> dict:
    return {
        "Comment": "inline Map over $.items, iterator = one Pass state",
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "P",
                    "States": {"P": {"Type": "Pass", "End": True}},
                },
                "End": True,
            }
        },
    }


def task_chain(n: int) -> dict:
    """A warm-up Task (its result dropped), then n sequential Tasks, all calling add_one."""
    states: dict = {
        "Warm": {"Type": "Task", "Resource": "sluice:function:add_one", "ResultPath": None, "Next": "T0"}
    }
    for i in range(n):
        s: dict = {"Type": "Task", "Resource": "sluice:function:add_one"}
        if i == n - 1:
            s["End"] = True
        else:
            s["Next"] = f"T{i + 1}"
        states[f"T{i}"] = s
    return {
        "Comment": f"a warm-up call, then {n} sequential Tasks calling add_one",
        "StartAt": "Warm",
        "States": states,
    }


def counting_loop(with_task: bool) -> dict:
    """Counts `$.n` up to `$.limit`: a Pass (or a Task calling add_one) and a Choice per iteration."""
    if with_task:
        step = {"Type": "Task", "Resource": "sluice:function:add_one", "Next": "Check"}
    else:
        step = {
            "Type": "Pass",
            "Parameters": {"n.$": "States.MathAdd($.n, 1)", "limit.$": "$.limit"},
            "Next": "Check",
        }
    return {
        "Comment": "a loop of " + ("Task" if with_task else "Pass") + " and Choice states",
        "StartAt": "Step",
        "States": {
            "Step": step,
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericLessThanPath": "$.limit", "Next": "Step"}],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }


def write_project(root: Path, shape: str, definition: dict) -> Path:
    """A Sluice project directory with the add_one function and the shape's flow."""
    project = root / shape
    (project / "functions").mkdir(parents=True, exist_ok=True)
    (project / "flows").mkdir(parents=True, exist_ok=True)
    (project / "functions" / "add_one.py").write_text(ADD_ONE)
    (project / "flows" / "main.json").write_text(json.dumps(definition, indent=1))
    (project / "sluice.yaml").write_text(
        "functions:\n"
        "  add_one: { runtime: python3, handler: functions/add_one.handler, concurrency: 1 }\n"
        "flows:\n"
        "  main: flows/main.json\n"
    )
    return project


def write_flows(flow_dir: Path, shapes: list[str]) -> dict:
    """Writes each shape's ASL definition (a flow file, or a project directory when it calls a
    function) and input; returns shape -> (flow or project, input, expected)."""
    flow_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for shape in shapes:
        kind, executions, size = SHAPES[shape]
        project = None
        if kind == "map":
            definition = map_flow()
            inp = {"items": list(range(size))}
            expected = inp["items"]
        elif kind == "tasks":
            project = write_project(flow_dir, shape, task_chain(size))
            inp = {"n": 0}
            expected = {"n": size}
        elif kind in ("loop", "loop_task"):
            definition = counting_loop(kind == "loop_task")
            if kind == "loop_task":
                project = write_project(flow_dir, shape, definition)
            inp = {"n": 0, "limit": size}
            expected = {"n": size, "limit": size}
        else:
            definition = pass_chain(size)
            inp = {"n": 0, "tag": shape}
            expected = inp
        if project is None:
            flow = flow_dir / f"{shape}.json"
            flow.write_text(json.dumps(definition, indent=1))
        else:
            flow = project
        inp_file = flow_dir / f"{shape}.input.json"
        inp_file.write_text(json.dumps(inp))
        files[shape] = (flow, inp_file, expected)
    return files


# ---------------------------------------------------------------------------- processes


TIME = Path("/usr/bin/time")


def run_process(cmd: list[str], env: dict | None, timeout: float, cwd: Path | None = None,
                measure_rss: bool = False) -> dict:
    """Runs cmd in its own process group; kills that group on timeout. Returns wall/CPU/output,
    and with `measure_rss` the peak RSS of cmd in MB (through /usr/bin/time, when present)."""
    rss_file = None
    if measure_rss and TIME.exists():
        fd, rss_name = tempfile.mkstemp(prefix="rss-", suffix=".txt")
        os.close(fd)
        rss_file = Path(rss_name)
        cmd = [str(TIME), "-f", "%M", "-o", str(rss_file), *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
        text=True,
    )
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
    wall = time.perf_counter() - start
    # Prefect's temporary API server is a child of the process: reap any leftovers of the group.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = {
        "rc": proc.returncode,
        "timed_out": timed_out,
        "wall_s": wall,
        "cpu_s": cpu,
        "stdout": out or "",
        "stderr": err or "",
    }
    if rss_file is not None:
        text = rss_file.read_text().strip().splitlines()
        rss_file.unlink()
        if text and text[-1].isdigit():
            result["max_rss_mb"] = int(text[-1]) / 1024
    return result


def last_json_line(text: str) -> dict | None:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def tail(text: str, n: int = 6) -> str:
    lines = [l for l in text.splitlines() if l.strip()]
    return "\n".join(lines[-n:])


def fs_type(path: Path) -> str:
    """The filesystem type of the mount holding path (from /proc/mounts), or '?'."""
    try:
        best, kind = "", "?"
        real = str(path.resolve())
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and (real == parts[1] or real.startswith(parts[1].rstrip("/") + "/")):
                if len(parts[1]) > len(best):
                    best, kind = parts[1], parts[2]
        return kind
    except OSError:
        return "?"


# ---------------------------------------------------------------------------- install


def install_statebox(scratch: Path) -> Path:
    root = scratch / "statebox"
    pkg = root / "node_modules" / "@wmfs" / "statebox" / "package.json"
    if not pkg.exists():
        log(f"installing @wmfs/statebox into {root} ...")
        root.mkdir(parents=True, exist_ok=True)
        if not (root / "package.json").exists():
            (root / "package.json").write_text('{"name": "sluice-bench-peers", "private": true}\n')
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "@wmfs/statebox"], cwd=root, check=True
        )
    return root / "node_modules"


def install_prefect(scratch: Path) -> Path:
    venv = scratch / "venv"
    py = venv / "bin" / "python"
    ok = py.exists() and subprocess.run(
        [str(py), "-c", "import prefect, fastapi"], capture_output=True
    ).returncode == 0
    if not ok:
        log(f"installing prefect into {venv} (about a minute) ...")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "prefect", "fastapi==0.139.*"], check=True
        )
    return py


def version_of(cmd: list[str], env: dict | None = None) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        return (r.stdout.strip() or r.stderr.strip()).splitlines()[-1]
    except Exception as e:  # noqa: BLE001
        return f"? ({e})"


def build_sluice(args) -> Path:
    binary = Path(args.sluice) if args.sluice else REPO / "target" / "release" / "sluice"
    if not args.no_build and not args.sluice:
        log("cargo build --release -p sluice ...")
        r = subprocess.run(["cargo", "build", "--release", "-p", "sluice"], cwd=REPO)
        if r.returncode != 0:
            if binary.exists():
                log(f"WARNING: the build failed; using the existing {binary}")
            else:
                sys.exit("the sluice build failed and there is no binary to fall back on")
    if not binary.exists():
        sys.exit(f"no sluice binary at {binary}")
    return binary


# ---------------------------------------------------------------------------- one run


def task_timings(binary: Path, data_dir: Path, execution: str, env: dict) -> dict:
    """From the history of a python_tasks_40 execution: how long the warm-up call took (the
    function's cold start included), and the 40 Tasks after it, from entering the first to the
    execution's end."""
    r = subprocess.run([str(binary), "--data-dir", str(data_dir), "history", execution, "--json"],
                       capture_output=True, text=True, env=env)
    events = [json.loads(line) for line in r.stdout.splitlines()]
    at = {}
    for e in events:
        if e["type"] == "TaskScheduled":
            at.setdefault("scheduled", e["timestamp_ms"])
        elif e["type"] == "TaskSucceeded":
            at.setdefault("warm", e["timestamp_ms"])
        elif e["type"] == "TaskStateEntered" and e["details"].get("name") == "T0":
            at["first"] = e["timestamp_ms"]
        elif e["type"] == "ExecutionSucceeded":
            at["end"] = e["timestamp_ms"]
    if len(at) < 4:
        return {}
    return {"first_call_s": (at["warm"] - at["scheduled"]) / 1000, "tasks_s": (at["end"] - at["first"]) / 1000}


def with_schema(url: str, schema: str) -> str:
    """A PostgreSQL store URL that keeps the store's tables in `schema`."""
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def psql(url: str, sql: str) -> str | None:
    """Runs SQL with psql on the server of a store URL (its own parameters left out); None
    without psql or on failure."""
    if not shutil.which("psql"):
        return None
    r = subprocess.run(["psql", url.split("?")[0], "-Atc", sql], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def run_sluice(binary: Path, shape: str, files: dict, tmp_root: Path, timeout: float,
               env: dict | None, store: str | None = None) -> dict:
    """One run of a shape, on SQLite in a fresh data dir, or on PostgreSQL (`store`) in a fresh
    schema."""
    kind, executions, size = SHAPES[shape]
    flow, inp, expected = files[shape]
    data_dir = Path(tempfile.mkdtemp(prefix=f"sluice-{shape}-", dir=tmp_root))
    cmd = [str(binary), "--data-dir", str(data_dir), "run", str(flow), "--input", f"@{inp}", "--json"]
    if executions > 1:
        cmd += ["--executions", str(executions)]
    else:
        cmd += ["--name", "bench"]
    env = {k: v for k, v in (env or os.environ).items() if k != "SLUICE_STORE"}
    schema = None
    if store:
        schema = f"sluice_bench_{os.getpid()}_{time.time_ns()}"
        env["SLUICE_STORE"] = with_schema(store, schema)
    p = run_process(cmd, env, timeout, measure_rss=True)
    timings = task_timings(binary, data_dir, "bench", env) if kind == "tasks" else {}
    shutil.rmtree(data_dir, ignore_errors=True)
    if schema:
        psql(store, f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    res = {"process_wall_s": p["wall_s"], "cpu_s": p["cpu_s"], "units": executions * size, **timings}
    if "max_rss_mb" in p:
        res["max_rss_mb"] = p["max_rss_mb"]
    if p["timed_out"]:
        return {**res, "status": "timeout"}
    lines = []
    for line in p["stdout"].splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    problems = []
    if p["rc"] != 0:
        problems.append(f"exit code {p['rc']}")
    if len(lines) != executions:
        problems.append(f"{len(lines)} result lines, expected {executions}")
    for r in lines:
        out = r.get("output")
        if isinstance(out, str):
            try:
                out = json.loads(out)
            except json.JSONDecodeError:
                pass
        if r.get("status") != "SUCCEEDED" or out != expected:
            problems.append(f"bad result: {json.dumps(r)[:300]}")
            break
    m = SUMMARY_RE.search(p["stderr"])
    if m:
        res.update(
            engine_s=float(m.group(3)),
            transitions=int(m.group(2)),
            engine_tps=float(m.group(4)),
            commits=int(m.group(5)),
        )
    else:
        res["note"] = "no summary line on stderr; engine time unknown, using process wall time"
    if problems:
        return {**res, "status": "failed", "problems": problems, "stderr_tail": tail(p["stderr"])}
    if kind == "tasks" and "tasks_s" not in res:
        return {**res, "status": "failed", "problems": ["no task timings in the history"]}
    res["status"] = "ok"
    # The time compared with the peers' in-process times: the engine's own (after startup); for
    # the Task shape the 40 Tasks once the function is warm, as Prefect's after its warm-up flow.
    res["seconds"] = res["tasks_s"] if kind == "tasks" else res.get("engine_s", p["wall_s"])
    return res


def run_peer(peer: str, shape: str, ctx: dict, tmp_root: Path, timeout: float, quick: bool) -> dict:
    kind, executions, size = SHAPES[shape]
    note = None
    if peer == "prefect" and kind == "map" and quick:
        size = QUICK_PREFECT_MAP_ITEMS
        note = f"--quick: Prefect map reduced to {size} items"
    sizes = [str(executions), str(size)] if kind == "concurrent" else [str(size)]
    # Prefect's `chain` is one flow calling a trivial Python task N times in sequence.
    peer_kind = "chain" if kind == "tasks" else kind
    home = None
    if peer == "statebox":
        env = {**os.environ, "NODE_PATH": str(ctx["node_path"])}
        cmd = ["node", str(HERE / "statebox_shapes.js"), peer_kind, *sizes]
    else:
        home = Path(tempfile.mkdtemp(prefix=f"prefect-home-{shape}-", dir=tmp_root))
        env = {**os.environ, **PREFECT_ENV, "PREFECT_HOME": str(home)}
        cmd = [str(ctx["prefect_python"]), str(HERE / "prefect_shapes.py"), peer_kind, *sizes]
    p = run_process(cmd, env, timeout)
    if home:
        shutil.rmtree(home, ignore_errors=True)
    res = {"process_wall_s": p["wall_s"], "cpu_s": p["cpu_s"], "units": executions * size}
    if note:
        res["note"] = note
    if p["timed_out"]:
        return {**res, "status": "timeout"}
    line = last_json_line(p["stdout"])
    if p["rc"] != 0 or not line or not line.get("ok"):
        return {**res, "status": "failed", "rc": p["rc"], "line": line, "stderr_tail": tail(p["stderr"])}
    res.update(status="ok", seconds=line["seconds"], units=line["units"])
    for k in ("setup_s", "import_s", "warmup_s"):
        if k in line:
            res[k] = line[k]
    return res


# ---------------------------------------------------------------------------- summary


def summarize(runs: list[dict]) -> dict:
    """Median over runs; a timeout or failure counts as infinitely slow."""
    inf = float("inf")
    secs = [r["seconds"] if r["status"] == "ok" else inf for r in runs]
    med = statistics.median(secs) if secs else inf
    out: dict = {
        "runs": len(runs),
        "ok_runs": sum(r["status"] == "ok" for r in runs),
        "timeouts": sum(r["status"] == "timeout" for r in runs),
        "failures": sum(r["status"] == "failed" for r in runs),
    }
    if med == inf:
        out["status"] = "timeout" if out["timeouts"] else "failed"
        return out
    ok = [r for r in runs if r["status"] == "ok"]
    units = ok[0]["units"]
    out.update(
        status="ok",
        seconds=med,
        units=units,
        units_per_s=units / med if med > 0 else None,
        process_wall_s=statistics.median(r["process_wall_s"] for r in ok),
        cpu_s=statistics.median(r["cpu_s"] for r in ok),
        all_seconds=[round(s, 4) if s != inf else None for s in secs],
    )
    if "engine_s" in ok[0]:
        out["transitions"] = ok[0]["transitions"]
        out["engine_tps"] = statistics.median(r["engine_tps"] for r in ok)
        out["commits"] = statistics.median(r["commits"] for r in ok)
    for k in ("warmup_s", "setup_s", "max_rss_mb", "first_call_s", "engine_s"):
        if k in ok[0]:
            out[k] = statistics.median(r[k] for r in ok)
    notes = sorted({r["note"] for r in runs if r.get("note")})
    if notes:
        out["notes"] = notes
    return out


def ratio(sluice_s: float | None, sluice_units: int, peer: dict) -> float | None:
    """Sluice speed over peer speed per unit of work (higher = Sluice faster)."""
    if not sluice_s or peer.get("status") != "ok":
        return None
    return (peer["seconds"] / peer["units"]) / (sluice_s / sluice_units)


def fmt(x, nd=3) -> str:
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.{nd}f}"


def fmt_ratio(x) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}x" if x >= 100 else f"{x:.1f}x" if x >= 10 else f"{x:.2f}x"


def tasks_table(summary: dict) -> str:
    """python_tasks_40 beside the published figures for the same shape."""
    per = summary.get("python_tasks_40", {})
    sl, pf = per.get("sluice", {}), per.get("prefect", {})
    rows = ["| System | 40 sequential Python tasks, s | Source |", "|---|---|---|"]
    if sl.get("status") == "ok":
        rows.append(f"| Sluice | {fmt(sl['seconds'])} | this run: the 40 Tasks after a warm-up call, durable on SQLite |")
        rows.append(
            f"| Sluice, with the cold start | {fmt(sl['engine_s'])} (process {fmt(sl['process_wall_s'])}) | this run: "
            f"engine time of the whole execution, the warm-up call's {fmt(sl['first_call_s'])} s cold start included |"
        )
    if pf.get("status") == "ok":
        rows.append(f"| Prefect 3 | {fmt(pf['seconds'])} | this run, after a warm-up flow |")
    for name, secs in TASKS_40_ANCHORS.items():
        rows.append(f"| {name} | {fmt(float(secs))} | published (Windmill's benchmark) |")
    return "\n".join(rows)


def loops_table(summary: dict) -> str:
    """The loop shapes: time per iteration and peak RSS."""
    rows = ["| Shape | Iterations | Engine s | Per iteration, us | CPU per iteration, us | Transitions/s | Commits "
            "| Peak RSS, MB | Process s |",
            "|---|---|---|---|---|---|---|---|---|"]
    for shape, per in summary.items():
        if SHAPES[shape][0] not in ("loop", "loop_task"):
            continue
        s = per.get("sluice", {})
        if s.get("status") != "ok":
            rows.append(f"| {shape} | {SHAPES[shape][2]:,} | {s.get('status', '-')} | - | - | - | - | - | - |")
            continue
        per_iter = s["seconds"] / s["units"] * 1e6
        cpu_per_iter = s["cpu_s"] / s["units"] * 1e6
        rows.append(
            f"| {shape} | {s['units']:,} | {fmt(s['seconds'])} | {per_iter:.1f} | {cpu_per_iter:.1f} | "
            f"{fmt(s.get('engine_tps'))} | {fmt(s.get('commits'))} | {fmt(s.get('max_rss_mb'))} | "
            f"{fmt(s['process_wall_s'])} |"
        )
    return "\n".join(rows)


def table(summary: dict, systems: list[str]) -> str:
    rows = [
        "| Shape | System | Wall s (median) | Transitions/s | Sluice/peer | Process wall s | CPU s | Runs ok |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for shape, per in summary.items():
        sl = per.get("sluice", {})
        sl_ok = sl.get("status") == "ok"
        for system in systems:
            s = per.get(system)
            if s is None:
                continue
            runs_ok = f"{s['ok_runs']}/{s['runs']}"
            if s["status"] != "ok":
                rows.append(f"| {shape} | {system} | {s['status']} | - | - | - | - | {runs_ok} |")
                continue
            if system in ("sluice", SLUICE_PG):
                tps = s.get("engine_tps", s["units_per_s"])
                r = "(engine time)" if "engine_tps" in s else "(process time)"
            else:
                tps = s["units_per_s"]
                r = "-"
                if sl_ok:
                    r = fmt_ratio(ratio(sl["seconds"], sl["units"], s))
                    r += f" ({fmt_ratio(ratio(sl['process_wall_s'], sl['units'], s))} vs Sluice process)"
            name = system
            if s.get("notes"):
                name += " *"
            rows.append(
                f"| {shape} | {name} | {fmt(s['seconds'])} | {fmt(tps)} | {r} | "
                f"{fmt(s['process_wall_s'])} | {fmt(s['cpu_s'], 2)} | {runs_ok} |"
            )
    return "\n".join(rows)


# ---------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="runs per shape and system; the median is reported")
    ap.add_argument("--quick", action="store_true",
                    help=f"1 run, and Prefect's map over {QUICK_PREFECT_MAP_ITEMS} items instead of 10,000")
    ap.add_argument("--only", default=",".join(SYSTEMS), help="systems, comma-separated")
    ap.add_argument("--shapes", default=",".join(DEFAULT_SHAPES),
                    help="shapes, comma-separated; `loops` stands for every loop shape")
    ap.add_argument("--python", help="the Python the functions run on (default: python3 on PATH)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per process (default 600)")
    ap.add_argument("--scratch", default=str(BENCH / ".peers"),
                    help="where peers are installed and temp dirs made (default bench/.peers)")
    ap.add_argument("--sluice", help="path to a sluice binary (skips the build)")
    ap.add_argument("--no-build", action="store_true", help="use target/release/sluice as it is")
    ap.add_argument("--store", help="also run Sluice on this PostgreSQL server (postgres://USER@HOST:PORT/DB): "
                    f"system {SLUICE_PG}, a fresh schema per run")
    ap.add_argument("--out", default=str(BENCH / "out" / "engine.json"))
    args = ap.parse_args()

    systems = [s.strip() for s in args.only.split(",") if s.strip()]
    shapes = []
    for s in args.shapes.split(","):
        s = s.strip()
        shapes += LOOP_SHAPES if s == "loops" else [s] if s else []
    for s in systems:
        if s not in SYSTEMS:
            sys.exit(f"unknown system {s}; choose from {','.join(SYSTEMS)}")
    if args.store:
        if not args.store.startswith(("postgres://", "postgresql://")):
            sys.exit("--store takes a postgres:// URL")
        if "sluice" not in systems:
            sys.exit("--store runs Sluice on PostgreSQL: keep sluice in --only")
        systems.insert(systems.index("sluice") + 1, SLUICE_PG)
    for s in shapes:
        if s not in SHAPES:
            sys.exit(f"unknown shape {s}; choose from {','.join(SHAPES)}")
    runs = 1 if args.quick else max(1, args.runs)

    scratch = Path(args.scratch).resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    tmp_root = scratch / "tmp"
    tmp_root.mkdir(exist_ok=True)
    tmp_fs = fs_type(tmp_root)
    if tmp_fs in ("tmpfs", "ramfs"):
        log(f"WARNING: {tmp_root} is on {tmp_fs}; fsync costs nothing there, pick --scratch on a disk")

    ctx: dict = {}
    versions: dict = {}
    if "sluice" in systems:
        ctx["sluice"] = build_sluice(args)
        versions["sluice"] = version_of([str(ctx["sluice"]), "--version"])
        if any(SHAPES[s][0] in ("tasks", "loop_task") for s in shapes):
            # Every Python side runs the interpreter behind python3, shims resolved.
            functions_bench = _load("bench_functions_run", BENCH / "functions" / "run.py")
            python, ctx["sluice_env"] = functions_bench.python_env(args, tmp_root)
            versions["python"] = version_of([str(python), "--version"])
    if SLUICE_PG in systems:
        versions["postgresql"] = psql(args.store, "SHOW server_version") or "?"
    if "statebox" in systems:
        ctx["node_path"] = install_statebox(scratch)
        pkg = json.loads((ctx["node_path"] / "@wmfs" / "statebox" / "package.json").read_text())
        versions["statebox"] = pkg.get("version")
        versions["node"] = version_of(["node", "--version"])
    if "prefect" in systems:
        ctx["prefect_python"] = install_prefect(scratch)
        versions["prefect"] = version_of(
            [str(ctx["prefect_python"]), "-c", "import prefect, fastapi; print(prefect.__version__, 'fastapi', fastapi.__version__)"]
        )

    files = write_flows(tmp_root / "flows", shapes)
    started = dt.datetime.now(dt.timezone.utc)
    load_before = os.getloadavg()
    on = {shape: [s for s in systems if s in KIND_SYSTEMS[SHAPES[shape][0]]] for shape in shapes}
    all_runs: dict = {shape: {system: [] for system in on[shape]} for shape in shapes}
    for i in range(runs):
        for shape in shapes:
            for system in on[shape]:
                log(f"run {i + 1}/{runs} {shape} {system} ...")
                if system == "sluice":
                    r = run_sluice(ctx["sluice"], shape, files, tmp_root, args.timeout, ctx.get("sluice_env"))
                elif system == SLUICE_PG:
                    r = run_sluice(ctx["sluice"], shape, files, tmp_root, args.timeout, ctx.get("sluice_env"),
                                   args.store)
                else:
                    r = run_peer(system, shape, ctx, tmp_root, args.timeout, args.quick)
                all_runs[shape][system].append(r)
                shown = r.get("seconds")
                msg = f"    {r['status']}"
                if shown is not None:
                    msg += f" {shown:.3f}s ({r['units'] / shown if shown else 0:,.0f}/s)"
                msg += f", process {r['process_wall_s']:.2f}s, cpu {r['cpu_s']:.2f}s"
                if "engine_tps" in r:
                    msg += f", engine {r['transitions']} transitions {r['engine_tps']:,.0f}/s {r['commits']} commits"
                if "max_rss_mb" in r:
                    msg += f", peak RSS {r['max_rss_mb']:.0f} MB"
                if r.get("note"):
                    msg += f" [{r['note']}]"
                log(msg)
                if r["status"] == "failed":
                    log("    " + json.dumps({k: v for k, v in r.items() if k != "stderr_tail"})[:600])
                    log("    stderr: " + r.get("stderr_tail", "").replace("\n", "\n            "))
    load_after = os.getloadavg()

    summary = {shape: {system: summarize(all_runs[shape][system]) for system in on[shape]} for shape in shapes}
    for shape in shapes:
        sl = summary[shape].get("sluice")
        for peer in PEERS:
            p = summary[shape].get(peer)
            if sl and p and sl.get("status") == "ok":
                p["ratio_sluice_over_peer"] = ratio(sl["seconds"], sl["units"], p)
                p["ratio_sluice_process_over_peer"] = ratio(sl["process_wall_s"], sl["units"], p)

    machine = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
        "scratch_fs": tmp_fs,
    }
    git = version_of(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    result = {
        "benchmark": "engine",
        "date": started.isoformat(timespec="seconds"),
        "git": git,
        "runs": runs,
        "quick": args.quick,
        "timeout_s": args.timeout,
        "machine": machine,
        "versions": versions,
        "shapes": {k: {"kind": v[0], "executions": v[1], "size": v[2]} for k, v in SHAPES.items() if k in shapes},
        "published_python_tasks_40_s": TASKS_40_ANCHORS if "python_tasks_40" in shapes else None,
        "summary": summary,
        "raw": {
            shape: {system: [{k: v for k, v in r.items() if k != "stderr_tail"} for r in rs]
                    for system, rs in per.items()}
            for shape, per in all_runs.items()
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")

    print()
    print(f"Engine benchmark, {started:%Y-%m-%d %H:%M} UTC, {machine['cpus']} CPUs, "
          f"load {load_before[0]:.1f} -> {load_after[0]:.1f}, median of {runs} run(s)"
          + (" [--quick]" if args.quick else ""))
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    compared = {k: v for k, v in summary.items() if k not in LOOP_SHAPES}
    if compared:
        print(table(compared, systems))
        print()
    if "python_tasks_40" in shapes:
        print(tasks_table(summary))
        print()
    if any(s in LOOP_SHAPES for s in shapes):
        print(loops_table(summary))
        print()
    print("Wall s: Sluice = the engine's own time from its summary line (after startup); peers = time measured")
    print("inside the peer process after setup (Prefect: after a warm-up flow started its API server).")
    print("Transitions/s: Sluice = the engine's count (states entered); peers = states/task runs of the shape.")
    print("Sluice/peer = peer time per unit / Sluice time per unit, higher = Sluice faster; in brackets the same")
    print("against Sluice's whole process wall time (startup, compile, SQLite open included).")
    notes = sorted({n for per in summary.values() for s in per.values() for n in s.get("notes", [])})
    for n in notes:
        print(f"* {n}")
    print(f"Wrote {out}")
    bad = [(sh, sy) for sh, per in summary.items() for sy, s in per.items() if s["status"] == "failed"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
