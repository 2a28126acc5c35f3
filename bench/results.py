"""What every benchmark report carries besides its numbers: the commit, the machine and its
load, and where the JSON goes (bench/out/NAME.json). Standard library only."""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


def report(name: str, started: dt.datetime, load_before: tuple[float, float, float],
           settings: dict, summary: dict, raw: dict, **extra) -> dict:
    """The JSON report of a run of benchmark `name` that started at `started`."""
    return {
        "benchmark": name,
        "date": started.isoformat(timespec="seconds"),
        "git": subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip(),
        "settings": settings,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "summary": summary,
        **extra,
        "raw": raw,
    }


def write(name: str, result: dict) -> None:
    """Writes bench/out/NAME.json and says so."""
    out = BENCH / "out" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"Wrote {out}")
