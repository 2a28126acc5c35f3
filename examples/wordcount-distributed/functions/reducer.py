"""Sums the mappers' counts from the Map's ResultWriter output into totals."""
import json


def handler(event, context):
    details = event["ResultWriterDetails"]
    manifest = json.loads(context.objects.get(f"{details['Bucket']}/{details['Key']}"))
    totals, objects = {}, 0
    for result_file in manifest["ResultFiles"]["SUCCEEDED"]:
        for entry in json.loads(context.objects.get(f"{details['Bucket']}/{result_file['Key']}")):
            objects += 1
            for value, n in json.loads(entry["Output"])["counts"].items():
                totals[value] = totals.get(value, 0) + n
    failed = sum(1 for _ in manifest["ResultFiles"]["FAILED"])
    return {"totals": dict(sorted(totals.items())), "objects": objects, "failedResultFiles": failed}
