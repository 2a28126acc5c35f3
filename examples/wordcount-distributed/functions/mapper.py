"""Counts the `value` field of every JSON line of one object."""
import json


def handler(event, context):
    counts = {}
    records = 0
    for line in context.objects.get(event["key"]).splitlines():
        if line.strip():
            value = json.loads(line)["value"]
            counts[value] = counts.get(value, 0) + 1
            records += 1
    return {"key": event["key"], "records": records, "counts": counts}
