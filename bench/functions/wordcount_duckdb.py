#!/usr/bin/env python3
"""The DuckDB peer of the word-count benchmark: the same totals with one SQL query over the
JSON-lines file. Prints `{"totals", "records", "seconds", "threads", "duckdb"}`; `seconds` is the
query alone (connect included, import excluded).

    PYTHON_WITH_DUCKDB bench/functions/wordcount_duckdb.py RECORDS.jsonl
"""
import json
import sys
import time

import duckdb

QUERY = """
SELECT value, count(*) AS n
FROM read_json('{path}', format = 'newline_delimited',
               columns = {{id: 'BIGINT', user: 'VARCHAR', value: 'VARCHAR'}})
GROUP BY value
ORDER BY value
"""


def main() -> None:
    path = sys.argv[1].replace("'", "''")
    started = time.perf_counter()
    con = duckdb.connect()
    rows = con.execute(QUERY.format(path=path)).fetchall()
    seconds = time.perf_counter() - started
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(json.dumps({
        "totals": {value: n for value, n in rows},
        "records": sum(n for _, n in rows),
        "seconds": seconds,
        "threads": threads,
        "duckdb": duckdb.__version__,
    }))


if __name__ == "__main__":
    main()
