"""boto3 against `sluice serve`: the Step Functions and Lambda calls an AWS user makes.

Run by tests/boto3.rs with SLUICE_ENDPOINT (the server's URL) and SLUICE_GATE (a path that
does not exist yet: the `gate` function fails until it does). Serves the fixture project
tests/fixtures/api. Prints `N passed, 0 failed` at the end; any failed assertion exits non-zero.
"""

import base64
import json
import os
import time

import boto3
import botocore.config
from botocore.exceptions import ClientError

import runner

ENDPOINT = os.environ["SLUICE_ENDPOINT"]
GATE = os.environ["SLUICE_GATE"]
CONFIG = botocore.config.Config(retries={"max_attempts": 1})
sfn = boto3.client("stepfunctions", endpoint_url=ENDPOINT, config=CONFIG)
lam = boto3.client("lambda", endpoint_url=ENDPOINT, config=CONFIG)
ACCOUNT = "arn:aws:states:local:000000000000"
ROLE = "arn:aws:iam::000000000000:role/sluice"


def machine(name):
    return f"{ACCOUNT}:stateMachine:{name}"


def wait_for(arn, status):
    deadline = time.time() + 60
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] == status:
            return described
        assert time.time() < deadline, f"{arn} is still {described['status']}"
        time.sleep(0.05)


def error_code(call, **kwargs):
    try:
        call(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError(f"{call.__name__} succeeded")


def test_create_start_and_describe():
    definition = {
        "StartAt": "Shout",
        "States": {
            "Shout": {
                "Type": "Pass",
                "Parameters": {"shout.$": "States.Format('{}!', $.word)"},
                "End": True,
            }
        },
    }
    created = sfn.create_state_machine(
        name="shout", definition=json.dumps(definition), roleArn=ROLE
    )
    assert created["stateMachineArn"] == machine("shout"), created
    names = [m["name"] for m in sfn.list_state_machines()["stateMachines"]]
    assert "shout" in names and "hello" in names, names
    code = error_code(
        sfn.create_state_machine,
        name="shout",
        definition=json.dumps({"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}),
        roleArn=ROLE,
    )
    assert code == "StateMachineAlreadyExists", code
    code = error_code(
        sfn.create_state_machine,
        name="broken",
        definition=json.dumps({"StartAt": "Nowhere", "States": {}}),
        roleArn=ROLE,
    )
    assert code == "InvalidDefinition", code
    started = sfn.start_execution(
        stateMachineArn=created["stateMachineArn"], name="first", input='{"word": "hey"}'
    )
    done = wait_for(started["executionArn"], "SUCCEEDED")
    assert json.loads(done["output"]) == {"shout": "hey!"}, done
    for_execution = sfn.describe_state_machine_for_execution(executionArn=started["executionArn"])
    assert json.loads(for_execution["definition"]) == definition
    validated = sfn.validate_state_machine_definition(definition=json.dumps({"StartAt": "Nowhere", "States": {}}))
    assert validated["result"] == "FAIL" and validated["diagnostics"], validated
    sfn.delete_state_machine(stateMachineArn=created["stateMachineArn"])
    code = error_code(sfn.describe_state_machine, stateMachineArn=created["stateMachineArn"])
    assert code == "StateMachineDoesNotExist", code


def test_history_pages():
    started = sfn.start_execution(stateMachineArn=machine("hello"), input='{"name": "Ada"}')
    done = wait_for(started["executionArn"], "SUCCEEDED")
    assert json.loads(done["output"]) == {"greeting": "Hello, Ada!"}, done
    events, token = [], None
    while True:
        kwargs = {"executionArn": started["executionArn"], "maxResults": 2}
        if token:
            kwargs["nextToken"] = token
        page = sfn.get_execution_history(**kwargs)
        assert 0 < len(page["events"]) <= 2, page
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            break
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "ExecutionStarted"
    assert events[-1]["type"] == "ExecutionSucceeded"
    bare = sfn.get_execution_history(
        executionArn=started["executionArn"], includeExecutionData=False
    )["events"]
    assert "input" not in bare[0].get("executionStartedEventDetails", {}), bare[0]


def test_list_executions_in_pages():
    arns = set()
    for i in range(5):
        started = sfn.start_execution(stateMachineArn=machine("hello"), name=f"many-{i}")
        arns.add(started["executionArn"])
    for arn in arns:
        wait_for(arn, "SUCCEEDED")
    listed, pages = [], 0
    for page in sfn.get_paginator("list_executions").paginate(
        stateMachineArn=machine("hello"), statusFilter="SUCCEEDED", PaginationConfig={"PageSize": 2}
    ):
        pages += 1
        assert len(page["executions"]) <= 2, page
        listed += [e["executionArn"] for e in page["executions"]]
    assert arns <= set(listed), (arns, listed)
    assert len(listed) == len(set(listed)), listed
    assert pages >= 3, pages
    running = sfn.list_executions(stateMachineArn=machine("hello"), statusFilter="RUNNING")
    assert running["executions"] == [], running


def test_stop():
    started = sfn.start_execution(stateMachineArn=machine("nap"))
    sfn.stop_execution(executionArn=started["executionArn"], error="Operator", cause="enough")
    aborted = wait_for(started["executionArn"], "ABORTED")
    assert aborted["error"] == "Operator", aborted


def test_redrive():
    started = sfn.start_execution(stateMachineArn=machine("gated"), input=json.dumps({"open": GATE}))
    failed = wait_for(started["executionArn"], "FAILED")
    assert failed["error"] == "RuntimeError", failed
    assert failed["redriveStatus"] == "REDRIVABLE", failed
    with open(GATE, "w"):
        pass
    redriven = sfn.redrive_execution(executionArn=started["executionArn"])
    assert redriven["redriveDate"].timestamp() > 0
    done = wait_for(started["executionArn"], "SUCCEEDED")
    assert done["redriveCount"] == 1, done
    assert json.loads(done["output"])["passed"] == GATE, done
    code = error_code(sfn.redrive_execution, executionArn=started["executionArn"])
    assert code == "ExecutionNotRedrivable", code


def test_map_run():
    names = ["a", "b", "c", "d", "e"]
    started = sfn.start_execution(stateMachineArn=machine("fan"), input=json.dumps({"names": names}))
    done = wait_for(started["executionArn"], "SUCCEEDED")
    assert json.loads(done["output"]) == [{"greeting": f"Hello, {n}!"} for n in names], done
    runs = sfn.list_map_runs(executionArn=started["executionArn"])["mapRuns"]
    assert len(runs) == 1, runs
    run = sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])
    assert run["status"] == "SUCCEEDED", run
    assert run["executionArn"] == started["executionArn"], run
    assert run["maxConcurrency"] == 2, run
    assert run["itemCounts"]["succeeded"] == len(names), run
    assert run["itemCounts"]["total"] == len(names), run
    assert run["executionCounts"]["failed"] == 0, run
    children = sfn.list_executions(mapRunArn=runs[0]["mapRunArn"])["executions"]
    assert len(children) == len(names), children


def test_lambda_invoke():
    result = lam.invoke(FunctionName="greet", Payload=json.dumps({"name": "Bo"}), LogType="Tail")
    assert result["StatusCode"] == 200, result
    assert "FunctionError" not in result, result
    assert json.loads(result["Payload"].read()) == {"greeting": "Hello, Bo!"}
    assert "greeting Bo" in base64.b64decode(result["LogResult"]).decode(), result
    failed = lam.invoke(FunctionName="fail", Payload=json.dumps({"name": "Bo"}))
    assert failed["StatusCode"] == 200 and failed["FunctionError"] == "Unhandled", failed
    error = json.loads(failed["Payload"].read())
    assert error["errorType"] == "ValueError", error
    assert error["errorMessage"] == "no greeting for Bo", error
    queued = lam.invoke(FunctionName="greet", InvocationType="Event", Payload=b"{}")
    assert queued["StatusCode"] == 202, queued
    dry = lam.invoke(FunctionName="greet", InvocationType="DryRun")
    assert dry["StatusCode"] == 204, dry
    code = error_code(lam.invoke, FunctionName="nobody", Payload=b"{}")
    assert code == "ResourceNotFoundException", code
    names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert names == ["greet", "fail", "gate"], names


def create(name, states, start_at):
    definition = {"StartAt": start_at, "States": states}
    sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)


def described_once_started(arn):
    """A child execution, once its parent's Task started it."""
    deadline = time.time() + 60
    while True:
        try:
            return sfn.describe_execution(executionArn=arn)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ExecutionDoesNotExist", e.response
            assert time.time() < deadline, f"{arn} never started"
            time.sleep(0.05)


def test_callbacks_and_child_flows():
    create("echo-child", {"P": {"Type": "Pass", "End": True}}, "P")

    def asks(name, child, **task):
        parameters = {
            "StateMachineArn": machine("echo-child"),
            "Name": child,
            "Input": {"token.$": "$$.Task.Token"},
        }
        resource = "arn:aws:states:::states:startExecution.waitForTaskToken"
        ask = {"Type": "Task", "Resource": resource, "Parameters": parameters, "End": True}
        create(name, {"Ask": {**ask, **task}}, "Ask")

    # A worker completes the Task with its token.
    asks("asks", "asked")
    arn = sfn.start_execution(stateMachineArn=machine("asks"), name="ask-1")["executionArn"]
    child = described_once_started(f"{ACCOUNT}:execution:echo-child:asked")
    token = json.loads(wait_for(child["executionArn"], "SUCCEEDED")["output"])["token"]
    sfn.send_task_heartbeat(taskToken=token)
    sfn.send_task_success(taskToken=token, output=json.dumps({"approved": True}))
    assert json.loads(wait_for(arn, "SUCCEEDED")["output"]) == {"approved": True}
    code = error_code(sfn.send_task_success, taskToken=token, output="{}")
    assert code == "TaskTimedOut", code
    code = error_code(sfn.send_task_failure, taskToken="forged", error="E")
    assert code == "InvalidToken", code

    # No heartbeat within HeartbeatSeconds: States.Timeout.
    asks("silent", "unheard", HeartbeatSeconds=1)
    arn = sfn.start_execution(stateMachineArn=machine("silent"))["executionArn"]
    failed = wait_for(arn, "FAILED")
    assert failed["error"] == "States.Timeout", failed

    # A .sync:2 child flow: the parent takes the child's output.
    run = {
        "Type": "Task",
        "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Parameters": {"StateMachineArn": machine("hello"), "Input": {"name": "Kid"}},
        "OutputPath": "$.Output",
        "End": True,
    }
    create("runs-hello", {"Run": run}, "Run")
    arn = sfn.start_execution(stateMachineArn=machine("runs-hello"))["executionArn"]
    assert json.loads(wait_for(arn, "SUCCEEDED")["output"]) == {"greeting": "Hello, Kid!"}


# The SDK sends StartSyncExecution and TestState to a `sync-` prefixed host unless told not to.
SYNC = boto3.client(
    "stepfunctions",
    endpoint_url=ENDPOINT,
    config=botocore.config.Config(retries={"max_attempts": 1}, inject_host_prefix=False),
)


def test_start_sync_execution():
    done = SYNC.start_sync_execution(
        stateMachineArn=machine("hello"), input=json.dumps({"name": "Sync"})
    )
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"greeting": "Hello, Sync!"}, done
    assert done["stopDate"] >= done["startDate"], done


def test_test_state():
    def run(state, given):
        return SYNC.test_state(definition=json.dumps(state), roleArn=ROLE, input=json.dumps(given))

    passed = run({"Type": "Pass", "Parameters": {"n.$": "$.n"}, "Next": "After"}, {"n": 3, "x": 1})
    assert passed["status"] == "SUCCEEDED", passed
    assert json.loads(passed["output"]) == {"n": 3} and passed["nextState"] == "After", passed
    choice = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.n", "NumericGreaterThan": 2, "Next": "Big"}],
        "Default": "Small",
    }
    assert run(choice, {"n": 3})["nextState"] == "Big"
    assert run(choice, {"n": 1})["nextState"] == "Small"
    greet = {"Type": "Task", "Resource": "sluice:function:greet", "End": True}
    done = run(greet, {"name": "Test"})
    assert json.loads(done["output"]) == {"greeting": "Hello, Test!"}, done
    assert "nextState" not in done, done
    failing = {"Type": "Task", "Resource": "sluice:function:fail", "End": True}
    failed = run(failing, {"name": "T"})
    assert (failed["status"], failed["error"]) == ("FAILED", "ValueError"), failed
    retried = run({**failing, "Retry": [{"ErrorEquals": ["ValueError"]}]}, {})
    assert retried["status"] == "RETRIABLE", retried
    caught = run({**failing, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Oops"}]}, {})
    assert (caught["status"], caught["nextState"], caught["error"]) == (
        "CAUGHT_ERROR", "Oops", "ValueError"), caught
    code = error_code(SYNC.test_state, definition="[1]", roleArn=ROLE)
    assert code == "InvalidDefinition", code


def test_errors():
    code = error_code(sfn.describe_execution, executionArn="arn:nonsense")
    assert code == "InvalidArn", code
    code = error_code(sfn.describe_execution, executionArn=f"{ACCOUNT}:execution:hello:nobody")
    assert code == "ExecutionDoesNotExist", code
    code = error_code(sfn.start_execution, stateMachineArn=machine("nothing"))
    assert code == "StateMachineDoesNotExist", code


if __name__ == "__main__":
    runner.run(globals())
