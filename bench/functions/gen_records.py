#!/usr/bin/env python3
"""Writes N word-count records as one JSON-lines file, in the format of examples/wordcount's sample.

    python3 bench/functions/gen_records.py OUT.jsonl [--records 10000000] [--seed 42]

Each line is `{"id": i, "user": "u012345", "value": "data_1"}` exactly as the example's splitter
writes its sample (json.dumps spacing, `data_1` with probability 0.6, else `data_2`, drawn with
random.Random(seed) in the same order). Next to the file, OUT.jsonl.meta.json records the records,
the seed, the size and the true totals; an existing file whose metadata matches is kept as it is.
Standard library only.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

FORMAT = 1
BATCH = 100_000


def meta_path(out: Path) -> Path:
    return out.with_name(out.name + ".meta.json")


def existing(out: Path, records: int, seed: int) -> dict | None:
    """The metadata of an already generated file with these parameters, if it is intact."""
    try:
        meta = json.loads(meta_path(out).read_text())
    except (OSError, ValueError):
        return None
    same = (meta.get("format"), meta.get("records"), meta.get("seed")) == (FORMAT, records, seed)
    if same and out.exists() and out.stat().st_size == meta.get("bytes"):
        return meta
    return None


def generate(out: Path, records: int, seed: int) -> dict:
    """Writes the file and its metadata; returns the metadata."""
    rng = random.Random(seed)
    totals = {"data_1": 0, "data_2": 0}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for first in range(0, records, BATCH):
            lines = []
            for i in range(first, min(records, first + BATCH)):
                value = "data_1" if rng.random() < 0.6 else "data_2"
                totals[value] += 1
                user = rng.randrange(1_000_000)
                lines.append(f'{{"id": {i}, "user": "u{user:06d}", "value": "{value}"}}\n')
            f.write("".join(lines))
    os.replace(tmp, out)
    meta = {
        "format": FORMAT,
        "records": records,
        "seed": seed,
        "bytes": out.stat().st_size,
        "totals": totals,
    }
    meta_path(out).write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def ensure(out: Path, records: int, seed: int) -> dict:
    """The metadata of OUT, generating the file first unless an intact one is there."""
    meta = existing(out, records, seed)
    if meta is None:
        started = time.perf_counter()
        print(f"generating {records:,} records into {out} ...", file=sys.stderr, flush=True)
        meta = generate(out, records, seed)
        print(f"    {meta['bytes'] / 1e6:,.0f} MB in {time.perf_counter() - started:.1f}s",
              file=sys.stderr, flush=True)
    return meta


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--records", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    print(json.dumps(ensure(args.out, args.records, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
