"""Counts the `value` field of one shard's records and writes the partial counts."""
import json


def handler(event, context):
    lines = context.objects.get(event["key"]).splitlines()[event["start"]:event["end"]]
    counts = {}
    for line in lines:
        if line.strip():
            value = json.loads(line)["value"]
            counts[value] = counts.get(value, 0) + 1
    key = f"{event['partials']}shard-{event['shardId']:05d}.json"
    context.objects.put(key, json.dumps(counts))
    return {"shardId": event["shardId"], "partial": key, "records": len(lines)}
