"""boto3's SNS and EventBridge clients against `sluice serve`: publishing on a topic of
tests/fixtures/api fans out to its queues by filter policy, and an event put on the bus reaches
the queue of the rule it matches; both read back with boto3's SQS client.

Run by tests/boto3.rs with SLUICE_ENDPOINT. Prints `N passed, 0 failed` at the end.
"""

import json
import os

import boto3
import botocore.config
from botocore.exceptions import ClientError

import runner

ENDPOINT = os.environ["SLUICE_ENDPOINT"]
CONFIG = botocore.config.Config(retries={"max_attempts": 1})
sns = boto3.client("sns", endpoint_url=ENDPOINT, config=CONFIG)
events = boto3.client("events", endpoint_url=ENDPOINT, config=CONFIG)
sqs = boto3.client("sqs", endpoint_url=ENDPOINT, config=CONFIG)


def take(queue):
    """Every message on `queue`, received and deleted."""
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    messages = got.get("Messages", [])
    for m in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return messages


def test_publish_fans_out_by_filter_policy():
    take("alerts"), take("big-alerts")
    arn = sns.create_topic(Name="alerts")["TopicArn"]
    assert arn == "arn:aws:sns:local:000000000000:alerts", arn
    assert arn in [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    low = sns.publish(
        TopicArn=arn, Message="disk at 70%", Subject="disk",
        MessageAttributes={"level": {"DataType": "Number", "StringValue": "1"}},
    )
    high = sns.publish(
        TopicArn=arn, Message="disk full",
        MessageAttributes={"level": {"DataType": "Number", "StringValue": "4"}},
    )
    envelopes = [json.loads(m["Body"]) for m in take("alerts")]
    assert [e["MessageId"] for e in envelopes] == [low["MessageId"], high["MessageId"]], envelopes
    assert envelopes[0]["Type"] == "Notification"
    assert envelopes[0]["Subject"] == "disk"
    assert envelopes[0]["MessageAttributes"]["level"] == {"Type": "Number", "Value": "1"}
    raw = take("big-alerts")
    assert [m["Body"] for m in raw] == ["disk full"], raw
    assert raw[0]["MessageAttributes"]["level"]["StringValue"] == "4", raw


def test_unknown_topics_and_bad_attributes_are_refused():
    for call, code in [
        (lambda: sns.publish(TopicArn="arn:aws:sns:us-east-1:000000000000:nope", Message="x"), "NotFound"),
        (lambda: sns.create_topic(Name="nope"), "NotFound"),
        (lambda: sns.publish(
            TopicArn="alerts", Message="x",
            MessageAttributes={"level": {"DataType": "Number", "StringValue": "high"}},
        ), "InvalidParameter"),
    ]:
        try:
            call()
            raise AssertionError("accepted")
        except ClientError as e:
            assert e.response["Error"]["Code"] == code, e.response


def test_put_events_reaches_the_queue_of_the_matching_rule():
    take("big-alerts")
    put = events.put_events(Entries=[
        {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"amount": 50})},
        {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"amount": 500}), "Resources": ["r"]},
        {"Source": "shop", "DetailType": "order", "Detail": "not json"},
    ])
    assert put["FailedEntryCount"] == 1, put
    assert put["Entries"][2]["ErrorCode"] == "MalformedDetail", put
    got = [json.loads(m["Body"]) for m in take("big-alerts")]
    assert [e["id"] for e in got] == [put["Entries"][1]["EventId"]], got
    assert got[0]["detail"] == {"amount": 500} and got[0]["detail-type"] == "order", got
    assert got[0]["version"] == "0" and got[0]["resources"] == ["r"], got
    rules = events.list_rules()["Rules"]
    assert [r["Name"] for r in rules] == ["big-orders"], rules
    assert json.loads(rules[0]["EventPattern"])["source"] == ["shop"], rules


runner.run(globals())
