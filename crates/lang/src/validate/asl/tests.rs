use serde_json::Value;

use crate::diagnostic::{Diagnostic, Position};
use crate::source::Document;
use crate::validate::{AcceptAll, validate};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/asl-localstack.jsonl"
);

fn check(file: &str, text: &str) -> Vec<Diagnostic> {
    let doc = Document::parse(file, text).unwrap_or_else(|e| panic!("parse failed: {e:?}"));
    validate(&doc, &AcceptAll)
}

#[test]
fn conformance_definitions_are_valid() {
    let Ok(corpus) = std::fs::read_to_string(CORPUS) else {
        eprintln!("skipping: conformance corpus not found at {CORPUS}");
        return;
    };
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in corpus.lines().filter(|line| !line.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).expect("corpus line is JSON");
        if case["expected"]["status"] != "SUCCEEDED" {
            continue;
        }
        let id = case["id"].as_str().unwrap_or("?").to_owned();
        let doc = Document::from_value(&id, case["definition"].clone()).expect("definition loads");
        checked += 1;
        let diagnostics = validate(&doc, &AcceptAll);
        if !diagnostics.is_empty() {
            failures.push(
                diagnostics
                    .iter()
                    .map(|d| format!("{d} [{}]", d.pointer))
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
    }
    assert!(checked > 0);
    assert!(
        failures.is_empty(),
        "{} of {checked} definitions rejected:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const BROKEN_JSON: &str = r#"{
  "Comment": "broken on purpose",
  "StartAt": "Frist",
  "States": {
    "First": {
      "Type": "Pass",
      "Next": "Secnd"
    },
    "Second": {
      "Type": "Task",
      "Resource": "arn:aws:states:::lambda:invoke",
      "TimeoutSeconds": 0,
      "Retry": [
        {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 0},
        {"ErrorEquals": ["Custom.Error"]}
      ],
      "End": true,
      "Next": "Done"
    },
    "Pick": {
      "Type": "Choice",
      "Choices": [
        {"Variable": "$.n", "NumericEquals": "1", "Next": "Done"}
      ]
    },
    "Pause": {
      "Type": "Wiat",
      "Seconds": 5
    },
    "Done": {"Type": "Succeed", "OutputPth": "$.x"}
  }
}
"#;

fn summary(diagnostics: &[Diagnostic]) -> Vec<(u32, u32, String)> {
    diagnostics
        .iter()
        .map(|d| {
            let p = d.position.expect("every diagnostic has a position");
            (p.line, p.column, d.message.clone())
        })
        .collect()
}

fn assert_reported(diagnostics: &[Diagnostic], expected: &[(u32, u32, &str)]) {
    let got = summary(diagnostics);
    for (line, column, text) in expected {
        assert!(
            got.iter()
                .any(|(l, c, m)| l == line && c == column && m.contains(text)),
            "missing {line}:{column} '{text}' in:\n{}",
            diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn broken_json_flow_reports_every_problem_with_positions() {
    let diagnostics = check("flows/broken.asl.json", BROKEN_JSON);
    assert_reported(
        &diagnostics,
        &[
            (3, 3, "unknown state 'Frist'"),
            (7, 7, "unknown state 'Secnd'"),
            (12, 7, "expected an integer from 1 to 99999999, found 0"),
            (14, 26, "States.ALL may only appear in the last retrier"),
            (14, 41, "expected an integer from 1 to 99999999, found 0"),
            (18, 7, "both Next and End"),
            (23, 29, "expected a number, found a string"),
            (20, 5, "not reachable from StartAt"),
            (26, 5, "not reachable from StartAt"),
            (27, 7, "unknown state type 'Wiat'"),
            (30, 33, "unknown field"),
        ],
    );
    assert_eq!(diagnostics.len(), 11, "{diagnostics:#?}");
    let rendered: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    assert!(rendered.contains(
        &"flows/broken.asl.json:7:7: state 'First', field Next: unknown state 'Secnd'\n  hint: did you mean 'Second'?"
            .to_owned()
    ));
    assert!(rendered.contains(&"flows/broken.asl.json:3:3: field StartAt: unknown state 'Frist'\n  hint: did you mean 'First'?".to_owned()));
    assert!(rendered.iter().any(|r| {
        r.starts_with("flows/broken.asl.json:27:7: state 'Pause', field Type:")
            && r.ends_with("hint: did you mean 'Wait'?")
    }));
    assert!(rendered.iter().any(|r| {
        r.starts_with("flows/broken.asl.json:30:33: state 'Done', field OutputPth:")
            && r.ends_with("did you mean 'OutputPath'?")
    }));
    let sorted: Vec<Option<Position>> = diagnostics.iter().map(|d| d.position).collect();
    assert!(
        sorted.windows(2).all(|w| w[0] <= w[1]),
        "diagnostics are sorted by position"
    );
}

const BROKEN_YAML: &str = "\
Comment: broken on purpose
StartAt: Start
QueryLanguage: JSONata
Timeout: 30
States:
  Start:
    Type: Pass
    InputPath: $.x
    Next: Fetch
  Fetch:
    Type: Task
    Resource: arn:aws:states:::lambda:invoke
    Arguments:
      Payload: '{% $states.input'
    Catch:
      - ErrorEquals: [States.ALL]
        ResultPath: $.error
        Next: Recover
    Next: Check
  Check:
    Type: Choice
    Choices:
      - Next: Done
    Default: Done
  Recover:
    Type: Fail
    Error: Oops
    Cause: bad
    CausePath: $.cause
  Done:
    Type: Succeed
";

#[test]
fn broken_yaml_flow_reports_every_problem_with_positions() {
    let diagnostics = check("flows/broken.asl.yaml", BROKEN_YAML);
    assert_reported(
        &diagnostics,
        &[
            (4, 1, "unknown field"),
            (8, 5, "not allowed in a JSONata state"),
            (14, 7, "JSONata expression is missing its closing '%}'"),
            (17, 9, "not allowed in a JSONata catcher"),
            (23, 9, "missing required field Condition"),
            (29, 5, "not allowed in a JSONata state"),
        ],
    );
    assert_eq!(diagnostics.len(), 6, "{diagnostics:#?}");
    let timeout = diagnostics
        .iter()
        .find(|d| d.pointer == "/Timeout")
        .unwrap();
    assert_eq!(
        timeout.hint.as_deref(),
        Some("did you mean 'TimeoutSeconds'?")
    );
}

/// Problems as `(pointer, message, hint)` for a definition without source text.
fn problems(definition: Value) -> Vec<(String, String, Option<String>)> {
    let doc = Document::from_value("test.json", definition).expect("loads");
    validate(&doc, &AcceptAll)
        .into_iter()
        .map(|d| (d.pointer, d.message, d.hint))
        .collect()
}

#[track_caller]
fn assert_problem(found: &[(String, String, Option<String>)], pointer: &str, text: &str) {
    assert!(
        found
            .iter()
            .any(|(p, m, _)| p == pointer && m.contains(text)),
        "expected '{text}' at {pointer}, got {found:#?}"
    );
}

/// A machine whose single state is `state`, named `S`.
fn one_state(state: Value) -> Value {
    serde_json::json!({"StartAt": "S", "States": {"S": state}})
}

use serde_json::json;

#[test]
fn valid_definitions_have_no_problems() {
    let definition = json!({
        "Comment": "ok",
        "StartAt": "Choose",
        "TimeoutSeconds": 60,
        "States": {
            "Choose": {
                "Type": "Choice",
                "Choices": [
                    {"And": [{"Variable": "$.a", "IsPresent": true}, {"Variable": "$.a", "NumericGreaterThan": 1}], "Next": "Work"},
                    {"Not": {"Variable": "$.b", "StringMatches": "x*"}, "Next": "Wait"}
                ],
                "Default": "Fanout"
            },
            "Work": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "f", "Payload.$": "$", "Id.$": "States.UUID()"},
                "ResultSelector": {"body.$": "$.Payload"},
                "ResultPath": "$.result",
                "TimeoutSeconds": 10,
                "HeartbeatSeconds": 5,
                "Retry": [{"ErrorEquals": ["Lambda.Unknown"], "BackoffRate": 1.5, "JitterStrategy": "FULL"}, {"ErrorEquals": ["States.ALL"]}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
                "Assign": {"count.$": "$.Payload.count", "label": "x"},
                "Next": "Wait"
            },
            "Wait": {"Type": "Wait", "Timestamp": "2030-01-01T00:00:00Z", "Next": "Fanout"},
            "Fanout": {
                "Type": "Parallel",
                "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": 1, "End": true}}}],
                "Next": "Each"
            },
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 2,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                    "StartAt": "Item",
                    "States": {"Item": {"Type": "Succeed"}}
                },
                "ItemBatcher": {"MaxItemsPerBatch": 10},
                "End": true
            },
            "Failed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "States.Format('{}', $.x)"}
        }
    });
    assert_eq!(problems(definition), vec![]);
    let jsonata = json!({
        "QueryLanguage": "JSONata",
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"Payload": "{% $states.input %}"},
                "Output": "{% $states.result.Payload %}",
                "TimeoutSeconds": "{% $timeout %}",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Output": "{% $states.errorOutput %}", "Next": "C"}],
                "Next": "C"
            },
            "C": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.n > 1 %}", "Next": "W"}], "Default": "W"},
            "W": {"Type": "Wait", "Seconds": "{% 1 %}", "End": true}
        }
    });
    assert_eq!(problems(jsonata), vec![]);
}

#[test]
fn top_level_problems() {
    let found = problems(
        json!({"States": {}, "QueryLanguage": "SQL", "TimeoutSeconds": -1, "Versoin": "1.0"}),
    );
    assert_problem(&found, "/States", "at least one state");
    assert_problem(&found, "", "missing required field StartAt");
    assert_problem(&found, "/QueryLanguage", "invalid value 'SQL'");
    assert_problem(&found, "/TimeoutSeconds", "from 0 to 99999999");
    assert_problem(&found, "/Versoin", "unknown field");
    assert!(
        found
            .iter()
            .any(|(_, _, hint)| hint.as_deref() == Some("did you mean 'Version'?"))
    );
    let found = problems(json!({"StartAt": "A"}));
    assert_problem(&found, "", "missing required field States");
    let found = problems(
        json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}, "Version": "2.0"}),
    );
    assert_problem(&found, "/Version", "unsupported version");
}

#[test]
fn type_next_and_end() {
    let found = problems(json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Pass"},
        "C": {"Next": "A"},
        "D": {"Type": "Succeed", "End": true},
        "E": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": true, "Next": "A"}], "Next": "A"},
        "F": {"Type": "Pass", "End": false}
    }}));
    assert_problem(&found, "/States/B", "a Pass state needs Next or End");
    assert_problem(&found, "/States/C", "missing required field Type");
    assert_problem(&found, "/States/D/End", "not allowed in a Succeed state");
    assert_problem(&found, "/States/E/Next", "not allowed in a Choice state");
    assert_problem(&found, "/States/F", "End is false but there is no Next");
    assert_problem(&found, "/States/D", "not reachable");
}

#[test]
fn scopes_are_closed_and_names_unique() {
    let long = "x".repeat(81);
    let found = problems(json!({"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Next": "Done", "Branches": [
            {"StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "Next": "Done"}}},
            {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}},
            {"States": {}}
        ]},
        "Done": {"Type": "Succeed"},
        long.clone(): {"Type": "Succeed"}
    }}));
    assert_problem(
        &found,
        "/States/P/Branches/0/States/Inner/Next",
        "unknown state 'Done'",
    );
    assert_problem(&found, "/States/Done", "the name 'Done' is already used");
    assert_problem(
        &found,
        "/States/P/Branches/2",
        "missing required field StartAt",
    );
    assert_problem(&found, "/States/P/Branches/2/States", "at least one state");
    assert_problem(&found, &format!("/States/{long}"), "longer than 80");
}

#[test]
fn cross_scope_hint() {
    let found = problems(json!({"StartAt": "M", "States": {
        "M": {"Type": "Map", "End": true, "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "Next": "Outside"}}}},
        "Outside": {"Type": "Succeed"}
    }}));
    let (_, _, hint) = found
        .iter()
        .find(|(p, _, _)| p == "/States/M/ItemProcessor/States/I/Next")
        .expect("reported");
    assert!(
        hint.as_deref().unwrap().contains("another scope"),
        "{hint:?}"
    );
    assert_problem(&found, "/States/Outside", "not reachable");
}

#[test]
fn query_language_fields() {
    let found = problems(one_state(
        json!({"Type": "Pass", "QueryLanguage": "JSONata", "Parameters": {}, "ResultPath": "$.x", "End": true}),
    ));
    assert_problem(
        &found,
        "/States/S/Parameters",
        "not allowed in a JSONata state",
    );
    assert_problem(
        &found,
        "/States/S/ResultPath",
        "not allowed in a JSONata state",
    );
    let found = problems(one_state(
        json!({"Type": "Task", "Resource": "r", "Arguments": {}, "Output": 1, "End": true}),
    ));
    assert_problem(
        &found,
        "/States/S/Arguments",
        "not allowed in a JSONPath state",
    );
    assert_problem(
        &found,
        "/States/S/Output",
        "not allowed in a JSONPath state",
    );
    let found = problems(
        json!({"QueryLanguage": "JSONata", "StartAt": "S", "States": {"S": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": true}}}),
    );
    assert_problem(
        &found,
        "/States/S/QueryLanguage",
        "a JSONata state machine cannot contain JSONPath states",
    );
    let found = problems(
        json!({"QueryLanguage": "JSONata", "StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true,
        "Branches": [{"QueryLanguage": "JSONPath", "StartAt": "B", "States": {"B": {"Type": "Pass", "ResultPath": null, "End": true}}}]}}}),
    );
    assert_problem(
        &found,
        "/States/P/Branches/0/QueryLanguage",
        "a JSONata state machine cannot contain JSONPath states",
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    let found = problems(one_state(
        json!({"Type": "Pass", "Resource": "x", "End": true}),
    ));
    assert_problem(&found, "/States/S/Resource", "not allowed in a Pass state");
    let found = problems(one_state(json!({"Type": "Fail", "InputPath": "$"})));
    assert_problem(&found, "/States/S/InputPath", "not allowed in a Fail state");
}

#[test]
fn choice_rules() {
    let found = problems(json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Default": "Nowhere", "Choices": [
            {"Variable": "$.a", "StringEquals": "x"},
            {"Variable": "$.a", "StringEquals": "x", "NumericEquals": 1, "Next": "D"},
            {"Variable": "$.a", "Next": "D"},
            {"StringEquals": "x", "Next": "D"},
            {"And": [], "Next": "D"},
            {"Or": [{"Variable": "$.a", "IsString": true, "Next": "D"}], "Next": "D"},
            {"Not": {"Variable": "$.a", "BooleanEquals": "yes"}, "Next": "D"},
            {"Variable": "$.t", "TimestampEquals": "2016-03-14 01:59:00", "Next": "D"},
            {"Variable": "$.t", "StringEqualsPath": "not-a-path", "Next": "D"},
            {"Variable": "$.t", "IsPresent": "true", "Next": "D"},
            {"Variable": "$.t", "StringEqual": "x", "Next": "D"},
            {"Variable": "a", "IsNull": true, "Next": "D"},
            {"Variable": "$.a", "And": [{"Variable": "$.b", "IsNull": false}], "Next": "D"}
        ]},
        "D": {"Type": "Succeed"}
    }}));
    let c = "/States/C";
    assert_problem(&found, &format!("{c}/Default"), "unknown state 'Nowhere'");
    assert_problem(
        &found,
        &format!("{c}/Choices/0"),
        "missing required field Next",
    );
    assert_problem(
        &found,
        &format!("{c}/Choices/1/NumericEquals"),
        "only one operator",
    );
    assert_problem(
        &found,
        &format!("{c}/Choices/2"),
        "needs a comparison operator",
    );
    assert_problem(
        &found,
        &format!("{c}/Choices/3"),
        "missing required field Variable",
    );
    assert_problem(&found, &format!("{c}/Choices/4/And"), "must not be empty");
    assert_problem(
        &found,
        &format!("{c}/Choices/5/Or/0/Next"),
        "only allowed on a top-level Choice rule",
    );
    assert_problem(
        &found,
        &format!("{c}/Choices/6/Not/BooleanEquals"),
        "expected a boolean",
    );
    assert_problem(
        &found,
        &format!("{c}/Choices/7/TimestampEquals"),
        "not an RFC 3339 timestamp",
    );
    assert_problem(
        &found,
        &format!("{c}/Choices/8/StringEqualsPath"),
        "is not a JSONPath",
    );
    assert_problem(
        &found,
        &format!("{c}/Choices/9/IsPresent"),
        "expected a boolean",
    );
    assert_problem(
        &found,
        &format!("{c}/Choices/10/StringEqual"),
        "unknown field",
    );
    assert_problem(
        &found,
        &format!("{c}/Choices/11/Variable"),
        "is not a JSONPath",
    );
    assert_problem(
        &found,
        &format!("{c}/Choices/12/Variable"),
        "Variable is not used with And",
    );
    let found = problems(one_state(json!({"Type": "Choice", "Choices": []})));
    assert_problem(&found, "/States/S/Choices", "must not be empty");
    let found = problems(one_state(
        json!({"Type": "Choice", "QueryLanguage": "JSONata", "Choices": [
            {"Variable": "$.a", "Next": "S"}, {"Condition": "yes", "Next": "S"}
        ]}),
    ));
    assert_problem(
        &found,
        "/States/S/Choices/0",
        "missing required field Condition",
    );
    assert_problem(
        &found,
        "/States/S/Choices/0/Variable",
        "not allowed in a JSONata Choice rule",
    );
    assert_problem(
        &found,
        "/States/S/Choices/1/Condition",
        "expected a boolean or a JSONata expression",
    );
}

#[test]
fn wait_fail_and_task() {
    let found = problems(one_state(json!({"Type": "Wait", "End": true})));
    assert_problem(
        &found,
        "/States/S",
        "a Wait state needs one of Seconds, Timestamp",
    );
    let found = problems(one_state(
        json!({"Type": "Wait", "Seconds": -1, "SecondsPath": "$.s", "End": true}),
    ));
    assert_problem(&found, "/States/S/Seconds", "from 0 to 99999999, found -1");
    assert_problem(&found, "/States/S/SecondsPath", "cannot be used together");
    let found = problems(one_state(
        json!({"Type": "Wait", "Timestamp": "tomorrow", "End": true}),
    ));
    assert_problem(&found, "/States/S/Timestamp", "not an RFC 3339 timestamp");
    let found = problems(one_state(
        json!({"Type": "Fail", "Error": "E", "ErrorPath": "$.e", "Cause": 3}),
    ));
    assert_problem(
        &found,
        "/States/S/ErrorPath",
        "Error and ErrorPath cannot be used together",
    );
    assert_problem(&found, "/States/S/Cause", "expected a string");
    let found = problems(one_state(
        json!({"Type": "Task", "End": true, "TimeoutSeconds": 5, "TimeoutSecondsPath": "$.t", "HeartbeatSeconds": 5}),
    ));
    assert_problem(&found, "/States/S", "missing required field Resource");
    assert_problem(
        &found,
        "/States/S/TimeoutSecondsPath",
        "cannot be used together",
    );
    assert_problem(
        &found,
        "/States/S/HeartbeatSeconds",
        "must be smaller than TimeoutSeconds",
    );
    let found = problems(one_state(
        json!({"Type": "Task", "Resource": "", "End": true, "Credentials": "role"}),
    ));
    assert_problem(&found, "/States/S/Resource", "must not be empty");
    assert_problem(&found, "/States/S/Credentials", "expected an object");
}

#[test]
fn retry_and_catch() {
    let found = problems(json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "r", "End": true,
            "Retry": [
                {"ErrorEquals": []},
                {"ErrorEquals": ["States.ALL", "X"], "BackoffRate": 0.5, "MaxDelaySeconds": 0, "JitterStrategy": "HALF", "MaxAttempts": -1, "IntervalSecond": 1},
                {"IntervalSeconds": 1.5}
            ],
            "Catch": [
                {"ErrorEquals": ["States.ALL"], "Next": "H"},
                {"ErrorEquals": ["X"], "Next": "Nope", "Output": "x"},
                {"ErrorEquals": ["Y"]}
            ]},
        "H": {"Type": "Succeed"}
    }}));
    let t = "/States/T";
    assert_problem(
        &found,
        &format!("{t}/Retry/0/ErrorEquals"),
        "must not be empty",
    );
    assert_problem(
        &found,
        &format!("{t}/Retry/1/ErrorEquals/0"),
        "must be the only error name",
    );
    assert_problem(&found, &format!("{t}/Retry/1/BackoffRate"), "at least 1");
    assert_problem(
        &found,
        &format!("{t}/Retry/1/MaxDelaySeconds"),
        "from 1 to 31622400",
    );
    assert_problem(
        &found,
        &format!("{t}/Retry/1/JitterStrategy"),
        "invalid value 'HALF'",
    );
    assert_problem(
        &found,
        &format!("{t}/Retry/1/MaxAttempts"),
        "from 0 to 99999999",
    );
    assert_problem(
        &found,
        &format!("{t}/Retry/1/IntervalSecond"),
        "unknown field",
    );
    assert_problem(
        &found,
        &format!("{t}/Retry/2"),
        "missing required field ErrorEquals",
    );
    assert_problem(&found, &format!("{t}/Retry/2/IntervalSeconds"), "found 1.5");
    assert_problem(
        &found,
        &format!("{t}/Catch/0/ErrorEquals/0"),
        "may only appear in the last catcher",
    );
    assert_problem(&found, &format!("{t}/Catch/1/Next"), "unknown state 'Nope'");
    assert_problem(
        &found,
        &format!("{t}/Catch/1/Output"),
        "not allowed in a JSONPath catcher",
    );
    assert_problem(
        &found,
        &format!("{t}/Catch/2"),
        "missing required field Next",
    );
    assert!(
        !found
            .iter()
            .any(|(p, m, _)| p == "/States/H" && m.contains("reachable")),
        "catch targets are reachable"
    );
}

#[test]
fn result_writers_take_json_jsonl_or_parquet() {
    let writer = |output: &str| {
        problems(one_state(json!({"Type": "Map", "End": true,
            "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "P",
                "States": {"P": {"Type": "Pass", "End": true}}},
            "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                "Parameters": {"Bucket": "b", "Prefix": "p"},
                "WriterConfig": {"OutputType": output}}})))
    };
    for output in ["JSON", "JSONL", "PARQUET"] {
        let found = writer(output);
        assert!(found.is_empty(), "{output}: {found:#?}");
    }
    let found = writer("CSV");
    let pointer = "/States/S/ResultWriter/WriterConfig/OutputType";
    assert_problem(&found, pointer, "invalid value 'CSV'");
    assert!(
        found.iter().any(|(p, _, hint)| p == pointer
            && hint.as_deref() == Some("use one of JSON, JSONL, PARQUET")),
        "{found:#?}"
    );
}

#[test]
fn map_states() {
    let found = problems(one_state(
        json!({"Type": "Map", "End": true, "MaxConcurrency": -1, "ToleratedFailurePercentage": 150,
        "ItemBatcher": {}, "ResultWriter": {}, "Label": "x".repeat(41),
        "ItemReader": {"ReaderConfig": {"InputType": "XML", "CSVHeaderLocation": "GIVEN"}}}),
    ));
    let s = "/States/S";
    assert_problem(&found, s, "missing required field ItemProcessor");
    assert_problem(
        &found,
        &format!("{s}/MaxConcurrency"),
        "non-negative integer",
    );
    assert_problem(
        &found,
        &format!("{s}/ToleratedFailurePercentage"),
        "from 0 to 100",
    );
    assert_problem(
        &found,
        &format!("{s}/ItemBatcher"),
        "needs MaxItemsPerBatch",
    );
    assert_problem(&found, &format!("{s}/ResultWriter"), "needs WriterConfig");
    assert_problem(&found, &format!("{s}/Label"), "longer than 40");
    assert_problem(
        &found,
        &format!("{s}/ItemReader"),
        "missing required field Resource",
    );
    assert_problem(
        &found,
        &format!("{s}/ItemReader/ReaderConfig/InputType"),
        "invalid value 'XML'",
    );
    assert_problem(
        &found,
        &format!("{s}/ItemReader/ReaderConfig"),
        "missing required field CSVHeaders",
    );
    let found = problems(one_state(
        json!({"Type": "Map", "End": true, "ItemsPath": "$.x", "MaxConcurrencyPath": "$.m", "MaxConcurrency": 1,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTD"}, "StartAt": "I", "States": {"I": {"Type": "Succeed"}}, "Extra": 1},
        "Iterator": {"StartAt": "J", "States": {"J": {"Type": "Succeed"}}}}),
    ));
    assert_problem(
        &found,
        &format!("{s}/MaxConcurrencyPath"),
        "cannot be used together",
    );
    assert_problem(
        &found,
        &format!("{s}/Iterator"),
        "ItemProcessor and Iterator cannot be used together",
    );
    assert_problem(
        &found,
        &format!("{s}/ItemProcessor/ProcessorConfig/Mode"),
        "invalid value 'DISTRIBUTD'",
    );
    assert_problem(&found, &format!("{s}/ItemProcessor/Extra"), "unknown field");
    let found = problems(one_state(json!({"Type": "Map", "End": true,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "I", "States": {"I": {"Type": "Succeed"}}}})));
    assert_problem(
        &found,
        &format!("{s}/ItemProcessor/ProcessorConfig"),
        "missing required field ExecutionType",
    );
    let found = problems(one_state(
        json!({"Type": "Parallel", "End": true, "Branches": []}),
    ));
    assert_problem(&found, "/States/S/Branches", "must not be empty");
}

#[test]
fn payload_templates_paths_and_assign() {
    let found = problems(one_state(json!({"Type": "Pass", "End": true,
        "Parameters": {"a.$": 1, "b": "x", "b.$": "$.b", "nested": [{"c.$": "not a call"}]},
        "ResultPath": "$$.x", "InputPath": 5, "OutputPath": "nope",
        "Assign": {"states": 1, "a.b": 2, "ok.$": 3, "x": "{% not checked in JSONPath %}"}})));
    let s = "/States/S";
    assert_problem(
        &found,
        &format!("{s}/Parameters/a.$"),
        "expected a path or intrinsic function string",
    );
    assert_problem(
        &found,
        &format!("{s}/Parameters/b.$"),
        "both define the field 'b'",
    );
    assert_problem(
        &found,
        &format!("{s}/ResultPath"),
        "cannot refer to the context object",
    );
    assert_problem(
        &found,
        &format!("{s}/InputPath"),
        "expected a JSONPath string or null",
    );
    assert_problem(&found, &format!("{s}/OutputPath"), "is not a JSONPath");
    assert_problem(
        &found,
        &format!("{s}/Assign/states"),
        "reserved variable name",
    );
    assert_problem(
        &found,
        &format!("{s}/Assign/a.b"),
        "not a valid variable name",
    );
    assert_problem(
        &found,
        &format!("{s}/Assign/ok.$"),
        "expected a path or intrinsic function string",
    );
    assert_eq!(found.len(), 8, "{found:#?}");
    let found = problems(one_state(
        json!({"Type": "Pass", "End": true, "ResultPath": "$var.x"}),
    ));
    assert_problem(&found, "/States/S/ResultPath", "cannot refer to a variable");
    let found = problems(one_state(
        json!({"Type": "Pass", "End": true, "QueryLanguage": "JSONata", "Output": {"a": ["{% unterminated"]}, "Assign": {"1x": "{%%}"}}),
    ));
    assert_problem(&found, "/States/S/Output/a/0", "missing its closing");
    assert_problem(&found, "/States/S/Assign/1x", "not a valid variable name");
    assert_problem(&found, "/States/S/Assign/1x", "empty JSONata expression");
}

/// A checker that rejects any expression containing "bad".
struct RejectBad;

impl crate::validate::ExpressionChecker for RejectBad {
    fn path(&self, text: &str, reference: bool) -> Result<(), String> {
        if text.contains("bad") {
            return Err("bad path".into());
        }
        if reference && text.contains('*') {
            return Err("wildcards are not allowed in reference paths".into());
        }
        Ok(())
    }
    fn intrinsic(&self, text: &str) -> Result<(), String> {
        if text.contains("bad") {
            Err("bad call".into())
        } else {
            Ok(())
        }
    }
    fn jsonata(&self, text: &str) -> Result<(), String> {
        if text.contains("bad") {
            Err(format!("bad jsonata: {text}"))
        } else {
            Ok(())
        }
    }
    fn fdl(&self, _text: &str) -> Result<(), String> {
        Err("not expected in ASL".into())
    }
}

#[test]
fn expressions_go_through_the_checker() {
    let definition = json!({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "InputPath": "$.bad", "Parameters": {"x.$": "States.bad()", "y.$": "$.ok"}, "ResultPath": "$.items[*]", "Next": "B"},
        "B": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% bad %}", "Next": "M"},
        "M": {"Type": "Map", "ItemsPath": "$.list[*]", "End": true, "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}
    }});
    let doc = Document::from_value("x.json", definition).unwrap();
    let found: Vec<(String, String)> = validate(&doc, &RejectBad)
        .into_iter()
        .map(|d| (d.pointer, d.message))
        .collect();
    let has =
        |pointer: &str, text: &str| found.iter().any(|(p, m)| p == pointer && m.contains(text));
    assert!(
        has("/States/A/InputPath", "invalid JSONPath '$.bad': bad path"),
        "{found:#?}"
    );
    assert!(
        has(
            "/States/A/Parameters/x.$",
            "invalid intrinsic function call 'States.bad()': bad call"
        ),
        "{found:#?}"
    );
    assert!(
        has("/States/A/ResultPath", "invalid reference path"),
        "{found:#?}"
    );
    assert!(
        has(
            "/States/B/Output",
            "invalid JSONata expression: bad jsonata: bad"
        ),
        "{found:#?}"
    );
    assert!(has("/States/M/ItemsPath", "wildcards"), "{found:#?}");
    assert_eq!(found.len(), 5, "{found:#?}");
}

#[test]
fn duplicate_keys_in_text_are_reported_by_validate() {
    let text = "{\"StartAt\": \"A\", \"States\": {\"A\": {\"Type\": \"Pass\", \"End\": true, \"End\": true}}}";
    let diagnostics = check("d.json", text);
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].message, "duplicate key 'End'");
    assert_eq!(diagnostics[0].position, Some(Position::new(1, 64)));
}

#[test]
fn numbers_too_large_for_a_delay_are_refused_at_their_place() {
    let text = r#"{
  "StartAt": "W", "TimeoutSeconds": 1e20,
  "States": {
    "W": { "Type": "Wait", "Seconds": 1000000000000000000, "Next": "T" },
    "T": { "Type": "Task", "Resource": "r", "TimeoutSeconds": 1e18, "HeartbeatSeconds": 1000000000000000000, "End": true,
           "Retry": [{ "ErrorEquals": ["States.ALL"], "IntervalSeconds": 1e18, "MaxDelaySeconds": 1000000000000000000, "MaxAttempts": 1e18 }] }
  }
}"#;
    let found: Vec<String> = check("big.asl.json", text)
        .iter()
        .map(ToString::to_string)
        .collect();
    for expected in [
        "big.asl.json:2:19: field TimeoutSeconds: expected an integer from 0 to 99999999, found 1e+20",
        "big.asl.json:4:28: state 'W', field Seconds: expected an integer from 0 to 99999999, found 1000000000000000000",
        "big.asl.json:5:45: state 'T', field TimeoutSeconds: expected an integer from 1 to 99999999, found 1e+18",
        "big.asl.json:5:69: state 'T', field HeartbeatSeconds: expected an integer from 1 to 99999999, found 1000000000000000000",
        "big.asl.json:6:55: state 'T', field Retry[0].IntervalSeconds: expected an integer from 1 to 99999999, found 1e+18",
        "big.asl.json:6:80: state 'T', field Retry[0].MaxDelaySeconds: expected an integer from 1 to 31622400, found 1000000000000000000",
        "big.asl.json:6:120: state 'T', field Retry[0].MaxAttempts: expected an integer from 0 to 99999999, found 1e+18",
    ] {
        assert!(
            found.iter().any(|f| f == expected),
            "{expected}\nnot in\n{}",
            found.join("\n")
        );
    }
    assert_eq!(found.len(), 7, "{}", found.join("\n"));
}

#[test]
fn express_children_cannot_wait_for_jobs_callbacks_or_run_distributed_maps() {
    let task = |resource: &str| json!({"Type": "Task", "Resource": resource, "End": true});
    let processor = json!({
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
        "StartAt": "Call",
        "States": {
            "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": "f", "Payload": {"token.$": "$$.Task.Token"}}, "Next": "Both"},
            "Both": {"Type": "Parallel", "Next": "Each", "Branches": [
                {"StartAt": "Job", "States": {"Job": task("arn:aws:states:::states:startExecution.sync:2")}},
                {"StartAt": "Fine", "States": {"Fine": task("arn:aws:states:::lambda:invoke")}}
            ]},
            "Each": {"Type": "Map", "Next": "Fan", "ItemProcessor": {
                "StartAt": "Inner", "States": {"Inner": task("arn:aws:states:::states:startExecution.sync")}}},
            "Fan": {"Type": "Map", "End": true, "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Deep", "States": {"Deep": {"Type": "Succeed"}}}}
        }
    });
    let state = |processor: &Value| {
        one_state(
            json!({"Type": "Map", "End": true, "ItemsPath": "$.x", "ItemProcessor": processor}),
        )
    };
    let found = problems(state(&processor));
    let p = "/States/S/ItemProcessor/States";
    assert_problem(&found, &format!("{p}/Call/Resource"), "'.waitForTaskToken'");
    assert_problem(
        &found,
        &format!("{p}/Both/Branches/0/States/Job/Resource"),
        "'.sync:2'",
    );
    assert_problem(
        &found,
        &format!("{p}/Each/ItemProcessor/States/Inner/Resource"),
        "'.sync'",
    );
    assert_problem(
        &found,
        &format!("{p}/Fan/ItemProcessor/ProcessorConfig/Mode"),
        "cannot run inside EXPRESS children",
    );
    assert_eq!(
        found.len(),
        4,
        "the request-response Task is fine: {found:#?}"
    );
    let mut standard = processor;
    standard["ProcessorConfig"]["ExecutionType"] = json!("STANDARD");
    assert_eq!(problems(state(&standard)), Vec::new());
}
