"""boto3 uploads logs through the S3 endpoint of a `sluice serve` node (`--s3-listen`) serving
examples/ingest: each upload under raw/logs/ raises an S3 event notification onto the logs
queue, whose Python consumer parses the log and writes reports/logs/NAME.json; the report
carries the event's fields, checked here against what S3 answers for the object.

Run by tests/boto3.rs with SLUICE_S3_ENDPOINT, SLUICE_S3_BUCKET, AWS_ACCESS_KEY_ID=test and
AWS_SECRET_ACCESS_KEY=test. Prints `N passed, 0 failed` at the end.
"""

import io
import json
import os
import time

import boto3
import botocore.config
from boto3.s3.transfer import TransferConfig

import runner

S3_ENDPOINT = os.environ["SLUICE_S3_ENDPOINT"]
BUCKET = os.environ["SLUICE_S3_BUCKET"]
CONFIG = botocore.config.Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"})
MIB = 1024 * 1024

LOG = b"""2026-12-06T10:00:00Z INFO GET /cart 200 12ms
2026-12-06T10:00:01Z INFO POST /cart 201 48ms
2026-12-06T10:00:02Z WARN GET /search 404 7ms
this line is not a log line
2026-12-06T10:00:03Z ERROR POST /pay 502 1250ms
2026-12-06T10:00:04Z INFO GET /cart 200 oops
"""


def s3():
    return boto3.client("s3", endpoint_url=S3_ENDPOINT, config=CONFIG)


def report(client, name):
    """The report of the log `name` once the consumer wrote it."""
    deadline = time.time() + 60
    while True:
        try:
            body = client.get_object(Bucket=BUCKET, Key=f"reports/logs/{name}.json")["Body"]
            return json.loads(body.read())
        except client.exceptions.NoSuchKey:
            assert time.time() < deadline, f"no report for {name}"
            time.sleep(0.05)


def e_tag(client, key):
    return client.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')


def test_an_uploaded_log_is_parsed_and_the_event_names_the_object():
    client = s3()
    key = "raw/logs/day 1/app.log"
    client.put_object(Bucket=BUCKET, Key=key, Body=LOG)
    got = report(client, "day 1/app")
    assert got["lines"] == 6, got
    assert got["levels"] == {"INFO": 2, "WARN": 1, "ERROR": 1}, got
    assert got["statuses"] == {"2xx": 2, "4xx": 1, "5xx": 1}, got
    assert got["slowest"] == {"line": 5, "ms": 1250}, got
    assert (got["malformed"], got["malformedLines"]) == (2, [4, 6]), got
    source = got["source"]
    assert source["eventName"] == "ObjectCreated:Put", source
    assert source["bucket"] == BUCKET, source
    assert source["key"] == key, source
    assert source["size"] == len(LOG), source
    assert source["eTag"] == e_tag(client, key), source


def test_a_copy_and_a_multipart_upload_name_their_kind_and_other_keys_raise_nothing():
    client = s3()
    client.put_object(Bucket=BUCKET, Key="raw/logs/notes.txt", Body=b"not a log\n")
    client.put_object(Bucket=BUCKET, Key="raw/other/x.log", Body=LOG)
    client.put_object(Bucket=BUCKET, Key="raw/logs/original.log", Body=LOG)
    client.copy_object(
        Bucket=BUCKET, Key="raw/logs/copy.log", CopySource={"Bucket": BUCKET, "Key": "raw/logs/original.log"}
    )
    copied = report(client, "copy")["source"]
    assert copied["eventName"] == "ObjectCreated:Copy", copied
    assert copied["eTag"] == e_tag(client, "raw/logs/copy.log"), copied
    big = LOG * (12 * MIB // len(LOG) + 1)
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    client.upload_fileobj(io.BytesIO(big), BUCKET, "raw/logs/big.log", Config=config)
    got = report(client, "big")
    assert got["lines"] == 6 * (12 * MIB // len(LOG) + 1), got["lines"]
    assert got["source"]["eventName"] == "ObjectCreated:CompleteMultipartUpload", got["source"]
    assert got["source"]["size"] == len(big), got["source"]
    # Events are delivered in the order they were recorded: by now those of the keys outside
    # the trigger's prefix or suffix would have been.
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="reports/logs/")["Contents"]
    names = sorted(o["Key"] for o in listed)
    assert "reports/logs/notes.json" not in names and "reports/logs/x.json" not in names, names


if __name__ == "__main__":
    runner.run(globals())
