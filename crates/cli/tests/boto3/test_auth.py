"""boto3 against a `sluice serve` node that has access keys (`test:test,other:right-secret`)
and a bearer token (`t0ken`): signed calls pass, others get AWS's errors.

Run by tests/boto3.rs with SLUICE_ENDPOINT, AWS_ACCESS_KEY_ID=test and AWS_SECRET_ACCESS_KEY=test.
Prints `N passed, 0 failed` at the end; any failed assertion exits non-zero.
"""

import json
import os
import urllib.error
import urllib.request

import boto3
import botocore
import botocore.config
from botocore.exceptions import ClientError

import runner

ENDPOINT = os.environ["SLUICE_ENDPOINT"]
CONFIG = botocore.config.Config(retries={"max_attempts": 1})


def client(service, key="test", secret="test", config=CONFIG):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
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


def test_signed_calls_with_either_key_pass():
    for key, secret in [("test", "test"), ("other", "right-secret")]:
        machines = client("stepfunctions", key, secret).list_state_machines()["stateMachines"]
        assert "hello" in [m["name"] for m in machines], machines
    reply = client("lambda").invoke(FunctionName="greet", Payload=json.dumps({"name": "Ada"}))
    assert json.loads(reply["Payload"].read()) == {"greeting": "Hello, Ada!"}


def test_a_wrong_secret_is_an_invalid_signature():
    sfn = client("stepfunctions", "test", "not-the-secret")
    code = error_code(sfn.list_state_machines)
    assert code == "InvalidSignatureException", code
    lam = client("lambda", "test", "not-the-secret")
    code = error_code(lam.invoke, FunctionName="greet", Payload=b"{}")
    assert code == "InvalidSignatureException", code


def test_sns_and_eventbridge_calls_are_signed_too():
    topic = "arn:aws:sns:local:000000000000:alerts"
    assert client("sns").publish(TopicArn=topic, Message="x")["MessageId"]
    code = error_code(client("sns", "test", "not-the-secret").publish, TopicArn=topic, Message="x")
    assert code == "InvalidSignatureException", code
    entries = [{"Source": "s", "DetailType": "t", "Detail": "{}"}]
    assert client("events").put_events(Entries=entries)["FailedEntryCount"] == 0
    code = error_code(client("events", "test", "not-the-secret").put_events, Entries=entries)
    assert code == "InvalidSignatureException", code


def test_an_unknown_key_is_unrecognized():
    code = error_code(client("stepfunctions", "stranger", "x").list_state_machines)
    assert code == "UnrecognizedClientException", code


def test_an_unsigned_call_is_refused():
    unsigned = botocore.config.Config(
        retries={"max_attempts": 1}, signature_version=botocore.UNSIGNED
    )
    code = error_code(client("stepfunctions", config=unsigned).list_state_machines)
    assert code == "MissingAuthenticationTokenException", code


def status(path, headers=None):
    request = urllib.request.Request(ENDPOINT + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request) as reply:
            return reply.status
    except urllib.error.HTTPError as e:
        return e.code


def test_bearer_token():
    assert status("/healthz") == 200
    assert status("/metrics") == 401
    assert status("/metrics", {"Authorization": "Bearer wrong"}) == 401
    assert status("/metrics", {"Authorization": "Bearer t0ken"}) == 200


if __name__ == "__main__":
    runner.run(globals())
