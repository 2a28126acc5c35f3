"""Stamps every row of a batch of Canal-JSON change messages with `processed_at` (UTC), so the
analytics table records when each change went through. Deleted rows are passed on as they are:
the loader deletes them by their key."""
import json
from datetime import datetime, timezone


def enrich(message, now):
    """The message with `processed_at` added to each row it inserts or updates."""
    m = json.loads(message) if isinstance(message, str) else message
    if m["type"] in ("INSERT", "UPDATE"):
        for row in m["data"]:
            row["processed_at"] = now
        m["mysqlType"]["processed_at"] = "timestamp with time zone"
        m["sqlType"]["processed_at"] = 93
    return m


def handler(event, context):
    if isinstance(event, str):
        event = json.loads(event)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00")
    out = [enrich(m, now) for m in event["records"]]
    print(f"enriched {len(out)} changes from {event['source']}")
    return out
