use serde_json::{Value, json};

use crate::diagnostic::Diagnostic;
use crate::source::{Dialect, Document};
use crate::validate::{AcceptAll, ExpressionChecker, validate};

/// The MapReduce ETL example of the CloudFlow digest: a valid FDL flow.
const ETL: &str = "\
Type: StateMachine
Name: orders-etl
SpecVersion: v1
Description: Split a CSV into shards, transform shards in parallel, then merge.
StartAt: Split
States:
  - Type: Task
    Name: Split
    Action: FC:InvokeFunction
    TaskMode: RequestComplete
    Parameters:
      resourceArn: acs:fc:cn-hangzhou:1234567890:functions/etl-split/LATEST
      invocationType: Sync
      body:
        bucket.$: $Input.bucket
        key.$: $Input.key
    Timeout: \"900\"
    OutputConstructor:
      bucket.$: $Input.bucket
      shards.$: $Output.Body.shards
      rowCount.$: $Output.Body.rowCount
    GlobalConstructor:
      sourceKey.$: $Input.key
    Retry:
      - Errors: [FC.ResourceThrottled, FC.InternalServerError]
        Description: transient FC errors
        MaxAttempts: 3
        IntervalSeconds: 2
        BackoffRate: 2
        MaxBackoffSeconds: 30
    Catch:
      - Errors: [FnF.ALL]
        Description: split failed
        OutputConstructor:
          stage: split
          code.$: $Context.Current.Error.Code
        Next: Failed
    Next: HasShards
  - Type: Choice
    Name: HasShards
    Branches:
      - Condition: $Input.rowCount > 0
        Next: TransformShards
    Default: NothingToDo
  - Type: Map
    Name: TransformShards
    ItemsPath: $Input.shards
    ItemConstructor:
      shardId.$: $Item.shardId
    ProcessorConfig:
      ExecutionMode: Express
    MaxConcuccency: 50
    ToleratedFailurePercentage: 0
    Processor:
      StartAt: TransformShard
      States:
        - Type: Task
          Name: TransformShard
          Action: FC:InvokeFunction
          Parameters:
            resourceArn: acs:fc:cn-hangzhou:1234567890:functions/etl-transform/LATEST
            invocationType: Sync
          End: true
    OutputConstructor:
      partials.$: $Output.Items
    Next: Reduce
  - Type: Parallel
    Name: Reduce
    Branches:
      - StartAt: Merge
        States:
          - Type: Wait
            Name: Merge
            Seconds: 1
            Next: Stop
          - Type: Succeed
            Name: Stop
    End: true
  - Type: Succeed
    Name: NothingToDo
  - Type: Fail
    Name: Failed
    Code: ETL.Failed
    Detail: ETL pipeline failed
";

const BROKEN: &str = "\
Type: StateMachine
Name: 9-bad-name
SpecVersion: v2
StartAt: Start
States:
  - Type: Pass
    Name: Start
    Next: Chek
  - Type: Choice
    Name: Check
    Branches:
      - Condition: $Input.n > 1
        Next: Work
  - Type: Task
    Name: Work
    Timeout: \"ten\"
    Retry:
      - ErrorEquals: [FnF.ALL]
    End: true
  - Type: Wait
    Name: Work
    Seconds: 5
    End: true
  - Type: Map
    Name: Each
    ItemsPath: $Input.items
    Processor:
      StartAt: Inner
      States:
        - Type: Pass
          Name: Inner
          Next: Start
    End: true
";

fn check(text: &str) -> Vec<Diagnostic> {
    let doc = Document::parse("flows/broken.fdl.yaml", text).expect("parses");
    assert_eq!(doc.dialect, Dialect::Fdl);
    validate(&doc, &AcceptAll)
}

#[test]
fn example_flow_is_valid() {
    let diagnostics = check(ETL);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
}

#[test]
fn broken_flow_reports_every_problem_with_positions() {
    let diagnostics = check(BROKEN);
    let got: Vec<(u32, u32, &str)> = diagnostics
        .iter()
        .map(|d| {
            let p = d.position.expect("positioned");
            (p.line, p.column, d.message.as_str())
        })
        .collect();
    let expected: &[(u32, u32, &str)] = &[
        (2, 1, "'9-bad-name' is not a valid flow name"),
        (3, 1, "unsupported SpecVersion 'v2'"),
        (8, 5, "unknown state 'Chek'"),
        (9, 5, "missing required field Default"),
        (14, 5, "missing required field Action"),
        (16, 5, "expected a number of seconds"),
        (18, 9, "unknown field"),
        (21, 5, "the name 'Work' is already used in this scope"),
        (24, 5, "not reachable from StartAt 'Start'"),
        (32, 11, "unknown state 'Start'"),
    ];
    for (line, column, text) in expected {
        assert!(
            got.iter()
                .any(|(l, c, m)| l == line && c == column && m.contains(text)),
            "missing {line}:{column} '{text}' in {got:#?}"
        );
    }
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    let rendered: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    assert!(rendered.contains(
        &"flows/broken.fdl.yaml:8:5: state 'Start', field Next: unknown state 'Chek'\n  hint: did you mean 'Check'?".to_owned()
    ));
    assert!(rendered.iter().any(|r| {
        r.starts_with("flows/broken.fdl.yaml:32:11: state 'Inner', field Next:")
            && r.contains("another scope")
    }));
}

fn problems(definition: Value) -> Vec<(String, String)> {
    let doc = Document::from_value("f.yaml", definition).expect("loads");
    assert_eq!(doc.dialect, Dialect::Fdl);
    validate(&doc, &AcceptAll)
        .into_iter()
        .map(|d| (d.pointer, d.message))
        .collect()
}

#[track_caller]
fn assert_problem(found: &[(String, String)], pointer: &str, text: &str) {
    assert!(
        found.iter().any(|(p, m)| p == pointer && m.contains(text)),
        "expected '{text}' at {pointer}, got {found:#?}"
    );
}

fn flow(states: Value) -> Value {
    json!({"Type": "StateMachine", "Name": "f", "SpecVersion": "v1", "StartAt": "S", "States": states})
}

#[test]
fn top_level_problems() {
    let found = problems(json!({"Type": "Machine", "States": [], "Extra": 1}));
    assert_problem(&found, "/Type", "Type must be StateMachine");
    assert_problem(&found, "", "missing required field SpecVersion");
    assert_problem(&found, "", "missing required field Name");
    assert_problem(&found, "/States", "must not be empty");
    assert_problem(&found, "/Extra", "unknown field");
    let found = problems(
        json!({"SpecVersion": "v1", "Type": "StateMachine", "Name": "f", "States": [{"Name": "A", "Type": "Succeed"}]}),
    );
    assert_problem(&found, "", "missing required field StartAt");
}

#[test]
fn state_names_and_types() {
    let found = problems(flow(json!([
        {"Name": "S", "Type": "Pass", "Next": "bad name"},
        {"Name": "bad name", "Type": "Succeed"},
        {"Type": "Pass", "End": true},
        {"Name": "T", "Type": "Tsak"},
        {"Name": "U", "Type": "Succeed", "Next": "S"},
        "not a state"
    ])));
    assert_problem(
        &found,
        "/States/1/Name",
        "'bad name' is not a valid state name",
    );
    assert_problem(&found, "/States/2", "missing required field Name");
    assert_problem(&found, "/States/3/Type", "unknown state type 'Tsak'");
    assert_problem(&found, "/States/4/Next", "not allowed in a Succeed state");
    assert_problem(&found, "/States/5", "expected an object");
    assert_problem(&found, "/States/3", "not reachable");
}

#[test]
fn item_reader_source_types_are_checked() {
    let found = problems(flow(json!([
        {"Name": "S", "Type": "Map", "ProcessorConfig": {"ExecutionMode": "Standard"},
            "ItemReader": {"SourceType": "OSS_PARQUET", "SourceParameters": {"Bucket": "b", "ObjectName": "k"}},
            "Processor": {"StartAt": "I", "States": [{"Name": "I", "Type": "Succeed"}]}, "End": true}
    ])));
    assert_problem(
        &found,
        "/States/0/ItemReader/SourceType",
        "invalid value 'OSS_PARQUET'",
    );
    let fine = problems(flow(json!([
        {"Name": "S", "Type": "Map", "ProcessorConfig": {"ExecutionMode": "Standard"},
            "ItemReader": {"SourceType": "OSS_CSV", "SourceParameters": {"Bucket": "b", "ObjectName": "k"}},
            "Processor": {"StartAt": "I", "States": [{"Name": "I", "Type": "Succeed"}]}, "End": true}
    ])));
    assert!(fine.is_empty(), "{fine:?}");
}

#[test]
fn a_wait_longer_than_the_longest_delay_is_refused() {
    let found = problems(flow(json!([
        {"Name": "S", "Type": "Wait", "Seconds": 1_000_000_000_000_000_000_i64, "Next": "L"},
        {"Name": "L", "Type": "Wait", "Seconds": 99_999_999, "End": true}
    ])));
    assert_problem(
        &found,
        "/States/0/Seconds",
        "expected an integer from 0 to 99999999, found 1000000000000000000",
    );
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
fn per_type_rules() {
    let found = problems(flow(json!([
        {"Name": "S", "Type": "Task", "Action": "Invoke", "TaskMode": "Async", "Parameters": "x", "Next": "C"},
        {"Name": "C", "Type": "Choice", "Branches": [{"Next": "W"}, {"Condition": 5, "Next": "W"}], "Default": "W", "Next": "W"},
        {"Name": "W", "Type": "Wait", "Seconds": 3, "Seconds.$": "$Input.s", "Next": "M"},
        {"Name": "M", "Type": "Map", "MaxConcurrency": 1, "MaxConcuccency": 2, "ProcessorConfig": {"ExecutionMode": "Fast"},
            "Processor": {"StartAt": "I", "States": [{"Name": "I", "Type": "Succeed"}]},
            "ItemProcessor": {"StartAt": "J", "States": [{"Name": "J", "Type": "Succeed"}]}, "Next": "P"},
        {"Name": "P", "Type": "Parallel", "Branches": [], "Catch": [{"Errors": ["FnF.ALL"], "Next": "Nope"}], "Next": "F"},
        {"Name": "F", "Type": "Fail", "Code": 1}
    ])));
    assert_problem(
        &found,
        "/States/0/Action",
        "not of the form Service:Operation",
    );
    assert_problem(&found, "/States/0/TaskMode", "invalid value 'Async'");
    assert_problem(&found, "/States/0/Parameters", "expected an object");
    assert_problem(
        &found,
        "/States/1/Branches/0",
        "missing required field Condition",
    );
    assert_problem(
        &found,
        "/States/1/Branches/1/Condition",
        "expected a string",
    );
    assert_problem(&found, "/States/1/Next", "not allowed in a Choice state");
    assert_problem(&found, "/States/2/Seconds.$", "cannot be used together");
    assert_problem(&found, "/States/3", "missing required field ItemsPath");
    assert_problem(
        &found,
        "/States/3/MaxConcuccency",
        "cannot be used together",
    );
    assert_problem(
        &found,
        "/States/3/ProcessorConfig/ExecutionMode",
        "invalid value 'Fast'",
    );
    assert_problem(
        &found,
        "/States/3/ItemProcessor",
        "Processor and ItemProcessor cannot be used together",
    );
    assert_problem(&found, "/States/4/Branches", "must not be empty");
    assert_problem(&found, "/States/4/Catch/0/Next", "unknown state 'Nope'");
    assert_problem(&found, "/States/5", "missing required field Detail");
    assert_problem(&found, "/States/5/Code", "expected a string");
}

#[test]
fn typo_spelling_of_max_concurrency_is_accepted() {
    let found = problems(flow(json!([
        {"Name": "S", "Type": "Map", "ItemsPath": "$Input.xs", "MaxConcuccency": 4, "End": true,
            "ItemProcessor": {"StartAt": "I", "States": [{"Name": "I", "Type": "Succeed"}]}}
    ])));
    assert!(found.is_empty(), "{found:#?}");
}

/// Rejects FDL expressions containing "bad".
struct RejectBad;

impl ExpressionChecker for RejectBad {
    fn path(&self, _: &str, _: bool) -> Result<(), String> {
        Err("not expected in FDL".into())
    }
    fn intrinsic(&self, _: &str) -> Result<(), String> {
        Err("not expected in FDL".into())
    }
    fn jsonata(&self, _: &str) -> Result<(), String> {
        Err("not expected in FDL".into())
    }
    fn fdl(&self, text: &str) -> Result<(), String> {
        if text.contains("bad") {
            Err("unknown root".into())
        } else {
            Ok(())
        }
    }
}

#[test]
fn expressions_go_through_the_checker() {
    let definition = flow(json!([
        {"Name": "S", "Type": "Choice", "Branches": [{"Condition": "$bad > 1", "Next": "M"}], "Default": "M"},
        {"Name": "M", "Type": "Map", "ItemsPath": "$bad.items", "End": true,
            "InputConstructor": {"a.$": "$Input.a", "b": {"c.$": "$bad"}, "d.$": 5, "a": 1},
            "Processor": {"StartAt": "I", "States": [{"Name": "I", "Type": "Succeed", "OutputConstructor": {"x.$": "format('{}', $Input.x)"}}]}}
    ]));
    let doc = Document::from_value("f.yaml", definition).unwrap();
    let found: Vec<(String, String)> = validate(&doc, &RejectBad)
        .into_iter()
        .map(|d| (d.pointer, d.message))
        .collect();
    assert_problem(
        &found,
        "/States/0/Branches/0/Condition",
        "invalid expression '$bad > 1': unknown root",
    );
    assert_problem(&found, "/States/1/ItemsPath", "invalid expression");
    assert_problem(
        &found,
        "/States/1/InputConstructor/b/c.$",
        "invalid expression",
    );
    assert_problem(
        &found,
        "/States/1/InputConstructor/d.$",
        "expected an expression string",
    );
    assert_problem(
        &found,
        "/States/1/InputConstructor/a",
        "both define the field 'a'",
    );
    assert_eq!(found.len(), 5, "{found:#?}");
}
