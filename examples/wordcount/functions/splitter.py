"""Lists the raw record objects under `source` and cuts them into shards of `shard_lines` lines.

When nothing is there yet (or only part of the sample, which another run is writing), it first
writes a deterministic sample of `sample_records` records, so
the example runs on a fresh checkout. A `source` of the form `file:///absolute/path.jsonl` names
one local file outside the project's storage instead; its shards are byte ranges of whole lines.
"""
import json
import random

SAMPLE_OBJECTS = 4


def write_sample(objects, source, records):
    rng = random.Random(42)
    per_object = -(-records // SAMPLE_OBJECTS)
    for part in range(SAMPLE_OBJECTS):
        lines = []
        for i in range(part * per_object, min(records, (part + 1) * per_object)):
            value = "data_1" if rng.random() < 0.6 else "data_2"
            lines.append(json.dumps({"id": i, "user": f"u{rng.randrange(1_000_000):06d}", "value": value}))
        objects.put(f"{source}part-{part:03d}.jsonl", "\n".join(lines) + "\n")


def file_shards(source, shard_lines):
    """Shards of `shard_lines` lines of a local file, with `start` and `end` as byte offsets."""
    shards, start, offset, lines = [], 0, 0, 0
    with open(source[len("file://"):], "rb") as f:
        for line in f:
            offset += len(line)
            lines += 1
            if lines == shard_lines:
                shards.append({"shardId": len(shards), "key": source, "start": start, "end": offset})
                start, lines = offset, 0
    if offset > start:
        shards.append({"shardId": len(shards), "key": source, "start": start, "end": offset})
    return shards


def handler(event, context):
    source = event.get("source") or "raw/"
    shard_lines = int(event.get("shard_lines") or 2500)
    if source.startswith("file://"):
        shards = file_shards(source, shard_lines)
        print(f"split {source} into {len(shards)} shards")
        return {"shards": shards, "objects": 1}
    listing = context.objects.list(source)
    keys = {o["key"] for o in listing}
    sample = {f"{source}part-{part:03d}.jsonl" for part in range(SAMPLE_OBJECTS)}
    # Nothing there, or part of a sample that another run is writing at this moment: the sample
    # is the same bytes whoever writes it, and each object is written whole.
    if keys < sample:
        write_sample(context.objects, source, int(event.get("sample_records") or 20000))
        listing = context.objects.list(source)
    shards = []
    for obj in sorted(listing, key=lambda o: o["key"]):
        count = context.objects.get(obj["key"]).count(b"\n")
        for start in range(0, count, shard_lines):
            shards.append({"shardId": len(shards), "key": obj["key"], "start": start, "end": min(count, start + shard_lines)})
    print(f"split {len(listing)} objects into {len(shards)} shards")
    return {"shards": shards, "objects": len(listing)}
