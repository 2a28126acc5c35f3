"""Cleans a batch of click events (an SQS event) and writes them as JSON lines under
`clicks/date=YYYY-MM-DD/`, one object per batch and date. Events that are not JSON objects with
a `user`, a `url` and an ISO-8601 `ts` are reported as batch item failures: the queue retries
them and then dead-letters them, without holding back the rest of the batch."""
import json
from datetime import datetime, timezone


def clean(event):
    """The standardised event, or None when it is malformed."""
    try:
        e = json.loads(event)
        ts = datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).astimezone(timezone.utc)
        user, url = str(e["user"]).strip().lower(), str(e["url"]).strip()
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not user or not url.startswith(("http://", "https://")):
        return None
    return {"ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "user": user, "url": url.split("?")[0]}


def handler(event, context):
    by_date, failures = {}, []
    for record in event["Records"]:
        row = clean(record["body"])
        if row is None:
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        by_date.setdefault(row["ts"][:10], []).append(row)
    batch = event["Records"][0]["messageId"]
    for date, rows in by_date.items():
        lines = "".join(json.dumps(r) + "\n" for r in rows)
        context.objects.put(f"clicks/date={date}/part-{batch}.jsonl", lines)
    print(f"cleaned {sum(len(r) for r in by_date.values())}, rejected {len(failures)}")
    return {"batchItemFailures": failures}
