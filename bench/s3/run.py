#!/usr/bin/env python3
"""S3 endpoint benchmark: `sluice serve --s3-listen` over a local storage, beside s3s-fs.

    python3 bench/s3/run.py [--runs 3] [--size-mib 256] [--systems sluice,s3s-fs]
                            [--scratch bench/.peers/s3] [--no-build] [--sluice PATH]

Each run starts one server over a fresh directory, PUTs one object of --size-mib MiB in a single
streamed request (Signature V4, UNSIGNED-PAYLOAD, from a file), GETs it back (read and dropped),
then reads the server's peak resident memory (VmHWM) and stops it. Systems, interleaved run by
run: `sluice` (the S3 endpoint over the project's `file://` storage, through object_store) and
`s3s-fs` (the s3s library's own file system server: the same protocol code without Sluice; found
on PATH or at $SLUICE_S3S_FS). Reported per system (median of --runs): PUT and GET MiB/s and the
peak RSS in MiB. Prints a markdown table and writes bench/out/s3.json. Standard library only.
"""
from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import results  # noqa: E402  (bench/results.py)

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
REPO = BENCH.parent
KEY, SECRET, REGION, BUCKET = "bench", "bench-secret", "us-east-1", "bench"
CHUNK = 1024 * 1024
STARTUP_S = 60


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def die_with_parent() -> None:
    """In the child before exec: SIGTERM when this script's process ends (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(system: str, binary: Path, scratch: Path) -> tuple[subprocess.Popen, int]:
    """A fresh server of `system` over a directory under `scratch`, once it accepts connections."""
    port = free_port()
    if system == "sluice":
        project = scratch / "bench"
        project.mkdir(parents=True)
        (project / "sluice.yaml").write_text("storage: file://./data\nflows:\n  pass: pass.asl.json\n")
        (project / "pass.asl.json").write_text('{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}')
        cmd = [str(binary), "--data-dir", str(scratch / "state"), "serve", str(project),
               "--listen", "127.0.0.1:0", "--s3-listen", f"127.0.0.1:{port}", "--access-keys", f"{KEY}:{SECRET}"]
    else:
        (scratch / "root" / BUCKET).mkdir(parents=True)
        cmd = [str(binary), "--host", "127.0.0.1", "--port", str(port),
               "--access-key", KEY, "--secret-key", SECRET, str(scratch / "root")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, preexec_fn=die_with_parent)
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"{system} did not listen on port {port}")
            time.sleep(0.05)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def signed_headers(method: str, host: str, path: str, extra: dict[str, str]) -> dict[str, str]:
    """Signature Version 4 headers of a request with an unsigned payload."""
    now = dt.datetime.now(dt.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = {"host": host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "x-amz-date": amz_date, **extra}
    names = sorted(headers)
    canonical = "\n".join([method, path, "", *(f"{n}:{headers[n]}" for n in names), "",
                           ";".join(names), "UNSIGNED-PAYLOAD"])
    scope = f"{day}/{REGION}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{SECRET}".encode()
    for part in (day, REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={KEY}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return headers


def put_get(port: int, source: Path, size: int) -> tuple[float, float]:
    """Seconds to PUT `source` as one object and to GET it back."""
    host, path = f"127.0.0.1:{port}", f"/{BUCKET}/raw/object.bin"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    began = time.perf_counter()
    with source.open("rb") as body:
        conn.request("PUT", path, body=body, headers=signed_headers("PUT", host, path, {"content-length": str(size)}))
        reply = conn.getresponse()
        reply.read()
    put_s = time.perf_counter() - began
    if reply.status != 200:
        raise RuntimeError(f"PUT answered {reply.status}")
    began = time.perf_counter()
    conn.request("GET", path, headers=signed_headers("GET", host, path, {}))
    reply = conn.getresponse()
    received = 0
    while chunk := reply.read(CHUNK):
        received += len(chunk)
    get_s = time.perf_counter() - began
    if reply.status != 200 or received != size:
        raise RuntimeError(f"GET answered {reply.status} with {received} of {size} bytes")
    conn.close()
    return put_s, get_s


def binaries(args) -> dict[str, Path]:
    sluice = Path(args.sluice) if args.sluice else REPO / "target" / "release" / "sluice"
    if not args.no_build and not args.sluice:
        log("cargo build --release -p sluice ...")
        subprocess.run(["cargo", "build", "--release", "-p", "sluice"], cwd=REPO, check=True)
    s3s_fs = os.environ.get("SLUICE_S3S_FS") or shutil.which("s3s-fs")
    found = {"sluice": sluice, "s3s-fs": Path(s3s_fs) if s3s_fs else None}
    for system in args.systems:
        if not found.get(system) or not found[system].exists():
            sys.exit(f"no binary for {system} (build sluice; install s3s-fs: cargo install s3s-fs@0.14.1 --features binary)")
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--systems", default="sluice,s3s-fs")
    ap.add_argument("--scratch", default=str(BENCH / ".peers" / "s3"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--sluice", help="the sluice binary (default: target/release/sluice)")
    args = ap.parse_args()
    args.systems = args.systems.split(",")
    found = binaries(args)
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    size = args.size_mib * 1024 * 1024
    source = scratch / "source.bin"
    if not source.exists() or source.stat().st_size != size:
        with source.open("wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(CHUNK))
    started, load_before = dt.datetime.now(dt.timezone.utc), os.getloadavg()
    raw: dict[str, list[dict]] = {s: [] for s in args.systems}
    for i in range(args.runs):
        for system in args.systems:
            where = scratch / f"{system}-{i}"
            shutil.rmtree(where, ignore_errors=True)
            where.mkdir(parents=True)
            proc, port = start(system, found[system], where)
            try:
                put_s, get_s = put_get(port, source, size)
                r = {"put_mib_s": args.size_mib / put_s, "get_mib_s": args.size_mib / get_s,
                     "peak_rss_mib": peak_rss_mib(proc.pid)}
            except (RuntimeError, OSError) as e:
                r = {"error": str(e)}
            finally:
                stop(proc)
                shutil.rmtree(where, ignore_errors=True)
            raw[system].append(r)
            log(f"run {i + 1}/{args.runs} {system}: {json.dumps(r)}")
    summary = {}
    for system, runs in raw.items():
        ok = [r for r in runs if "error" not in r]
        summary[system] = {k: round(statistics.median(r[k] for r in ok), 1) if ok else None
                           for k in ("put_mib_s", "get_mib_s", "peak_rss_mib")}
    result = results.report("s3", started, load_before, {"runs": args.runs, "size_mib": args.size_mib},
                            summary, raw)
    print(f"| system | PUT MiB/s | GET MiB/s | peak RSS MiB |\n|---|---|---|---|")
    for system, s in summary.items():
        print(f"| {system} | {s['put_mib_s']} | {s['get_mib_s']} | {s['peak_rss_mib']} |")
    results.write("s3", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
