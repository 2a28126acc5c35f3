#!/usr/bin/env python3
"""The raw-pipe baseline of the warm-invoke benchmark: a process that reads one JSON event per line
on stdin, calls the echo function's handler and writes its result as one JSON line on stdout.

    python3 bench/functions/pipe_echo.py
"""
import importlib.util
import json
import sys
from pathlib import Path

HANDLER = Path(__file__).resolve().parent / "echo" / "functions" / "echo.py"


def main() -> None:
    spec = importlib.util.spec_from_file_location("echo", HANDLER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler = module.handler
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while line := stdin.readline():
        result = handler(json.loads(line), None)
        stdout.write(json.dumps(result).encode() + b"\n")
        stdout.flush()


if __name__ == "__main__":
    main()
