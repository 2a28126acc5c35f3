"""Runs the `test_*` functions of a boto3 test script: prints `ok NAME` or `FAILED NAME: ...` for
each, then `N passed, M failed`, and exits non-zero if any failed."""

import sys


def run(namespace):
    tests = [(n, f) for n, f in sorted(namespace.items()) if n.startswith("test_")]
    failed = 0
    for name, test in tests:
        try:
            test()
            print(f"ok {name}")
        except Exception as e:  # report every test, then fail
            failed += 1
            print(f"FAILED {name}: {type(e).__name__}: {e}")
    print(f"{len(tests) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
