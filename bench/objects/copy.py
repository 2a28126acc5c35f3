#!/usr/bin/env python3
"""Copy benchmark: examples/batch-copy beside `rclone copy` and `aws s3 cp --recursive`.

    python3 bench/objects/copy.py [--runs 3] [--objects 10000] [--size-kib 64] [--concurrency 100]
                                  [--systems sluice,rclone,sluice-s3,rclone-s3,awscli-s3]
                                  [--scratch bench/.peers/copy] [--no-build] [--sluice PATH]

Objects copied per second, --objects objects of --size-kib KiB, --concurrency copies at once:

- on a local directory: `sluice` runs `batch-copy-simple` of a copy of examples/batch-copy (the
  built-in `copy-files`, one page holding the whole index, every copy into the ARCHIVE class,
  which the node records in its SQLite store) against `rclone copy SRC DST --transfers N`;
- on s3s-fs (a real S3 server over a directory, at $SLUICE_S3S_FS or on PATH): `sluice-s3` is the
  same flow on an `s3://` storage, `rclone-s3` is rclone's server-side copy between two prefixes
  of the bucket, `awscli-s3` is `aws s3 cp s3://B/SRC/ s3://B/DST/ --recursive` with
  `max_concurrent_requests` set to N.

Peers: rclone from Debian (`apt-get install -y rclone`), awscli from PyPI, installed on first use
into a venv under --scratch. A system whose peer is missing is skipped, and said so. Systems are
interleaved run by run; the median of --runs is reported, with every copy checked to be complete.
Prints a markdown table and writes bench/out/copy.json. Standard library only.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
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
KEY, SECRET, BUCKET = "bench", "bench-secret", "bench"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def key(i: int) -> str:
    return f"files/{i % 100:02}/{i:06}.bin"


def seed(root: Path, objects: int, size: int) -> None:
    """`root/src/KEY` files and the index `root/index/keys.jsonl`, once."""
    index = root / "index" / "keys.jsonl"
    if index.exists():
        return
    block = os.urandom(size)
    for i in range(objects):
        path = root / "src" / key(i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(i.to_bytes(8, "little") + block[8:])
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text("".join(json.dumps({"key": key(i)}) + "\n" for i in range(objects)))


def count(root: Path) -> int:
    return sum(1 for p in root.rglob("*.bin") if p.is_file())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """s3s-fs over `root` on a free loopback port, stopped on exit."""

    def __init__(self, binary: str, root: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", str(self.port), "--access-key", KEY,
             "--secret-key", SECRET, str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("s3s-fs did not listen")
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def timed(cmd: list[str], where: Path, env: dict | None = None) -> tuple[float, str]:
    with open(where / "stdout", "w+b") as out, open(where / "stderr", "w+b") as err:
        start = time.perf_counter()
        proc = subprocess.run(cmd, stdout=out, stderr=err, env=env)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: {err.read().decode()[-500:]}")
        return seconds, out.read().decode()


def run_sluice(binary: Path, storage: str, where: Path, concurrency: int) -> float:
    project = where / "batch-copy"
    shutil.copytree(REPO / "examples" / "batch-copy", project,
                    ignore=shutil.ignore_patterns("data", ".sluice"))
    yaml = (project / "sluice.yaml").read_text()
    yaml = yaml.replace("storage: file://./data", f"storage: {storage}")
    yaml = yaml.replace("concurrency: 100", f"concurrency: {concurrency}")
    (project / "sluice.yaml").write_text(yaml)
    flow_input = {"index": "index/keys.jsonl", "from": "src", "to": f"dst-{where.name}",
                  "size": 64 * 1024 * 1024, "offset": 0, "copied": 0, "failed": 0, "retries": 0,
                  "pages": 0}
    cmd = [str(binary), "--data-dir", str(where / "state"), "run", str(project), "--flow",
           "batch-copy-simple", "--input", json.dumps(flow_input), "--json"]
    seconds, out = timed(cmd, where)
    line = json.loads(out.strip().splitlines()[-1])
    if line.get("status") != "SUCCEEDED":
        raise RuntimeError(f"sluice: {line}")
    return seconds


def rclone_env(server: S3Server | None) -> dict:
    # A CA bundle set for other tools makes rclone's S3 client refuse its own HTTP transport.
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    if server:
        env.update({"RCLONE_CONFIG_S3_TYPE": "s3", "RCLONE_CONFIG_S3_PROVIDER": "Other",
                    "RCLONE_CONFIG_S3_ENDPOINT": server.endpoint,
                    "RCLONE_CONFIG_S3_ACCESS_KEY_ID": KEY, "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": SECRET,
                    "RCLONE_CONFIG_S3_REGION": "us-east-1", "RCLONE_CONFIG_S3_FORCE_PATH_STYLE": "true"})
    return env


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--size-kib", type=int, default=64)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--systems", default="sluice,rclone,sluice-s3,rclone-s3,awscli-s3")
    ap.add_argument("--scratch", default=str(BENCH / ".peers" / "copy"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--sluice", help="the sluice binary (default: target/release/sluice)")
    args = ap.parse_args()
    sluice = Path(args.sluice) if args.sluice else REPO / "target" / "release" / "sluice"
    if not args.no_build and not args.sluice:
        log("cargo build --release -p sluice ...")
        subprocess.run(["cargo", "build", "--release", "-p", "sluice"], cwd=REPO, check=True)
    scratch = Path(args.scratch).resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    rclone = shutil.which("rclone")
    s3s_fs = os.environ.get("SLUICE_S3S_FS") or shutil.which("s3s-fs")
    aws = scratch / "awscli" / "bin" / "aws"
    systems = []
    for system in args.systems.split(","):
        if system.startswith("rclone") and not rclone:
            log(f"skipping {system}: no rclone (apt-get install -y rclone)")
        elif system.endswith("-s3") and not s3s_fs:
            log(f"skipping {system}: no s3s-fs (.ci/run installs it)")
        else:
            systems.append(system)
    if "awscli-s3" in systems and not aws.exists():
        log("installing awscli into a venv ...")
        subprocess.run([sys.executable, "-m", "venv", str(scratch / "awscli")], check=True)
        subprocess.run([str(scratch / "awscli" / "bin" / "pip"), "install", "-q", "awscli"], check=True)
    local = scratch / "local"
    s3_root = scratch / "s3"
    seed(local, args.objects, args.size_kib * 1024)
    seed(s3_root / BUCKET / "sluice", args.objects, args.size_kib * 1024)
    wants_s3 = any(s.endswith("-s3") for s in systems)
    server = S3Server(s3s_fs, s3_root) if wants_s3 and s3s_fs else None
    aws_config = scratch / "aws-config"
    aws_config.write_text(f"[default]\nregion = us-east-1\ns3 =\n  max_concurrent_requests = {args.concurrency}\n"
                          "  addressing_style = path\n")
    started, load_before = dt.datetime.now(dt.timezone.utc), os.getloadavg()
    raw: dict[str, list[dict]] = {s: [] for s in systems}
    n = args.concurrency
    try:
        for i in range(args.runs):
            for system in systems:
                where = scratch / "runs" / f"{system}-{i}"
                shutil.rmtree(where, ignore_errors=True)
                where.mkdir(parents=True)
                target = {"sluice": local / f"dst-{where.name}",
                          "rclone": local / f"rclone-{i}",
                          "sluice-s3": s3_root / BUCKET / "sluice" / f"dst-{where.name}",
                          "rclone-s3": s3_root / BUCKET / f"rclone-{i}",
                          "awscli-s3": s3_root / BUCKET / f"aws-{i}"}[system]
                shutil.rmtree(target, ignore_errors=True)
                try:
                    if system == "sluice":
                        seconds = run_sluice(sluice, f"file://{local}", where, n)
                    elif system == "sluice-s3":
                        url = (f"s3://{BUCKET}/sluice?endpoint={server.endpoint}&region=us-east-1"
                               f"&path_style=true&access_key_id={KEY}&secret_access_key={SECRET}")
                        seconds = run_sluice(sluice, url, where, n)
                    elif system == "rclone":
                        seconds, _ = timed([rclone, "copy", str(local / "src"), str(target),
                                            "--transfers", str(n), "--checkers", str(n)], where)
                    elif system == "rclone-s3":
                        seconds, _ = timed([rclone, "copy", f"s3:{BUCKET}/sluice/src", f"s3:{BUCKET}/{target.name}",
                                            "--transfers", str(n), "--checkers", str(n)], where, rclone_env(server))
                    else:
                        env = dict(os.environ, AWS_CONFIG_FILE=str(aws_config), AWS_ACCESS_KEY_ID=KEY,
                                   AWS_SECRET_ACCESS_KEY=SECRET, AWS_ENDPOINT_URL=server.endpoint)
                        seconds, _ = timed([str(aws), "s3", "cp", f"s3://{BUCKET}/sluice/src/",
                                            f"s3://{BUCKET}/{target.name}/", "--recursive", "--only-show-errors"],
                                           where, env)
                    copied = count(target)
                    if copied != args.objects:
                        raise RuntimeError(f"{copied} of {args.objects} objects copied")
                    r = {"seconds": round(seconds, 3), "objects_s": round(args.objects / seconds, 1)}
                except (RuntimeError, OSError, ValueError, KeyError) as e:
                    r = {"error": str(e)}
                finally:
                    shutil.rmtree(where, ignore_errors=True)
                    shutil.rmtree(target, ignore_errors=True)
                raw[system].append(r)
                log(f"run {i + 1}/{args.runs} {system}: {json.dumps(r)}")
    finally:
        if server:
            server.stop()
    summary = {}
    for system, runs in raw.items():
        ok = [r for r in runs if "error" not in r]
        summary[system] = {k: round(statistics.median(r[k] for r in ok), 2) if ok else None
                           for k in ("seconds", "objects_s")}
    ratios = {}
    for ours, peer in (("sluice", "rclone"), ("sluice-s3", "rclone-s3"), ("sluice-s3", "awscli-s3")):
        a, b = summary.get(ours, {}).get("objects_s"), summary.get(peer, {}).get("objects_s")
        if a and b:
            ratios[f"{ours}/{peer}"] = round(a / b, 2)
    settings = {"runs": args.runs, "objects": args.objects, "size_kib": args.size_kib,
                "concurrency": n, "sluice": str(sluice)}
    result = results.report("copy", started, load_before, settings, summary, raw, ratios=ratios)
    print(f"{args.objects} objects of {args.size_kib} KiB, {n} copies at once\n")
    print("| system | seconds | objects/s |\n|---|---|---|")
    for system, s in summary.items():
        print(f"| {system} | {s['seconds']} | {s['objects_s']} |")
    print("\n" + ", ".join(f"{k}: {v}" for k, v in ratios.items()))
    results.write("copy", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
