"""Parses access logs uploaded under `raw/logs/` (an SQS event whose messages are S3 event
notifications) and writes one report per log under `reports/logs/`: lines by level and by HTTP
status class, the slowest request, and the malformed lines counted (and the first few kept), so a
bad line never fails the file. A line reads

    2026-12-06T10:00:00Z INFO GET /cart 200 12ms
"""
import json
import urllib.parse

LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")


def parse(line):
    """(level, status, millis) of a log line, or None when it is malformed."""
    parts = line.split()
    if len(parts) != 6 or parts[1] not in LEVELS or not parts[5].endswith("ms"):
        return None
    try:
        status, millis = int(parts[4]), int(parts[5][:-2])
    except ValueError:
        return None
    if not 100 <= status <= 599:
        return None
    return parts[1], status, millis


def report(text):
    levels, statuses, malformed, slowest = {}, {}, [], None
    lines = [l for l in text.splitlines() if l.strip()]
    for number, line in enumerate(lines, 1):
        parsed = parse(line)
        if parsed is None:
            malformed.append(number)
            continue
        level, status, millis = parsed
        levels[level] = levels.get(level, 0) + 1
        group = f"{status // 100}xx"
        statuses[group] = statuses.get(group, 0) + 1
        if slowest is None or millis > slowest["ms"]:
            slowest = {"line": number, "ms": millis}
    return {
        "lines": len(lines),
        "levels": levels,
        "statuses": statuses,
        "slowest": slowest,
        "malformed": len(malformed),
        "malformedLines": malformed[:10],
    }


def handler(event, context):
    for message in event["Records"]:
        for record in json.loads(message["body"])["Records"]:
            s3 = record["s3"]
            key = urllib.parse.unquote_plus(s3["object"]["key"])
            text = context.objects.get(key).decode("utf-8", "replace")
            result = report(text)
            result["source"] = {
                "eventName": record["eventName"],
                "bucket": s3["bucket"]["name"],
                "key": key,
                "size": s3["object"]["size"],
                "eTag": s3["object"]["eTag"],
            }
            name = key[len("raw/logs/"):].rsplit(".", 1)[0]
            context.objects.put(f"reports/logs/{name}.json", json.dumps(result, indent=2) + "\n")
            print(f"{key}: {result['lines']} lines, {result['malformed']} malformed")
