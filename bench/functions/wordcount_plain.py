#!/usr/bin/env python3
"""The plain-Python peer of the word-count benchmark: one thread, one pass over the file, the same
per-line work as examples/wordcount's mapper. Prints `{"totals", "records", "seconds"}`.

    python3 bench/functions/wordcount_plain.py RECORDS.jsonl
"""
import json
import sys
import time


def main() -> None:
    started = time.perf_counter()
    counts, records = {}, 0
    with open(sys.argv[1], "rb") as f:
        for line in f:
            if line.strip():
                value = json.loads(line)["value"]
                counts[value] = counts.get(value, 0) + 1
                records += 1
    print(json.dumps({
        "totals": dict(sorted(counts.items())),
        "records": records,
        "seconds": time.perf_counter() - started,
    }))


if __name__ == "__main__":
    main()
