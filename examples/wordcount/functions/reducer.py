"""Sums the partial counts under `partials` into totals and writes them next to them."""
import json


def handler(event, context):
    totals = {}
    listing = context.objects.list(event["partials"])
    for obj in listing:
        if obj["key"].endswith("totals.json"):
            continue
        for value, n in json.loads(context.objects.get(obj["key"])).items():
            totals[value] = totals.get(value, 0) + n
    context.objects.put(event["partials"] + "totals.json", json.dumps(totals, sort_keys=True))
    return {"totals": dict(sorted(totals.items())), "shards": len(listing)}
