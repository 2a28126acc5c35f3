"""Stamps every row of a batch of Canal-JSON change messages with `processed_at` (UTC), so the
analytics table records when each change went through. Deleted rows and DDL are passed on as
they are: the loader deletes rows by their key and leaves the schema alone. Messages of a
MySQL/MariaDB source (their `_cdc` names a binlog file) get a DATETIME, PostgreSQL's a
timestamptz."""
import json
from datetime import datetime, timezone


def enrich(message, now):
    """The message with `processed_at` added to each row it inserts or updates."""
    m = json.loads(message) if isinstance(message, str) else message
    if m["type"] in ("INSERT", "UPDATE") and not m["isDdl"]:
        binlog = "file" in m.get("_cdc", {})
        at = now.strftime("%Y-%m-%d %H:%M:%S.%f" if binlog else "%Y-%m-%d %H:%M:%S.%f+00")
        for row in m["data"]:
            row["processed_at"] = at
        m["mysqlType"]["processed_at"] = "datetime(6)" if binlog else "timestamp with time zone"
        m["sqlType"]["processed_at"] = 93
    return m


def handler(event, context):
    if isinstance(event, str):
        event = json.loads(event)
    now = datetime.now(timezone.utc)
    out = [enrich(m, now) for m in event["records"]]
    print(f"enriched {len(out)} changes from {event['source']}")
    return out
