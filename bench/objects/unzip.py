#!/usr/bin/env python3
"""Unzip benchmark: the built-in `unzip` function and the Python unzipper over a local storage,
beside Info-ZIP `unzip -q` and Python's `zipfile`.

    python3 bench/objects/unzip.py [--runs 3] [--size-mib 200]
                                   [--systems sluice,sluice-python,unzip,zipfile]
                                   [--scratch bench/.peers/objects] [--no-build] [--sluice PATH]

Builds once (kept in --scratch) a deflated zip of about --size-mib MiB: 2,000 text files of
about 48 KiB (words drawn from a fixed vocabulary, so they compress as logs do) and incompressible
32 MiB binaries making up the rest. Each run extracts it into a fresh directory: `sluice` as
`sluice run` of a copy of examples/unzip given the archive's upload event (the whole process:
start, the flow, ranged reads of the archive, streamed writes of every entry, the queue message
and the archive's deletion), `sluice-python` likewise with the flow `unzip-python` (the archive
under python-uploads/, extracted by functions/unzip.py through ranged reads of the object API),
`unzip` as `unzip -q -o ARCHIVE -d DIR`, `zipfile` as Python's
`zipfile.ZipFile(ARCHIVE).extractall(DIR)`. Systems are interleaved
run by run; reported per system (median of --runs): seconds, MiB of archive per second, and the
process's peak resident memory (GNU time's %M). Both outputs are checked to hold the same files with
the same bytes. Prints a markdown table and
writes bench/out/unzip.json. Standard library only.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import results  # noqa: E402  (bench/results.py)

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
REPO = BENCH.parent
TEXT_FILES = 2000
TEXT_BYTES = 48 * 1024
BLOB_BYTES = 32 * 1024 * 1024
GNU_TIME = "/usr/bin/time"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build_archive(path: Path, size_mib: int) -> None:
    """The archive: text files in nested folders, then binaries up to about `size_mib` MiB."""
    rng = random.Random(7)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
             for _ in range(5000)]
    partial = path.with_suffix(".part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for i in range(TEXT_FILES):
            lines, size = [], 0
            while size < TEXT_BYTES:
                line = f"{i} {rng.randrange(10**6)} " + " ".join(rng.choices(words, k=12)) + "\n"
                lines.append(line)
                size += len(line)
            z.writestr(f"logs/{i % 10}/{i % 7}/file-{i}.log", "".join(lines))
        n = 0
        while partial.stat().st_size < size_mib * 1024 * 1024 - BLOB_BYTES // 2:
            z.writestr(f"blobs/blob-{n}.bin", rng.randbytes(BLOB_BYTES))
            n += 1
    partial.rename(path)


def tree_digest(root: Path) -> tuple[int, str]:
    """How many files `root` holds and one digest of their paths and contents."""
    digest, count = hashlib.sha256(), 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        count += 1
    return count, digest.hexdigest()


def timed(cmd: list[str], where: Path) -> tuple[float, float, str]:
    """Runs `cmd` to its end: seconds, its peak RSS in MiB, and its stdout. The peak comes from
    GNU time (`/usr/bin/time -f %M`): a child forked from this script would report at least the
    script's own RSS, which the archive's building inflated."""
    rss_file = where / "maxrss"
    with open(where / "stdout", "w+b") as out, open(where / "stderr", "w+b") as err:
        start = time.perf_counter()
        proc = subprocess.run([GNU_TIME, "-f", "%M", "-o", str(rss_file), *cmd], stdout=out, stderr=err)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: {err.read().decode()[-500:]}")
        return seconds, int(rss_file.read_text().split()[-1]) / 1024, out.read().decode()


def run_flow(binary: Path, archive: Path, where: Path, flow: str, uploads: str) -> tuple[float, float, Path]:
    """`sluice run` of a copy of examples/unzip: `flow` given the upload event of the archive,
    linked under the folder `uploads`."""
    project = where / "unzip"
    shutil.copytree(REPO / "examples" / "unzip", project,
                    ignore=shutil.ignore_patterns("data", ".sluice", "__pycache__"))
    (project / "data" / uploads).mkdir(parents=True)
    os.link(archive, project / "data" / uploads / "a.zip")
    event = {"Records": [{"eventName": "ObjectCreated:Put",
                          "s3": {"object": {"key": f"{uploads}/a.zip", "size": archive.stat().st_size}}}]}
    cmd = [str(binary), "--data-dir", str(where / "state"), "run", str(project), "--flow", flow,
           "--input", json.dumps(event), "--json"]
    seconds, rss, out = timed(cmd, where)
    line = json.loads(out.strip().splitlines()[-1])
    if line.get("status") != "SUCCEEDED":
        raise RuntimeError(f"sluice: {line}")
    return seconds, rss, project / "data" / "unzipped" / "a"


def run_sluice(binary: Path, archive: Path, where: Path) -> tuple[float, float, Path]:
    return run_flow(binary, archive, where, "unzip", "uploads")


def run_sluice_python(binary: Path, archive: Path, where: Path) -> tuple[float, float, Path]:
    return run_flow(binary, archive, where, "unzip-python", "python-uploads")


def run_zipfile(python: Path, archive: Path, where: Path) -> tuple[float, float, Path]:
    script = "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])"
    seconds, rss, _ = timed([str(python), "-c", script, str(archive), str(where / "out")], where)
    return seconds, rss, where / "out"


def run_unzip(binary: Path, archive: Path, where: Path) -> tuple[float, float, Path]:
    seconds, rss, _ = timed([str(binary), "-q", "-o", str(archive), "-d", str(where / "out")], where)
    return seconds, rss, where / "out"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size-mib", type=int, default=200)
    ap.add_argument("--systems", default="sluice,sluice-python,unzip,zipfile")
    ap.add_argument("--scratch", default=str(BENCH / ".peers" / "objects"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--sluice", help="the sluice binary (default: target/release/sluice)")
    args = ap.parse_args()
    systems = args.systems.split(",")
    sluice = Path(args.sluice) if args.sluice else REPO / "target" / "release" / "sluice"
    if not args.no_build and not args.sluice:
        log("cargo build --release -p sluice ...")
        subprocess.run(["cargo", "build", "--release", "-p", "sluice"], cwd=REPO, check=True)
    if not Path(GNU_TIME).exists():
        sys.exit(f"no {GNU_TIME} (apt-get install time)")
    found = {"sluice": sluice, "sluice-python": sluice, "zipfile": Path(sys.executable),
             "unzip": Path(shutil.which("unzip") or "/nonexistent")}
    for system in systems:
        if not found.get(system) or not found[system].exists():
            sys.exit(f"no binary for {system} (build sluice; install unzip: apt-get install unzip)")
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    archive = scratch / f"bench-{args.size_mib}.zip"
    if not archive.exists():
        log(f"building {archive} ...")
        build_archive(archive, args.size_mib)
    archive_mib = archive.stat().st_size / (1024 * 1024)
    with zipfile.ZipFile(archive) as z:
        entries = len(z.infolist())
        unpacked_mib = sum(i.file_size for i in z.infolist()) / (1024 * 1024)
    started, load_before = dt.datetime.now(dt.timezone.utc), os.getloadavg()
    run = {"sluice": run_sluice, "sluice-python": run_sluice_python, "unzip": run_unzip,
           "zipfile": run_zipfile}
    raw: dict[str, list[dict]] = {s: [] for s in systems}
    digests = set()
    for i in range(args.runs):
        for system in systems:
            where = scratch / f"{system}-{i}"
            shutil.rmtree(where, ignore_errors=True)
            where.mkdir(parents=True)
            try:
                seconds, rss, out = run[system](found[system], archive, where)
                digests.add(tree_digest(out))
                r = {"seconds": seconds, "archive_mib_s": archive_mib / seconds, "peak_rss_mib": rss}
            except (RuntimeError, OSError, ValueError, KeyError) as e:
                r = {"error": str(e)}
            finally:
                shutil.rmtree(where, ignore_errors=True)
            raw[system].append(r)
            log(f"run {i + 1}/{args.runs} {system}: {json.dumps(r)}")
    if len(digests) > 1:
        sys.exit(f"the systems extracted different trees: {digests}")
    summary = {}
    for system, runs in raw.items():
        ok = [r for r in runs if "error" not in r]
        summary[system] = {k: round(statistics.median(r[k] for r in ok), 2) if ok else None
                           for k in ("seconds", "archive_mib_s", "peak_rss_mib")}
    settings = {"runs": args.runs, "archive_mib": round(archive_mib, 1), "entries": entries,
                "unpacked_mib": round(unpacked_mib, 1)}
    result = results.report("unzip", started, load_before, settings, summary, raw)
    print(f"archive: {archive_mib:.1f} MiB, {entries} entries, {unpacked_mib:.1f} MiB unpacked\n")
    print("| system | seconds | archive MiB/s | peak RSS MiB |\n|---|---|---|---|")
    for system, s in summary.items():
        print(f"| {system} | {s['seconds']} | {s['archive_mib_s']} | {s['peak_rss_mib']} |")
    results.write("unzip", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
