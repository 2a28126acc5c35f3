"""Counts the `value` field of one shard's records and writes the partial counts."""
import json


def read_lines(event, context):
    """The shard's lines: lines `start` to `end` of an object, or bytes `start` to `end` of a
    `file://` path."""
    key = event["key"]
    if key.startswith("file://"):
        with open(key[len("file://"):], "rb") as f:
            f.seek(event["start"])
            return f.read(event["end"] - event["start"]).splitlines()
    return context.objects.get(key).splitlines()[event["start"]:event["end"]]


def handler(event, context):
    lines = read_lines(event, context)
    counts = {}
    for line in lines:
        if line.strip():
            value = json.loads(line)["value"]
            counts[value] = counts.get(value, 0) + 1
    key = f"{event['partials']}shard-{event['shardId']:05d}.json"
    context.objects.put(key, json.dumps(counts))
    return {"shardId": event["shardId"], "partial": key, "records": len(lines)}
