#!/usr/bin/env python3
"""Function-runtime benchmark: Sluice's warm pools against raw Python processes and DuckDB.

    python3 bench/functions/run.py [--runs 5] [--quick] [--only warm,cold,wordcount]
                                   [--calls 2000] [--warmup 100] [--cold-trials 20]
                                   [--records 10000000] [--shard-lines 25000] [--wordcount-runs 3]
                                   [--flow wordcount-asl]
                                   [--runtime python|node] [--python PATH] [--node PATH]
                                   [--timeout 900] [--scratch bench/.peers]
                                   [--sluice PATH | --no-build]

Three measurements, each against a peer in the same run (see bench/README.md):
  warm       p50/p99 of sequential invocations of an echo function on a warm pool, timed
             inside `sluice invoke` around each call, against a raw pipe round trip to a process
             of the same runtime calling the same handler (JSON line in, JSON line out), timed by
             this script.
  cold       the first invocation on a fresh pool (spawn + bootstrap + first response), timed
             inside `sluice invoke`, against a fresh `python3 -c pass` (`node -e 0`) timed by this
             script.
  respawn    on a running `sluice serve`, a Lambda Invoke call that starts a new instance (the
             previous one reaped after its 200 ms idle timeout) against the next call, served warm
             through the same API; the difference is what starting an instance costs a node.
  wordcount  `sluice run examples/wordcount` over N generated records (default 10,000,000) in one
             JSON-lines file, against a single-threaded plain Python script and DuckDB (SQL over
             the same file); all must report the generator's exact totals or the script fails.

`--runtime node` runs warm, cold and respawn with the Node.js echo function (functions/node,
functions/node-respawn) and Node peers (functions/pipe_echo.js, `node -e 0`) instead; the word count
is Python only. Sluice's functions and every Python peer run on the same interpreter: by default the one behind
`python3` on PATH (version managers' shims resolved), put first on PATH for Sluice. DuckDB is
installed on first use into a venv in the scratch dir; the records file is generated there once
(deterministic seed) and reused. Runs of the systems are interleaved so load drift hits all of
them; medians are reported. Prints markdown tables and writes bench/out/functions.json.
Standard library only.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
REPO = BENCH.parent
PROJECTS = {"python": (HERE / "echo", HERE / "respawn"), "node": (HERE / "node", HERE / "node-respawn")}
WORDCOUNT = REPO / "examples" / "wordcount"

sys.path.insert(0, str(HERE))
import gen_records  # noqa: E402

PARTS = ["warm", "cold", "respawn", "wordcount"]
EVENT = {"id": 1234567, "user": "u012345", "value": "data_1"}
SEED = 42


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- processes


def run_process(cmd: list[str], timeout: float, env: dict | None = None) -> dict:
    """Runs cmd in its own process group, killed on timeout. Returns wall/CPU seconds and output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True, text=True)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"rc": proc.returncode, "timed_out": timed_out, "wall_s": wall, "cpu_s": cpu,
            "stdout": out or "", "stderr": err or ""}


def last_json_line(text: str) -> dict | None:
    for line in reversed(text.splitlines()):
        if line.strip().startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def tail(text: str, n: int = 6) -> str:
    return "\n".join([l for l in text.splitlines() if l.strip()][-n:])


def version_of(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        return (r.stdout.strip() or r.stderr.strip()).splitlines()[-1]
    except Exception as e:  # noqa: BLE001
        return f"? ({e})"


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile, as `sluice invoke` computes it."""
    rank = -(-p * len(sorted_values) // 100)
    return sorted_values[min(max(int(rank), 1), len(sorted_values)) - 1]


# ---------------------------------------------------------------------------- setup


def build_sluice(args) -> Path:
    binary = Path(args.sluice) if args.sluice else REPO / "target" / "release" / "sluice"
    if not args.no_build and not args.sluice:
        log("cargo build --release -p sluice ...")
        if subprocess.run(["cargo", "build", "--release", "-p", "sluice"], cwd=REPO).returncode:
            if not binary.exists():
                sys.exit("the sluice build failed and there is no binary to fall back on")
            log(f"WARNING: the build failed; using the existing {binary}")
    if not binary.exists():
        sys.exit(f"no sluice binary at {binary}")
    return binary


def python_env(args, tmp_root: Path) -> tuple[Path, dict]:
    """The interpreter every Python side runs on, and an environment whose `python3` is it."""
    wanted = args.python or shutil.which("python3")
    if not wanted:
        sys.exit("no python3 on PATH; pass --python")
    # Resolve shims (pyenv, asdf): ask the interpreter itself where it is.
    real = subprocess.run([wanted, "-c", "import sys; print(sys.executable)"],
                          capture_output=True, text=True, check=True).stdout.strip()
    bin_dir = tmp_root / "python-bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    link = bin_dir / "python3"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(real)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    return Path(real), env


def node_path(args, env: dict) -> Path:
    """The node binary of the Node peers: the one Sluice's functions run on unless --node says."""
    wanted = args.node or shutil.which("node", path=env["PATH"])
    if not wanted:
        sys.exit("no node on PATH; pass --node")
    real = subprocess.run([wanted, "-e", "process.stdout.write(process.execPath)"],
                          capture_output=True, text=True, check=True).stdout.strip()
    return Path(real)


def install_duckdb(scratch: Path, python: Path) -> Path:
    venv = scratch / "venv-duckdb"
    py = venv / "bin" / "python"
    ok = py.exists() and subprocess.run([str(py), "-c", "import duckdb"],
                                        capture_output=True).returncode == 0
    if not ok:
        log(f"installing duckdb into {venv} ...")
        subprocess.run([str(python), "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "duckdb"], check=True)
    return py


# ---------------------------------------------------------------------------- warm invoke


def sluice_invoke(ctx: dict, repeat: int, warmup: int, timeout: float) -> dict:
    cmd = [str(ctx["sluice"]), "--data-dir", str(ctx["data_dir"]), "invoke", str(ctx["echo_project"]),
           "echo", "--input", json.dumps(EVENT), "--repeat", str(repeat), "--warmup", str(warmup),
           "--json"]
    p = run_process(cmd, timeout, ctx["env"])
    line = last_json_line(p["stdout"])
    ok = p["rc"] == 0 and line and line.get("output") == EVENT and line.get("stats")
    if not ok:
        return {"status": "failed", "rc": p["rc"], "line": line, "stderr_tail": tail(p["stderr"])}
    return {"status": "ok", "process_wall_s": p["wall_s"], **line["stats"]}


def pipe_round_trips(ctx: dict, calls: int, warmup: int) -> dict:
    """Times `calls` round trips (after `warmup`) to a fresh pipe_echo.py (pipe_echo.js) process."""
    proc = subprocess.Popen(ctx["pipe_peer"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ctx["env"])
    times = []
    try:
        for i in range(warmup + calls):
            started = time.perf_counter_ns()
            proc.stdin.write(json.dumps(EVENT).encode() + b"\n")
            proc.stdin.flush()
            result = json.loads(proc.stdout.readline())
            elapsed = time.perf_counter_ns() - started
            if result != EVENT:
                return {"status": "failed", "problem": f"pipe worker answered {result!r}"}
            if i >= warmup:
                times.append(elapsed / 1000)
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    times.sort()
    return {"status": "ok", "warm_calls": len(times), "p50_us": percentile(times, 50),
            "p90_us": percentile(times, 90), "p99_us": percentile(times, 99),
            "max_us": times[-1], "mean_us": statistics.fmean(times)}


def bench_warm(ctx: dict, args, runs: int) -> dict:
    rows = {"sluice": [], "pipe": []}
    for i in range(runs):
        log(f"warm {i + 1}/{runs}: sluice invoke --repeat {1 + args.warmup + args.calls} ...")
        s = sluice_invoke(ctx, 1 + args.warmup + args.calls, args.warmup, args.timeout)
        rows["sluice"].append(s)
        log(f"    {fmt_lat(s)}")
        log(f"warm {i + 1}/{runs}: raw pipe, {args.calls} round trips ...")
        p = pipe_round_trips(ctx, args.calls, args.warmup)
        rows["pipe"].append(p)
        log(f"    {fmt_lat(p)}")
    summary = {}
    for system, rs in rows.items():
        ok = [r for r in rs if r["status"] == "ok"]
        summary[system] = {"runs": len(rs), "ok_runs": len(ok)}
        if ok:
            for k in ("p50_us", "p90_us", "p99_us", "max_us", "mean_us"):
                summary[system][k] = statistics.median(r[k] for r in ok)
            summary[system]["calls_per_run"] = ok[0]["warm_calls"]
    s, p = summary["sluice"], summary["pipe"]
    if s["ok_runs"] and p["ok_runs"]:
        for q in ("p50", "p99"):
            summary[f"ratio_{q}"] = s[f"{q}_us"] / p[f"{q}_us"]
            summary[f"added_{q}_us"] = s[f"{q}_us"] - p[f"{q}_us"]
    return {"summary": summary, "raw": strip(rows)}


def fmt_lat(r: dict) -> str:
    if r["status"] != "ok":
        return f"FAILED {json.dumps({k: v for k, v in r.items() if k != 'stderr_tail'})[:300]} " \
               f"{r.get('stderr_tail', '')}"
    return (f"p50 {r['p50_us']:.0f} us, p90 {r['p90_us']:.0f} us, p99 {r['p99_us']:.0f} us, "
            f"max {r['max_us']:.0f} us over {r['warm_calls']} calls")


# ---------------------------------------------------------------------------- cold start


def bench_cold(ctx: dict, args, trials: int) -> dict:
    rows = {"sluice": [], "python": []}
    program, *peer_args = ctx["start_peer"]
    label = " ".join([Path(program).name, *peer_args])
    for i in range(trials):
        s = sluice_invoke(ctx, 1, 0, args.timeout)
        if s["status"] == "ok":
            s = {"status": "ok", "ms": s["cold_start_us"] / 1000, "process_wall_ms": s["process_wall_s"] * 1000}
        rows["sluice"].append(s)
        p = run_process(ctx["start_peer"], args.timeout, ctx["env"])
        rows["python"].append({"status": "ok" if p["rc"] == 0 else "failed", "ms": p["wall_s"] * 1000})
        if s["status"] != "ok":
            log(f"cold {i + 1}/{trials}: sluice FAILED {s}")
        else:
            log(f"cold {i + 1}/{trials}: sluice first call {s['ms']:.1f} ms "
                f"(process {s['process_wall_ms']:.0f} ms), {label} {rows['python'][-1]['ms']:.1f} ms")
    summary = {}
    for system, rs in rows.items():
        ok = [r["ms"] for r in rs if r["status"] == "ok"]
        summary[system] = {"trials": len(rs), "ok": len(ok)}
        if ok:
            summary[system].update(median_ms=statistics.median(ok), min_ms=min(ok), max_ms=max(ok))
    ok_proc = [r["process_wall_ms"] for r in rows["sluice"] if r["status"] == "ok"]
    if ok_proc:
        summary["sluice"]["process_wall_median_ms"] = statistics.median(ok_proc)
    if summary["sluice"]["ok"] and summary["python"]["ok"]:
        summary["ratio"] = summary["sluice"]["median_ms"] / summary["python"]["median_ms"]
        summary["added_ms"] = summary["sluice"]["median_ms"] - summary["python"]["median_ms"]
    summary["peer"] = label
    return {"summary": summary, "raw": rows}


# ---------------------------------------------------------------------------- respawn


def post_invoke(port: int, event: dict, timeout: float) -> tuple[float, dict]:
    """One Lambda Invoke call to a node on loopback: (milliseconds, parsed answer)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        body = json.dumps(event).encode()
        started = time.perf_counter()
        conn.request("POST", "/2015-03-31/functions/echo/invocations", body,
                     {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        conn.close()
    if resp.status != 200 or resp.getheader("X-Amz-Function-Error"):
        raise RuntimeError(f"invoke answered {resp.status}: {data[:300]!r}")
    return elapsed, json.loads(data)


def bench_respawn(ctx: dict, args, trials: int) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data_dir = Path(tempfile.mkdtemp(prefix="sluice-respawn-", dir=ctx["tmp_root"]))
    cmd = [str(ctx["sluice"]), "--data-dir", str(data_dir), "serve", str(ctx["respawn_project"]),
           "--listen", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ctx["env"],
                            start_new_session=True)
    rows = {"new_instance": [], "warm": []}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                post_invoke(port, EVENT, args.timeout)
                break
            except (OSError, RuntimeError):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        for i in range(trials):
            time.sleep(0.5)  # over the idle timeout and the reaper's tick: the instance is gone
            fresh, out = post_invoke(port, EVENT, args.timeout)
            warm, out2 = post_invoke(port, EVENT, args.timeout)
            if out != EVENT or out2 != EVENT:
                raise RuntimeError(f"echo answered {out!r} / {out2!r}")
            rows["new_instance"].append(fresh)
            rows["warm"].append(warm)
            log(f"respawn {i + 1}/{trials}: new instance {fresh:.1f} ms, warm {warm:.1f} ms")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(data_dir, ignore_errors=True)
    summary = {k: {"median_ms": statistics.median(v), "min_ms": min(v), "max_ms": max(v), "trials": len(v)}
               for k, v in rows.items()}
    summary["added_ms"] = summary["new_instance"]["median_ms"] - summary["warm"]["median_ms"]
    return {"summary": summary, "raw": rows}


# ---------------------------------------------------------------------------- wordcount


def wc_sluice(ctx: dict, data: Path, args, run: int) -> dict:
    name = f"bench-wordcount-{os.getpid()}-{run}"
    event = {"source": f"file://{data}", "shard_lines": args.shard_lines}
    data_dir = Path(tempfile.mkdtemp(prefix="sluice-wordcount-", dir=ctx["tmp_root"]))
    cmd = [str(ctx["sluice"]), "--data-dir", str(data_dir), "run", str(WORDCOUNT),
           "--input", json.dumps(event), "--name", name, "--json"]
    if args.flow:
        cmd += ["--flow", args.flow]
    timeout = args.timeout
    try:
        p = run_process(cmd, timeout, ctx["env"])
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(WORDCOUNT / "data" / "intermediate" / name, ignore_errors=True)
    line = last_json_line(p["stdout"]) or {}
    res = {"wall_s": p["wall_s"], "cpu_s": p["cpu_s"]}
    if p["timed_out"]:
        return {**res, "status": "timeout"}
    if p["rc"] != 0 or line.get("status") != "SUCCEEDED":
        return {**res, "status": "failed", "rc": p["rc"], "error": line.get("error"),
                "cause": line.get("cause"), "stderr_tail": tail(p["stderr"])}
    out = line["output"]
    return {**res, "status": "ok", "totals": out["totals"], "shards": out["shards"]}


def wc_script(cmd: list[str], ctx: dict, timeout: float) -> dict:
    p = run_process(cmd, timeout, ctx["env"])
    res = {"wall_s": p["wall_s"], "cpu_s": p["cpu_s"]}
    if p["timed_out"]:
        return {**res, "status": "timeout"}
    line = last_json_line(p["stdout"])
    if p["rc"] != 0 or not line:
        return {**res, "status": "failed", "rc": p["rc"], "stderr_tail": tail(p["stderr"])}
    return {**res, "status": "ok", "totals": line["totals"], "inner_s": line["seconds"],
            **({"threads": line["threads"]} if "threads" in line else {})}


def bench_wordcount(ctx: dict, args, runs: int) -> dict:
    data = Path(ctx["scratch"]) / "data" / f"wordcount-{args.records}-seed{SEED}.jsonl"
    meta = gen_records.ensure(data, args.records, SEED)
    expected = meta["totals"]
    systems = {
        "sluice": lambda i: wc_sluice(ctx, data, args, i),
        "python": lambda i: wc_script([str(ctx["python"]), str(HERE / "wordcount_plain.py"), str(data)],
                                      ctx, args.timeout),
        "duckdb": lambda i: wc_script([str(ctx["duckdb_python"]), str(HERE / "wordcount_duckdb.py"), str(data)],
                                      ctx, args.timeout),
    }
    rows = {k: [] for k in systems}
    mismatches = []
    for i in range(runs):
        for system, fn in systems.items():
            log(f"wordcount {i + 1}/{runs} {system} ({args.records:,} records) ...")
            r = fn(i)
            if r["status"] == "ok" and r["totals"] != expected:
                mismatches.append({"system": system, "run": i + 1, "totals": r["totals"]})
                r["status"] = "wrong totals"
            rows[system].append(r)
            msg = f"    {r['status']} {r['wall_s']:.2f}s wall, {r['cpu_s']:.1f}s cpu"
            if r["status"] == "ok":
                msg += f", {args.records / r['wall_s']:,.0f} records/s, totals {r['totals']}"
            else:
                msg += " " + json.dumps({k: v for k, v in r.items() if k not in ('stderr_tail',)})[:400]
                msg += "\n    " + r.get("stderr_tail", "").replace("\n", "\n    ")
            log(msg)
    summary: dict = {"records": args.records, "bytes": meta["bytes"], "expected_totals": expected,
                     "shard_lines": args.shard_lines, "flow": args.flow or "wordcount"}
    for system, rs in rows.items():
        ok = [r for r in rs if r["status"] == "ok"]
        s = {"runs": len(rs), "ok_runs": len(ok)}
        if ok:
            wall = statistics.median(r["wall_s"] for r in ok)
            s.update(wall_s=wall, records_per_s=args.records / wall,
                     cpu_s=statistics.median(r["cpu_s"] for r in ok),
                     all_wall_s=[round(r["wall_s"], 3) for r in ok])
            if "inner_s" in ok[0]:
                s["inner_s"] = statistics.median(r["inner_s"] for r in ok)
            if "shards" in ok[0]:
                s["shards"] = ok[0]["shards"]
            if "threads" in ok[0]:
                s["threads"] = ok[0]["threads"]
        summary[system] = s
    for peer in ("python", "duckdb"):
        if summary["sluice"].get("ok_runs") and summary[peer].get("ok_runs"):
            summary[f"ratio_sluice_over_{peer}"] = summary["sluice"]["wall_s"] / summary[peer]["wall_s"]
    summary["all_agree"] = not mismatches and all(summary[s]["ok_runs"] == runs for s in systems)
    summary["mismatches"] = mismatches
    return {"summary": summary, "raw": strip(rows), "data_file": str(data)}


# ---------------------------------------------------------------------------- report


def strip(rows: dict) -> dict:
    return {k: [{kk: vv for kk, vv in r.items() if kk != "stderr_tail"} for r in rs] for k, rs in rows.items()}


def x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x" if v < 10 else f"{v:.1f}x"


def n(v: float | None, nd: int = 0) -> str:
    return "-" if v is None else f"{v:,.{nd}f}"


def tables(result: dict) -> str:
    out = []
    warm = result["parts"].get("warm")
    if warm:
        s = warm["summary"]
        out += [f"### Warm invoke ({result['runtime'].capitalize()} echo, sequential)", "",
                "| System | p50 us | p90 us | p99 us | max us | calls/run | runs ok |", "|---|---|---|---|---|---|---|"]
        for system, label in (("sluice", "Sluice (`sluice invoke`)"), ("pipe", "raw pipe round trip")):
            r = s[system]
            out.append(f"| {label} | {n(r.get('p50_us'), 1)} | {n(r.get('p90_us'), 1)} | {n(r.get('p99_us'), 1)} | "
                       f"{n(r.get('max_us'))} | {n(r.get('calls_per_run'))} | {r['ok_runs']}/{r['runs']} |")
        out += ["", f"Sluice / pipe: p50 {x(s.get('ratio_p50'))} (+{n(s.get('added_p50_us'), 1)} us), "
                    f"p99 {x(s.get('ratio_p99'))} (+{n(s.get('added_p99_us'), 1)} us)", ""]
    cold = result["parts"].get("cold")
    if cold:
        s = cold["summary"]
        sl, py = s["sluice"], s["python"]
        out += ["### Cold start", "", "| System | median ms | min ms | max ms | trials ok |", "|---|---|---|---|---|",
                f"| Sluice first invocation on a fresh pool | {n(sl.get('median_ms'), 1)} | {n(sl.get('min_ms'), 1)} | "
                f"{n(sl.get('max_ms'), 1)} | {sl['ok']}/{sl['trials']} |",
                f"| `{s.get('peer', 'python3 -c pass')}` | {n(py.get('median_ms'), 1)} | {n(py.get('min_ms'), 1)} | "
                f"{n(py.get('max_ms'), 1)} | {py['ok']}/{py['trials']} |",
                "", f"Sluice / {s.get('peer', 'python3 -c pass')}: {x(s.get('ratio'))} (+{n(s.get('added_ms'), 1)} ms); "
                    f"whole `sluice invoke` process: {n(sl.get('process_wall_median_ms'))} ms median", ""]
    respawn = result["parts"].get("respawn")
    if respawn:
        s = respawn["summary"]
        out += ["### New instance on a running node (`sluice serve`, Lambda Invoke)", "",
                "| Call | median ms | min ms | max ms | trials |", "|---|---|---|---|---|"]
        for key, label in (("new_instance", "starting a new instance"), ("warm", "warm, right after")):
            r = s[key]
            out.append(f"| {label} | {n(r['median_ms'], 1)} | {n(r['min_ms'], 1)} | {n(r['max_ms'], 1)} | {r['trials']} |")
        out += ["", f"Starting an instance adds {n(s['added_ms'], 1)} ms (medians).", ""]
    wc = result["parts"].get("wordcount")
    if wc:
        s = wc["summary"]
        out += [f"### Word count, {s['records']:,} records ({s['bytes'] / 1e6:,.0f} MB JSON lines)", "",
                "| System | wall s (median) | records/s | CPU s | Sluice time / this | runs ok |", "|---|---|---|---|---|---|"]
        flow = "" if s["flow"] == "wordcount" else f" --flow {s['flow']}"
        labels = {"sluice": f"Sluice (`sluice run examples/wordcount{flow}`, {s['sluice'].get('shards', '?')} shards)",
                  "python": "plain Python, 1 thread", "duckdb": f"DuckDB SQL ({s['duckdb'].get('threads', '?')} threads)"}
        for system in ("sluice", "python", "duckdb"):
            r = s[system]
            rat = "1.00x" if system == "sluice" and r.get("ok_runs") else x(s.get(f"ratio_sluice_over_{system}"))
            out.append(f"| {labels[system]} | {n(r.get('wall_s'), 2)} | {n(r.get('records_per_s'))} | "
                       f"{n(r.get('cpu_s'), 1)} | {rat} | {r['ok_runs']}/{r['runs']} |")
        agree = "all runs agree with the generator's totals" if s["all_agree"] else "TOTALS DISAGREE OR RUNS FAILED"
        out += ["", f"Totals {json.dumps(s['expected_totals'])}: {agree}.", ""]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="warm-invoke runs per system (median reported)")
    ap.add_argument("--only", help="parts, comma-separated (default all; warm,cold,respawn for node)")
    ap.add_argument("--runtime", choices=sorted(PROJECTS), default="python",
                    help="runtime of the echo function and of the warm and cold peers")
    ap.add_argument("--node", help="node binary of the Node peers (default: node on PATH)")
    ap.add_argument("--calls", type=int, default=2000, help="timed warm calls per run")
    ap.add_argument("--warmup", type=int, default=100, help="warm calls before the timed ones")
    ap.add_argument("--cold-trials", type=int, default=20, help="fresh processes per system")
    ap.add_argument("--records", type=int, default=10_000_000, help="word-count records")
    ap.add_argument("--shard-lines", type=int, default=25_000,
                    help="records per mapper call (the example's input shard_lines)")
    ap.add_argument("--wordcount-runs", type=int, default=3, help="word-count runs per system")
    ap.add_argument("--flow", help="which flow of examples/wordcount Sluice runs (default: its first, "
                                   "the FDL one; wordcount-asl is the same pipeline in ASL)")
    ap.add_argument("--quick", action="store_true",
                    help="1 warm run of 500 calls, 5 cold trials, 1 word-count run over 1,000,000 records")
    ap.add_argument("--python", help="interpreter for Sluice's functions and the Python peers "
                                     "(default: the one behind python3 on PATH)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per process")
    ap.add_argument("--scratch", default=str(BENCH / ".peers"),
                    help="where DuckDB is installed, data generated and temp dirs made (default bench/.peers)")
    ap.add_argument("--sluice", help="path to a sluice binary (skips the build)")
    ap.add_argument("--no-build", action="store_true", help="use target/release/sluice as it is")
    ap.add_argument("--out", default=str(BENCH / "out" / "functions.json"))
    args = ap.parse_args()
    only = args.only or ",".join(PARTS if args.runtime == "python" else PARTS[:3])
    parts = [p.strip() for p in only.split(",") if p.strip()]
    for p in parts:
        if p not in PARTS:
            sys.exit(f"unknown part {p}; choose from {','.join(PARTS)}")
    if args.runtime == "node" and "wordcount" in parts:
        sys.exit("the word count is Python only; leave it out with --runtime node")
    runs, wc_runs, trials = max(1, args.runs), max(1, args.wordcount_runs), max(1, args.cold_trials)
    if args.quick:
        runs, wc_runs, trials = 1, 1, 5
        args.calls, args.records = 500, 1_000_000

    scratch = Path(args.scratch).resolve()
    tmp_root = scratch / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    python, env = python_env(args, tmp_root)
    echo_project, respawn_project = PROJECTS[args.runtime]
    ctx: dict = {"scratch": scratch, "tmp_root": tmp_root, "python": python, "env": env,
                 "sluice": build_sluice(args), "echo_project": echo_project,
                 "respawn_project": respawn_project}
    versions = {"sluice": version_of([str(ctx["sluice"]), "--version"]),
                "python": version_of([str(python), "--version"]) + f" ({python})"}
    if args.runtime == "node":
        node = node_path(args, env)
        versions["node"] = version_of([str(node), "--version"]) + f" ({node})"
        ctx["pipe_peer"] = [str(node), str(HERE / "pipe_echo.js")]
        ctx["start_peer"] = [str(node), "-e", "0"]
    else:
        ctx["pipe_peer"] = [str(python), str(HERE / "pipe_echo.py")]
        ctx["start_peer"] = [str(python), "-c", "pass"]
    if "wordcount" in parts:
        ctx["duckdb_python"] = install_duckdb(scratch, python)
        versions["duckdb"] = version_of([str(ctx["duckdb_python"]), "-c", "import duckdb; print(duckdb.__version__)"])
    ctx["data_dir"] = Path(tempfile.mkdtemp(prefix="sluice-functions-", dir=tmp_root))

    started = dt.datetime.now(dt.timezone.utc)
    load_before = os.getloadavg()
    results: dict = {}
    try:
        if "warm" in parts:
            results["warm"] = bench_warm(ctx, args, runs)
        if "cold" in parts:
            results["cold"] = bench_cold(ctx, args, trials)
        if "respawn" in parts:
            results["respawn"] = bench_respawn(ctx, args, trials)
        if "wordcount" in parts:
            results["wordcount"] = bench_wordcount(ctx, args, wc_runs)
    finally:
        shutil.rmtree(ctx["data_dir"], ignore_errors=True)
    load_after = os.getloadavg()

    result = {
        "benchmark": "functions",
        "date": started.isoformat(timespec="seconds"),
        "git": version_of(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "quick": args.quick,
        "runtime": args.runtime,
        "settings": {"warm_runs": runs, "calls": args.calls, "warmup": args.warmup, "cold_trials": trials,
                     "records": args.records, "shard_lines": args.shard_lines, "wordcount_runs": wc_runs,
                     "flow": args.flow or "wordcount",
                     "event": EVENT},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "loadavg_before": [round(v, 2) for v in load_before],
                    "loadavg_after": [round(v, 2) for v in load_after]},
        "versions": versions,
        "parts": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")

    print()
    print(f"Function-runtime benchmark, {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"load {load_before[0]:.1f} -> {load_after[0]:.1f}" + (" [--quick]" if args.quick else ""))
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print()
    print(tables(result))
    print("Ratios are Sluice's time over the peer's: below 1 Sluice is faster, above 1 slower.")
    print(f"Wrote {out}")
    wc = results.get("wordcount", {}).get("summary")
    if wc and not wc["all_agree"]:
        log("FAILED: the word-count systems did not all succeed with the generator's totals: "
            + json.dumps(wc["mismatches"]))
        return 1
    warm_ok = all(results.get("warm", {}).get("summary", {}).get(s, {}).get("ok_runs", 1) for s in ("sluice", "pipe"))
    cold_ok = results.get("cold", {}).get("summary", {}).get("sluice", {}).get("ok", 1)
    return 0 if warm_ok and cold_ok else 1


if __name__ == "__main__":
    sys.exit(main())
