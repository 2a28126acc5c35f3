"""boto3's S3 client against the S3 endpoint of a `sluice serve` node (`--s3-listen`) serving
examples/wordcount-distributed, whose storage is the bucket's root; then a flow over uploaded
data, started through the Step Functions API, its results read back through S3.

Run by tests/boto3.rs with SLUICE_ENDPOINT (Step Functions), SLUICE_S3_ENDPOINT, SLUICE_S3_BUCKET,
AWS_ACCESS_KEY_ID=test and AWS_SECRET_ACCESS_KEY=test.
Prints `N passed, 0 failed` at the end; any failed assertion exits non-zero.
"""

import hashlib
import io
import json
import os
import random
import time

import boto3
import botocore.config
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

import runner

ENDPOINT = os.environ["SLUICE_ENDPOINT"]
S3_ENDPOINT = os.environ["SLUICE_S3_ENDPOINT"]
BUCKET = os.environ["SLUICE_S3_BUCKET"]
CONFIG = botocore.config.Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"})
MIB = 1024 * 1024


def s3(secret="test", key="test", config=CONFIG):
    return boto3.client(
        "s3",
        endpoint_url=S3_ENDPOINT,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=config,
    )


def error_code(call, **kwargs):
    try:
        call(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError(f"{call.__name__} was accepted")


def keys(pages):
    found = []
    for page in pages:
        found += [o["Key"] for o in page.get("Contents", [])]
        found += [p["Prefix"] + "*" for p in page.get("CommonPrefixes", [])]
    return found


def test_the_project_bucket_is_listed_and_others_do_not_exist():
    client = s3()
    assert [b["Name"] for b in client.list_buckets()["Buckets"]] == [BUCKET]
    client.head_bucket(Bucket=BUCKET)
    assert error_code(client.list_objects_v2, Bucket="elsewhere") == "NoSuchBucket"
    assert error_code(client.get_object, Bucket="elsewhere", Key="a/b") == "NoSuchBucket"


def test_put_get_head_and_ranges():
    client = s3()
    body = os.urandom(100_000)
    put = client.put_object(Bucket=BUCKET, Key="t-put/blob.bin", Body=body)
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"', put["ETag"]
    head = client.head_object(Bucket=BUCKET, Key="t-put/blob.bin")
    assert head["ContentLength"] == len(body), head
    assert client.get_object(Bucket=BUCKET, Key="t-put/blob.bin")["Body"].read() == body
    ranged = client.get_object(Bucket=BUCKET, Key="t-put/blob.bin", Range="bytes=10-19")
    assert ranged["Body"].read() == body[10:20]
    assert ranged["ContentRange"] == f"bytes 10-19/{len(body)}", ranged["ContentRange"]
    suffix = client.get_object(Bucket=BUCKET, Key="t-put/blob.bin", Range="bytes=-5")
    assert suffix["Body"].read() == body[-5:]
    code = error_code(client.get_object, Bucket=BUCKET, Key="t-put/blob.bin", Range="bytes=200000-")
    assert code == "InvalidRange", code


def test_missing_keys_and_bad_keys_get_s3_errors():
    client = s3()
    assert error_code(client.get_object, Bucket=BUCKET, Key="t-none/missing") == "NoSuchKey"
    head = error_code(client.head_object, Bucket=BUCKET, Key="t-none/missing")
    assert head == "404", head
    code = error_code(client.put_object, Bucket=BUCKET, Key="no-folder.txt", Body=b"x")
    assert code == "InvalidArgument", code
    code = error_code(client.put_object, Bucket=BUCKET, Key="t-none/../escape", Body=b"x")
    assert code == "InvalidArgument", code


def test_listing_with_prefix_delimiter_and_pages():
    client = s3()
    names = ["t-list/a.csv", "t-list/b.csv", "t-list/sub/c.csv", "t-list/sub/d.csv", "t-list/z/e.csv"]
    for name in names:
        client.put_object(Bucket=BUCKET, Key=name, Body=name.encode())
    pages = client.get_paginator("list_objects_v2")
    flat = list(pages.paginate(Bucket=BUCKET, Prefix="t-list/", PaginationConfig={"PageSize": 2}))
    assert len(flat) == 3, len(flat)
    assert keys(flat) == names, keys(flat)
    rolled = list(pages.paginate(Bucket=BUCKET, Prefix="t-list/", Delimiter="/", PaginationConfig={"PageSize": 1}))
    assert keys(rolled) == ["t-list/a.csv", "t-list/b.csv", "t-list/sub/*", "t-list/z/*"], keys(rolled)
    first = client.list_objects_v2(Bucket=BUCKET, Prefix="t-list/s", MaxKeys=1)
    assert first["IsTruncated"] and first["KeyCount"] == 1, first
    rest = client.list_objects_v2(Bucket=BUCKET, Prefix="t-list/s", ContinuationToken=first["NextContinuationToken"])
    assert [o["Key"] for o in rest["Contents"]] == ["t-list/sub/d.csv"], rest
    after = client.list_objects_v2(Bucket=BUCKET, Prefix="t-list/", StartAfter="t-list/sub/d.csv")
    assert [o["Key"] for o in after["Contents"]] == ["t-list/z/e.csv"], after


def test_copy_and_delete():
    client = s3()
    client.put_object(Bucket=BUCKET, Key="t-copy/source.txt", Body=b"copied")
    client.copy_object(Bucket=BUCKET, Key="t-copy/dest.txt", CopySource={"Bucket": BUCKET, "Key": "t-copy/source.txt"})
    assert client.get_object(Bucket=BUCKET, Key="t-copy/dest.txt")["Body"].read() == b"copied"
    code = error_code(client.copy_object, Bucket=BUCKET, Key="t-copy/x", CopySource={"Bucket": BUCKET, "Key": "t-copy/missing"})
    assert code == "NoSuchKey", code
    client.delete_object(Bucket=BUCKET, Key="t-copy/source.txt")
    for i in range(3):
        client.put_object(Bucket=BUCKET, Key=f"t-copy/n{i}", Body=b"n")
    deleted = client.delete_objects(
        Bucket=BUCKET,
        Delete={"Objects": [{"Key": "t-copy/dest.txt"}] + [{"Key": f"t-copy/n{i}"} for i in range(3)]},
    )
    assert len(deleted["Deleted"]) == 4, deleted
    assert client.list_objects_v2(Bucket=BUCKET, Prefix="t-copy/")["KeyCount"] == 0
    client.delete_object(Bucket=BUCKET, Key="t-copy/never-there")


def test_multipart_upload_of_12_mib_in_5_mib_parts():
    client = s3()
    body = os.urandom(12 * MIB)
    key = "t-multi/big.bin"
    upload = client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    parts, digests = [], []
    for number, start in enumerate(range(0, len(body), 5 * MIB), start=1):
        chunk = body[start : start + 5 * MIB]
        reply = client.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=number, Body=chunk)
        assert reply["ETag"] == f'"{hashlib.md5(chunk).hexdigest()}"', reply
        parts.append({"PartNumber": number, "ETag": reply["ETag"]})
        digests.append(hashlib.md5(chunk).digest())
    listed = client.list_parts(Bucket=BUCKET, Key=key, UploadId=upload)["Parts"]
    assert [p["Size"] for p in listed] == [5 * MIB, 5 * MIB, 2 * MIB], listed
    done = client.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})
    expected = f'"{hashlib.md5(b"".join(digests)).hexdigest()}-3"'
    assert done["ETag"] == expected, (done["ETag"], expected)
    assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body
    # boto3's managed transfer: parallel parts, then a ranged read
    config = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    client.upload_fileobj(io.BytesIO(body), BUCKET, "t-multi/managed.bin", Config=config)
    out = io.BytesIO()
    client.download_fileobj(BUCKET, "t-multi/managed.bin", out, Config=config)
    assert out.getvalue() == body


def test_multipart_uploads_are_checked_and_abortable():
    client = s3()
    key = "t-multi/aborted.bin"
    upload = client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    client.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=1, Body=b"small")
    two = client.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=2, Body=b"tail")
    small = [{"PartNumber": 1, "ETag": f'"{hashlib.md5(b"small").hexdigest()}"'}, {"PartNumber": 2, "ETag": two["ETag"]}]
    code = error_code(client.complete_multipart_upload, Bucket=BUCKET, Key=key, UploadId=upload, MultipartUpload={"Parts": small})
    assert code == "EntityTooSmall", code
    wrong = [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]
    code = error_code(client.complete_multipart_upload, Bucket=BUCKET, Key=key, UploadId=upload, MultipartUpload={"Parts": wrong})
    assert code == "InvalidPart", code
    client.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload)
    code = error_code(client.upload_part, Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=3, Body=b"x")
    assert code == "NoSuchUpload", code
    assert error_code(client.head_object, Bucket=BUCKET, Key=key) == "404"


def test_a_wrong_secret_an_unknown_key_and_no_signature_are_refused():
    code = error_code(s3("not-the-secret").list_objects_v2, Bucket=BUCKET)
    assert code == "SignatureDoesNotMatch", code
    code = error_code(s3(key="stranger").list_objects_v2, Bucket=BUCKET)
    assert code == "InvalidAccessKeyId", code
    unsigned = CONFIG.merge(botocore.config.Config(signature_version=botocore.UNSIGNED))
    code = error_code(s3(config=unsigned).get_object, Bucket=BUCKET, Key="raw/part-0.jsonl")
    assert code == "AccessDenied", code


def test_a_flow_counts_uploaded_data_and_its_results_are_read_back():
    client = s3()
    rng = random.Random(7)
    expected = {}
    for part in range(3):
        lines = []
        for _ in range(rng.randint(5, 40)):
            value = rng.choice(["data_1", "data_2"])
            expected[value] = expected.get(value, 0) + 1
            lines.append(json.dumps({"value": value}))
        client.put_object(Bucket=BUCKET, Key=f"raw/part-{part}.jsonl", Body="\n".join(lines).encode())
    sfn = boto3.client("stepfunctions", endpoint_url=ENDPOINT, config=CONFIG)
    arn = next(m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"] if m["name"] == "wordcount")
    execution = sfn.start_execution(stateMachineArn=arn, name="counted", input="{}")["executionArn"]
    deadline = time.time() + 120
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.time() < deadline, "the execution did not finish"
        time.sleep(0.2)
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["totals"] == expected and output["objects"] == 3, (output, expected)
    # the Map's results, as written by its ResultWriter, read back through S3
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="results/wordcount/counted/")
    manifest_key = next(o["Key"] for o in listed["Contents"] if o["Key"].endswith("/manifest.json"))
    manifest = json.loads(client.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read())
    counted = {}
    for result_file in manifest["ResultFiles"]["SUCCEEDED"]:
        entries = json.loads(client.get_object(Bucket=BUCKET, Key=f"results/{result_file['Key']}")["Body"].read())
        for entry in entries:
            for value, n in json.loads(entry["Output"])["counts"].items():
                counted[value] = counted.get(value, 0) + n
    assert counted == expected, (counted, expected)


if __name__ == "__main__":
    runner.run(globals())
