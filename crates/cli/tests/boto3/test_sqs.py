"""boto3's SQS client against `sluice serve`: a pull queue of tests/fixtures/api worked by an
outside worker, as with SQS. botocore checks the MD5s of bodies and attributes itself.

Run by tests/boto3.rs with SLUICE_ENDPOINT, under current boto3 (SQS over AWS JSON 1.0) and
under an older one whose SQS speaks the query protocol (form requests, XML answers). Prints the
protocol, then `N passed, 0 failed` at the end.
"""

import os
import threading
import time

import boto3
import botocore.config
from botocore.exceptions import ClientError

import runner

ENDPOINT = os.environ["SLUICE_ENDPOINT"]
sqs = boto3.client(
    "sqs", endpoint_url=ENDPOINT, config=botocore.config.Config(retries={"max_attempts": 1})
)


def refused(call, exception, code):
    """Checks that ``call`` raises the modeled ``exception`` with SQS's query-protocol ``code``,
    which both protocols report."""
    try:
        call()
    except exception as e:
        assert e.response["Error"]["Code"] == code, e.response
        return
    raise AssertionError(f"no {code}")


def url():
    return sqs.get_queue_url(QueueName="inbox")["QueueUrl"]


def drain():
    sqs.purge_queue(QueueUrl=url())


def test_urls_and_listing():
    assert url().endswith("/000000000000/inbox"), url()
    assert url() in sqs.list_queues()["QueueUrls"]
    refused(
        lambda: sqs.get_queue_url(QueueName="nothing"),
        sqs.exceptions.QueueDoesNotExist,
        "AWS.SimpleQueueService.NonExistentQueue",
    )


def test_send_receive_delete_with_attributes():
    drain()
    attributes = {
        "City": {"DataType": "String", "StringValue": "Any City"},
        "Population": {"DataType": "Number", "StringValue": "1250800"},
    }
    sent = sqs.send_message(QueueUrl=url(), MessageBody="hello", MessageAttributes=attributes)
    got = sqs.receive_message(
        QueueUrl=url(), MaxNumberOfMessages=10, MessageAttributeNames=["All"],
        AttributeNames=["All"],
    )["Messages"]
    assert [m["Body"] for m in got] == ["hello"], got
    assert got[0]["MessageId"] == sent["MessageId"]
    assert got[0]["MessageAttributes"]["City"]["StringValue"] == "Any City"
    assert got[0]["Attributes"]["ApproximateReceiveCount"] == "1"
    # Leased: not given again; visible again at once after a zero visibility timeout.
    assert not sqs.receive_message(QueueUrl=url()).get("Messages")
    sqs.change_message_visibility(QueueUrl=url(), ReceiptHandle=got[0]["ReceiptHandle"], VisibilityTimeout=0)
    again = sqs.receive_message(QueueUrl=url(), AttributeNames=["All"])["Messages"]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2", again
    sqs.delete_message(QueueUrl=url(), ReceiptHandle=again[0]["ReceiptHandle"])
    counts = sqs.get_queue_attributes(QueueUrl=url(), AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessages"] == "0", counts
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "0", counts


def test_batches():
    drain()
    entries = [{"Id": f"e{i}", "MessageBody": f"m{i}"} for i in range(10)]
    sent = sqs.send_message_batch(QueueUrl=url(), Entries=entries)
    assert len(sent["Successful"]) == 10 and not sent.get("Failed"), sent
    got = sqs.receive_message(QueueUrl=url(), MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in got) == sorted(f"m{i}" for i in range(10))
    deleted = sqs.delete_message_batch(
        QueueUrl=url(),
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
    )
    assert len(deleted["Successful"]) == 10, deleted
    refused(
        lambda: sqs.send_message_batch(QueueUrl=url(), Entries=[{"Id": "x", "MessageBody": "a"}] * 2),
        sqs.exceptions.BatchEntryIdsNotDistinct,
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    )
    refused(
        lambda: sqs.send_message_batch(QueueUrl=url(), Entries=[]),
        ClientError,
        "AWS.SimpleQueueService.EmptyBatchRequest",
    )


def test_long_polling_waits_for_a_send():
    drain()
    later = threading.Timer(0.5, lambda: sqs.send_message(QueueUrl=url(), MessageBody="late"))
    later.start()
    started = time.time()
    got = sqs.receive_message(QueueUrl=url(), WaitTimeSeconds=5)["Messages"]
    later.join()
    assert [m["Body"] for m in got] == ["late"], got
    assert time.time() - started < 5, "the long poll answered when the message came"


def test_delayed_messages_wait():
    drain()
    sqs.send_message(QueueUrl=url(), MessageBody="soon", DelaySeconds=1)
    assert not sqs.receive_message(QueueUrl=url()).get("Messages")
    got = sqs.receive_message(QueueUrl=url(), WaitTimeSeconds=3)["Messages"]
    assert [m["Body"] for m in got] == ["soon"], got


if __name__ == "__main__":
    print("sqs protocol:", sqs.meta.service_model.protocol, flush=True)
    runner.run(globals())
