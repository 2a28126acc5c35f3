"""boto3 against the S3 endpoint of a `sluice serve` node (`--s3-listen`) serving
examples/batch-restore, whose storage emulates archive storage classes with a 1 s restore delay:
an object put in GLACIER cannot be read (InvalidObjectState) until RestoreObject (202) has run
its course; HeadObject shows `x-amz-restore` ongoing, then done with an expiry date; a second
restore while one is ongoing is refused; a copy into DEEP_ARCHIVE keeps its class.

Run by tests/boto3.rs with SLUICE_S3_ENDPOINT, SLUICE_S3_BUCKET, AWS_ACCESS_KEY_ID=test and
AWS_SECRET_ACCESS_KEY=test. Prints `N passed, 0 failed` at the end.
"""

import os
import time

import boto3
import botocore.config
from botocore.exceptions import ClientError

import runner

S3_ENDPOINT = os.environ["SLUICE_S3_ENDPOINT"]
BUCKET = os.environ["SLUICE_S3_BUCKET"]
CONFIG = botocore.config.Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"})


def s3():
    return boto3.client("s3", endpoint_url=S3_ENDPOINT, config=CONFIG)


def error_code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("the call succeeded")


def test_a_glacier_object_is_read_only_after_its_restore():
    client = s3()
    key = "archive/logs/a.log"
    client.put_object(Bucket=BUCKET, Key=key, Body=b"cold\n", StorageClass="GLACIER")
    head = client.head_object(Bucket=BUCKET, Key=key)
    assert head["StorageClass"] == "GLACIER", head
    assert "Restore" not in head, head
    assert error_code(lambda: client.get_object(Bucket=BUCKET, Key=key)) == ("InvalidObjectState", 403)
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="archive/logs/")["Contents"]
    assert [o["StorageClass"] for o in listed] == ["GLACIER"], listed
    restored = client.restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 2})
    assert restored["ResponseMetadata"]["HTTPStatusCode"] == 202, restored
    assert client.head_object(Bucket=BUCKET, Key=key)["Restore"] == 'ongoing-request="true"'
    again = error_code(lambda: client.restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 2}))
    assert again == ("RestoreAlreadyInProgress", 409), again
    deadline = time.time() + 30
    while 'ongoing-request="true"' == client.head_object(Bucket=BUCKET, Key=key)["Restore"]:
        assert time.time() < deadline, "the restore never ended"
        time.sleep(0.1)
    restore = client.head_object(Bucket=BUCKET, Key=key)["Restore"]
    assert restore.startswith('ongoing-request="false", expiry-date="'), restore
    assert restore.endswith(' GMT"'), restore
    assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"cold\n"
    extended = client.restore_object(Bucket=BUCKET, Key=key, RestoreRequest={"Days": 3})
    assert extended["ResponseMetadata"]["HTTPStatusCode"] == 200, extended


def test_a_copy_takes_the_class_it_names_and_a_standard_object_cannot_be_restored():
    client = s3()
    client.put_object(Bucket=BUCKET, Key="archive/hot.txt", Body=b"hot")
    client.copy_object(
        Bucket=BUCKET,
        Key="archive/deep.txt",
        CopySource={"Bucket": BUCKET, "Key": "archive/hot.txt"},
        StorageClass="DEEP_ARCHIVE",
    )
    assert client.head_object(Bucket=BUCKET, Key="archive/deep.txt")["StorageClass"] == "DEEP_ARCHIVE"
    assert "StorageClass" not in client.head_object(Bucket=BUCKET, Key="archive/hot.txt")
    refused = error_code(lambda: client.restore_object(Bucket=BUCKET, Key="archive/hot.txt", RestoreRequest={"Days": 1}))
    assert refused == ("InvalidObjectState", 403), refused
    copy = error_code(
        lambda: client.copy_object(
            Bucket=BUCKET, Key="archive/again.txt", CopySource={"Bucket": BUCKET, "Key": "archive/deep.txt"}
        )
    )
    assert copy == ("InvalidObjectState", 403), copy


runner.run(globals())
