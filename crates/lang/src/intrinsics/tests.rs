use serde_json::{Value, json};

use super::*;
use crate::jsonpath::{self, PathRoot};
use sluice_jsonata::Draws;

/// The context object the recorded corpus cases ran with.
fn context(input: &Value) -> Value {
    json!({
        "Execution": {"Name": "exec-1", "Input": input},
        "StateMachine": {
            "Id": "arn:aws:states:us-east-1:111111111111:stateMachine:statemachine_u0000001",
            "Name": "statemachine_u0000001"
        }
    })
}

/// Evaluates `expr` with `$` bound to `input`, `$$` to [`context`] and two variables.
fn eval(expr: &str, input: &Value) -> Result<Value, IntrinsicError> {
    let call = parse(expr)?;
    let ctx = context(input);
    let vars = json!({"greeting": "hi", "numbers": [1, 2, 3]});
    call.evaluate(
        &mut |text: &str| {
            let (root, path) =
                jsonpath::parse_rooted(text).map_err(|e| IntrinsicError::new(e.message))?;
            let doc = match root {
                PathRoot::Input => input,
                PathRoot::Context => &ctx,
                PathRoot::Variable(name) => vars
                    .get(&name)
                    .ok_or_else(|| IntrinsicError::new(format!("no variable {name}")))?,
            };
            path.query(doc).ok_or_else(|| {
                IntrinsicError::new(format!("The JSONPath '{text}' could not be found"))
            })
        },
        &Draws::new(None),
    )
}

fn ok(expr: &str, input: &Value) -> Value {
    eval(expr, input).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

fn lit(expr: &str) -> Value {
    ok(expr, &json!({}))
}

fn err(expr: &str, input: &Value) -> String {
    match eval(expr, input) {
        Ok(v) => panic!("{expr} should fail but gave {v}"),
        Err(e) => e.message,
    }
}

fn lit_err(expr: &str) -> String {
    err(expr, &json!({}))
}

/// `value` with the members of every object in key order.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

// ---- recorded AWS behaviour ---------------------------------------------------------------

#[test]
fn corpus_cases() {
    for (case, expr, input, expected) in CORPUS {
        let input: Value = serde_json::from_str(input).unwrap();
        let expected: Value = serde_json::from_str(expected).unwrap();
        let got = eval(expr, &input).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(got, expected, "{case}: {expr} on {input}");
        // Integers must stay integers: compare the JSON text too (member order aside).
        assert_eq!(
            sorted(&got).to_string(),
            sorted(&expected).to_string(),
            "{case}"
        );
    }
}

#[test]
fn corpus_nested_and_context_calls() {
    let input = json!({"FunctionInput": null});
    assert_eq!(
        ok(
            "States.Format('Formatting arguments fst={} and snd={}.', $$.Execution.Name, $$.StateMachine)",
            &input
        ),
        json!(
            "Formatting arguments fst=exec-1 and snd={Id=arn:aws:states:us-east-1:111111111111:stateMachine:statemachine_u0000001, Name=statemachine_u0000001}."
        )
    );
    assert_eq!(
        ok(
            "States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), 0)",
            &input
        ),
        json!("statemachine_u0000001")
    );
    assert_eq!(
        ok(
            "States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), States.MathAdd(States.ArrayLength(States.StringSplit($$.StateMachine.Name, '-')), -1))",
            &input
        ),
        json!("statemachine_u0000001")
    );
    let input = json!({"input_field": {"constant_input_field": "constant_value"}});
    assert_eq!(
        ok(
            r#"States.JsonMerge(States.StringToJson('{"constant_in_literal": "false"}'), $$.Execution.Input.input_field, false)"#,
            &input
        ),
        json!({"constant_input_field": "constant_value", "constant_in_literal": "false"})
    );
    let input = json!({"FunctionInput": "Value1,Value2,Value3\nValue4,Value5,Value6\n,,,\ntrue,1,'HelloWorld'\nNull,None,\n   \n"});
    assert_eq!(
        ok(
            "States.StringSplit($$.Execution.Input.FunctionInput, ',')",
            &input
        ),
        json!([
            "Value1",
            "Value2",
            "Value3\nValue4",
            "Value5",
            "Value6\n",
            "\ntrue",
            "1",
            "'HelloWorld'\nNull",
            "None",
            "\n   \n"
        ])
    );
}

#[test]
fn corpus_fail_state_and_loops() {
    let input = json!({"Error": "error string", "Cause": "cause string"});
    assert_eq!(
        ok("States.Format('{}', $.Error)", &input),
        json!("error string")
    );
    assert_eq!(
        ok(
            "States.Format('This is a custom error message for {}, caused by {}.', $.Error, $.Cause)",
            &input
        ),
        json!("This is a custom error message for error string, caused by cause string.")
    );
    assert_eq!(
        ok(
            "States.MathAdd($.Iterations, -1)",
            &json!({"Iterations": 3})
        ),
        json!(2)
    );
    assert_eq!(lit("States.ArrayRange(0, 3, 1)"), json!([0, 1, 2, 3]));
}

#[test]
fn corpus_assign_from_every_function() {
    let input = json!({
        "inputArray": [1, 2, 3, 4, 5, 6], "duplicateArray": [1, 2, 2, 3, 3, 4],
        "rawString": "Hello World", "encodedString": "SGVsbG8gV29ybGQ=",
        "inputString": "Hash this string", "json1": {"a": 1, "b": 2}, "json2": {"c": 3, "d": 4},
        "jsonString": "{\"key\":\"value\"}", "jsonObject": {"test": "object"},
        "value1": 5, "value2": 3, "csvString": "a,b,c,d,e", "name": "John", "place": "LocalStack"
    });
    for (expr, expected) in [
        ("States.Array('a', 'b', 'c')", json!(["a", "b", "c"])),
        (
            "States.ArrayPartition($.inputArray, 2)",
            json!([[1, 2], [3, 4], [5, 6]]),
        ),
        ("States.ArrayContains($.inputArray, 5)", json!(true)),
        ("States.ArrayRange(1, 10, 2)", json!([1, 3, 5, 7, 9])),
        ("States.ArrayGetItem($.inputArray, 2)", json!(3)),
        ("States.ArrayLength($.inputArray)", json!(6)),
        ("States.ArrayUnique($.duplicateArray)", json!([1, 2, 3, 4])),
        (
            "States.Base64Encode($.rawString)",
            json!("SGVsbG8gV29ybGQ="),
        ),
        ("States.Base64Decode($.encodedString)", json!("Hello World")),
        (
            "States.Hash($.inputString, 'SHA-256')",
            json!("1cac63f39fd68d8c531f27b807610fb3d50f0fc3f186995767fb6316e7200a3e"),
        ),
        (
            "States.JsonMerge($.json1, $.json2, false)",
            json!({"a": 1, "b": 2, "c": 3, "d": 4}),
        ),
        ("States.StringToJson($.jsonString)", json!({"key": "value"})),
        (
            "States.JsonToString($.jsonObject)",
            json!("{\"test\":\"object\"}"),
        ),
        ("States.MathAdd($.value1, $.value2)", json!(8)),
        (
            "States.StringSplit($.csvString, ',')",
            json!(["a", "b", "c", "d", "e"]),
        ),
        (
            "States.Format('Hello {}, welcome to {}!', $.name, $.place)",
            json!("Hello John, welcome to LocalStack!"),
        ),
    ] {
        assert_eq!(ok(expr, &input), expected, "{expr}");
    }
    let uuid = ok("States.UUID()", &input);
    assert!(uuid::Uuid::parse_str(uuid.as_str().unwrap()).is_ok());
}

// ---- parsing ------------------------------------------------------------------------------

#[test]
fn recognises_intrinsic_calls() {
    for s in [
        "States.Format('x')",
        "States.UUID()",
        "  States.Array()",
        "States.Nope(",
        "my_fn.v2(1)",
        "States.Array ()",
    ] {
        assert!(is_intrinsic(s), "{s}");
    }
    for s in [
        "$.x",
        "$$.x",
        "$var",
        "States.Format",
        "(x)",
        "",
        "States. Format()",
        "'States.UUID()'",
    ] {
        assert!(!is_intrinsic(s), "{s}");
    }
}

#[test]
fn parses_arguments_of_every_kind() {
    let call = parse(
        "States.Array('a', 1, -2, 1.5, 1e2, null, true, false, $.x, $$.y, $z, States.UUID())",
    )
    .unwrap();
    assert_eq!(call.function_name(), "States.Array");
    assert_eq!(call.path_arguments(), ["$.x", "$$.y", "$z"]);
    let call = parse("States.Format('{}', States.Array($.a[0], $['b c']), $.d[?(@.e == 'x, y')])")
        .unwrap();
    assert_eq!(
        call.path_arguments(),
        ["$.a[0]", "$['b c']", "$.d[?(@.e == 'x, y')]"]
    );
    assert_eq!(
        lit("States.Array(1, -2, 1.5, 1e2, null, true, false)").to_string(),
        "[1,-2,1.5,100.0,null,true,false]"
    );
}

#[test]
fn tolerates_whitespace() {
    assert_eq!(
        lit("  States.Array( 1 ,'a' ,  States.Array ( ) )  "),
        json!([1, "a", []])
    );
    assert_eq!(lit("States.Array(\n1,\t2\n)"), json!([1, 2]));
}

#[test]
fn rejects_bad_syntax() {
    for s in [
        "",
        "States.Nope()",
        "Format('x')",
        "States.format('x')",
        "States.Array(",
        "States.Array('a'",
        "States.Array('a' 'b')",
        "States.Array(,)",
        "States.Array(1,)",
        "States.UUID() x",
        "States.UUID()()",
        "States.Array(foo)",
        "States.Array(nul)",
        "States.Array(1.2.3)",
        "States.Array(--1)",
        "States.Format('abc)",
        "States.Format('abc\\",
        "States.Array($..)",
        "States.Array($.a b)",
        "States.Array($)x",
        "States.Array(\"double\")",
        "$.x",
    ] {
        assert!(parse(s).is_err(), "{s} should not parse");
    }
    let message = parse("States.Nope()").unwrap_err().message;
    assert!(
        message.contains("unknown function 'States.Nope'"),
        "{message}"
    );
}

#[test]
fn checks_argument_counts() {
    for s in [
        "States.UUID(1)",
        "States.Format()",
        "States.StringToJson()",
        "States.StringToJson('a', 'b')",
        "States.JsonToString($.a, $.b)",
        "States.ArrayPartition($.a)",
        "States.ArrayContains($.a)",
        "States.ArrayRange(1, 2)",
        "States.ArrayGetItem($.a)",
        "States.ArrayLength()",
        "States.ArrayUnique($.a, $.b)",
        "States.Base64Encode()",
        "States.Base64Decode('a', 'b')",
        "States.Hash('a')",
        "States.JsonMerge($.a, $.b)",
        "States.MathRandom(1)",
        "States.MathRandom(1, 2, 3, 4)",
        "States.MathAdd(1)",
        "States.StringSplit('a')",
    ] {
        assert!(parse(s).is_err(), "{s} should not parse");
    }
    assert_eq!(
        parse("States.MathAdd(1)").unwrap_err().message,
        "Invalid intrinsic function call 'States.MathAdd(1)': States.MathAdd takes 2 arguments, but 1 was given"
    );
    assert!(parse("States.Array()").is_ok());
    assert!(parse("States.MathRandom(1, 2)").is_ok());
    assert!(parse("States.MathRandom(1, 2, 3)").is_ok());
}

#[test]
fn json_to_string_needs_a_path_and_format_a_string_template() {
    assert!(parse("States.JsonToString('x')").is_err());
    assert!(parse("States.JsonToString(States.Array())").is_err());
    assert!(parse("States.JsonToString($.x)").is_ok());
    assert!(parse("States.Format(1)").is_err());
    assert!(parse("States.Format(null, 1)").is_err());
    assert!(parse("States.Format($.t, 1)").is_ok());
}

#[test]
fn nesting_is_limited() {
    let nest = |depth: usize| {
        let mut s = String::from("States.Array()");
        for _ in 1..depth {
            s = format!("States.Array({s})");
        }
        s
    };
    assert!(parse(&nest(MAX_NESTING)).is_ok());
    let message = parse(&nest(MAX_NESTING + 1)).unwrap_err().message;
    assert!(message.contains("nested at most 10 deep"), "{message}");
}

#[test]
fn path_errors_propagate() {
    let message = err("States.Array($.missing)", &json!({}));
    assert_eq!(message, "The JSONPath '$.missing' could not be found");
    let mut calls = 0;
    let result = parse("States.Array($.a, $.b)").unwrap().evaluate(
        &mut |_| {
            calls += 1;
            Err(IntrinsicError::new("stop"))
        },
        &Draws::new(None),
    );
    assert_eq!(result.unwrap_err().to_string(), "stop");
    assert_eq!(calls, 1);
}

#[test]
fn variables_resolve_through_the_caller() {
    assert_eq!(
        ok("States.Format('{} there', $greeting)", &json!({})),
        json!("hi there")
    );
    assert_eq!(ok("States.ArrayLength($numbers)", &json!({})), json!(3));
}

// ---- States.Format ------------------------------------------------------------------------

#[test]
fn format_inserts_values() {
    let input = json!({"s": "str", "i": 42, "f": 1.5, "b": true, "n": null,
        "a": [1, "x", [2]], "o": {"k": "v", "n": {"m": [1]}}});
    assert_eq!(
        ok(
            "States.Format('{} {} {} {} {}', $.s, $.i, $.f, $.b, $.n)",
            &input
        ),
        json!("str 42 1.5 true null")
    );
    assert_eq!(ok("States.Format('{}', $.a)", &input), json!("[1, x, [2]]"));
    assert_eq!(
        ok("States.Format('{}', $.o)", &input),
        json!("{k=v, n={m=[1]}}")
    );
    assert_eq!(
        lit("States.Format('no placeholders')"),
        json!("no placeholders")
    );
    assert_eq!(lit("States.Format('{}{}', 'a', 'b')"), json!("ab"));
    assert_eq!(
        lit("States.Format('héllo {} ✓', 'wörld')"),
        json!("héllo wörld ✓")
    );
    assert_eq!(
        lit("States.Format('n={}', States.MathAdd(1, 2))"),
        json!("n=3")
    );
}

#[test]
fn format_escapes() {
    assert_eq!(lit(r"States.Format('\{\}')"), json!("{}"));
    assert_eq!(lit(r"States.Format('\{}')"), json!("{}"));
    assert!(lit_err(r"States.Format('\{}', 1)").contains("0 placeholders"));
    assert_eq!(lit(r"States.Format('it\'s {}', 'me')"), json!("it's me"));
    assert_eq!(
        lit(r"States.Format('back\\slash {}', 1)"),
        json!("back\\slash 1")
    );
    assert_eq!(lit(r"States.Format('\\{}', 1)"), json!("\\1"));
    assert_eq!(lit("States.Format('{ } { x }')"), json!("{ } { x }"));
    assert_eq!(lit("States.Format('{{}}', 1)"), json!("{1}"));
}

#[test]
fn format_template_from_a_path_has_no_escapes() {
    let input = json!({"t": "Hello, my name is {}.", "raw": "a\\b {}", "name": "Arnav"});
    assert_eq!(
        ok("States.Format($.t, $.name)", &input),
        json!("Hello, my name is Arnav.")
    );
    assert_eq!(ok("States.Format($.raw, 1)", &input), json!("a\\b 1"));
}

#[test]
fn format_needs_one_value_per_placeholder() {
    let message = lit_err("States.Format('{} {}', 1)");
    assert_eq!(
        message,
        "Invalid arguments in States.Format: the template has 2 placeholders but 1 value was given"
    );
    assert!(lit_err("States.Format('{}', 1, 2)").contains("1 placeholder but 2 values were given"));
    assert!(lit_err("States.Format('x', 1)").contains("0 placeholders"));
    assert!(err("States.Format($.t)", &json!({"t": 5})).contains("must be a string"));
}

// ---- JSON functions -----------------------------------------------------------------------

#[test]
fn string_to_json() {
    assert_eq!(
        lit(r#"States.StringToJson('{"a": [1, 2.5, "x"]}')"#),
        json!({"a": [1, 2.5, "x"]})
    );
    assert_eq!(
        lit("States.StringToJson('[-0, -0.5]')").to_string(),
        "[0,-0.5]"
    );
    assert_eq!(lit("States.StringToJson('  ')"), Value::Null);
    assert_eq!(lit("States.StringToJson(' 7 ')"), json!(7));
    assert!(lit_err("States.StringToJson('{oops')").contains("not valid JSON"));
    assert!(lit_err("States.StringToJson('1 2')").contains("not valid JSON"));
    assert!(err("States.StringToJson($.a)", &json!({"a": {"b": 1}})).contains("must be a string"));
}

#[test]
fn json_to_string() {
    let input = json!({"s": "q\"uote", "u": "ü✓", "o": {"b": 1, "a": [true, null]}});
    assert_eq!(
        ok("States.JsonToString($.s)", &input),
        json!("\"q\\\"uote\"")
    );
    assert_eq!(ok("States.JsonToString($.u)", &input), json!("\"ü✓\""));
    assert_eq!(
        ok("States.JsonToString($.o)", &input),
        json!(r#"{"b":1,"a":[true,null]}"#)
    );
    assert_eq!(ok("States.JsonToString($)", &json!(1.5)), json!("1.5"));
}

#[test]
fn json_merge() {
    let input = json!({"a": {"x": {"deep": 1}, "y": 1}, "b": {"x": {"other": 2}, "z": 3}, "n": 1});
    assert_eq!(
        ok("States.JsonMerge($.a, $.b, false)", &input),
        json!({"x": {"other": 2}, "y": 1, "z": 3})
    );
    assert!(
        err("States.JsonMerge($.a, $.b, true)", &input).contains("deep merging is not supported")
    );
    assert!(
        err("States.JsonMerge($.a, $.n, false)", &input)
            .contains("second argument must be an object")
    );
    assert!(
        err("States.JsonMerge($.n, $.b, false)", &input)
            .contains("first argument must be an object")
    );
    assert!(
        err("States.JsonMerge($.a, $.b, 'false')", &input)
            .contains("third argument must be a boolean")
    );
    assert!(
        err("States.JsonMerge($.a, $.b, null)", &input)
            .contains("third argument must be a boolean")
    );
}

// ---- arrays -------------------------------------------------------------------------------

#[test]
fn array_partition() {
    assert_eq!(
        lit("States.ArrayPartition(States.Array(1, 2, 3, 4, 5), 2)"),
        json!([[1, 2], [3, 4], [5]])
    );
    assert_eq!(
        lit("States.ArrayPartition(States.Array(1, 2, 3), 1.5)"),
        json!([[1, 2], [3]])
    );
    assert_eq!(lit("States.ArrayPartition(States.Array(), 3)"), json!([]));
    assert!(
        lit_err("States.ArrayPartition(States.Array(1), 0)")
            .contains("chunk size must be positive")
    );
    assert!(
        lit_err("States.ArrayPartition(States.Array(1), -1)")
            .contains("chunk size must be positive")
    );
    assert!(
        lit_err("States.ArrayPartition(States.Array(1), 0.4)")
            .contains("chunk size must be positive")
    );
    assert!(lit_err("States.ArrayPartition('abc', 1)").contains("first argument must be an array"));
    assert!(
        lit_err("States.ArrayPartition(States.Array(1), '1')")
            .contains("second argument must be a number")
    );
}

#[test]
fn array_contains() {
    let input = json!({"a": [1, "x", {"k": [1, 2]}, null], "o": {"k": [1, 2]}});
    assert_eq!(ok("States.ArrayContains($.a, $.o)", &input), json!(true));
    assert_eq!(ok("States.ArrayContains($.a, 'x')", &input), json!(true));
    assert_eq!(ok("States.ArrayContains($.a, null)", &input), json!(true));
    assert_eq!(ok("States.ArrayContains($.a, 'y')", &input), json!(false));
    assert_eq!(ok("States.ArrayContains($.a, 1.0)", &input), json!(false));
    assert!(err("States.ArrayContains($.o, 1)", &input).contains("must be an array"));
}

#[test]
fn array_range() {
    assert_eq!(lit("States.ArrayRange(1, 9, 2)"), json!([1, 3, 5, 7, 9]));
    assert_eq!(lit("States.ArrayRange(9, 1, -3)"), json!([9, 6, 3]));
    assert_eq!(lit("States.ArrayRange(5, 1, 1)"), json!([]));
    assert_eq!(lit("States.ArrayRange(1, 5, -1)"), json!([]));
    assert_eq!(lit("States.ArrayRange(-2, 2, 2)"), json!([-2, 0, 2]));
    assert_eq!(lit("States.ArrayRange(0.5, 2.4, 1)"), json!([1, 2]));
    assert_eq!(
        lit("States.ArrayRange(1, 1000, 1)")
            .as_array()
            .map(Vec::len),
        Some(1000)
    );
    assert!(lit_err("States.ArrayRange(1, 1001, 1)").contains("more than the maximum of 1000"));
    assert!(lit_err("States.ArrayRange(1, 5, 0)").contains("step must not be 0"));
    assert!(lit_err("States.ArrayRange(1, 5, 0.4)").contains("step must not be 0"));
    assert!(lit_err("States.ArrayRange('1', 5, 1)").contains("first argument must be a number"));
    assert!(
        lit_err("States.ArrayRange(-9223372036854775808, 9223372036854775807, 1)")
            .contains("more than")
    );
}

#[test]
fn array_get_item() {
    let input = json!({"a": ["x", "y", "z"]});
    assert_eq!(ok("States.ArrayGetItem($.a, 0)", &input), json!("x"));
    assert_eq!(ok("States.ArrayGetItem($.a, 2)", &input), json!("z"));
    assert_eq!(ok("States.ArrayGetItem($.a, 1.4)", &input), json!("y"));
    assert_eq!(
        err("States.ArrayGetItem($.a, 3)", &input),
        "Invalid arguments in States.ArrayGetItem: the index 3 is out of bounds for an array of length 3"
    );
    assert!(err("States.ArrayGetItem($.a, -1)", &input).contains("out of bounds"));
    assert!(err("States.ArrayGetItem($.a, '0')", &input).contains("must be a number"));
    assert!(err("States.ArrayGetItem('xyz', 0)", &input).contains("must be an array"));
}

#[test]
fn array_length_and_unique() {
    assert_eq!(lit("States.ArrayLength(States.Array())"), json!(0));
    assert!(
        lit_err("States.ArrayLength('abc')")
            .contains("first argument must be an array, but it is a string")
    );
    let input =
        json!({"a": [1, 1.0, 1, "1", {"x": 1, "y": 2}, {"y": 2, "x": 1}, [1], [1], null, null, 2]});
    assert_eq!(
        ok("States.ArrayUnique($.a)", &input),
        json!([1, 1.0, "1", {"x": 1, "y": 2}, [1], null, 2])
    );
    assert!(err("States.ArrayUnique($.a[0])", &input).contains("must be an array"));
}

// ---- encoding, hashing --------------------------------------------------------------------

#[test]
fn base64() {
    assert_eq!(
        lit("States.Base64Encode('héllo wörld ✓')"),
        json!("aMOpbGxvIHfDtnJsZCDinJM=")
    );
    assert_eq!(
        lit("States.Base64Decode('aMOpbGxvIHfDtnJsZCDinJM=')"),
        json!("héllo wörld ✓")
    );
    assert_eq!(lit("States.Base64Decode('SGVsbG8')"), json!("Hello"));
    assert_eq!(lit("States.Base64Decode('SGVs\nbG8=')"), json!("Hello"));
    assert_eq!(lit("States.Base64Decode('')"), json!(""));
    assert_eq!(lit("States.Base64Decode('/w==')"), json!("\u{fffd}"));
    assert!(lit_err("States.Base64Decode('@@@')").contains("not valid Base64"));
    assert!(lit_err("States.Base64Encode(1)").contains("must be a string"));
    let input =
        json!({"ok": "a".repeat(10_000), "long": "a".repeat(10_001), "wide": "é".repeat(10_000)});
    assert!(eval("States.Base64Encode($.ok)", &input).is_ok());
    assert!(eval("States.Base64Encode($.wide)", &input).is_ok());
    assert!(err("States.Base64Encode($.long)", &input).contains("maximum length of 10000"));
    assert!(err("States.Base64Decode($.long)", &input).contains("maximum length of 10000"));
}

#[test]
fn hashes() {
    for (algorithm, digest) in [
        ("MD5", "812f45842bc6d66ee14572ce20db8e86"),
        ("SHA-1", "aaff4a450a104cd177d28d18d74485e8cae074b7"),
        (
            "SHA-256",
            "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3",
        ),
        (
            "SHA-384",
            "d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562",
        ),
        (
            "SHA-512",
            "6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4",
        ),
    ] {
        assert_eq!(
            lit(&format!("States.Hash('input data', '{algorithm}')")),
            json!(digest),
            "{algorithm}"
        );
    }
    assert_eq!(
        lit("States.Hash('', 'MD5')"),
        json!("d41d8cd98f00b204e9800998ecf8427e")
    );
    assert_eq!(
        ok("States.Hash($.o, 'SHA-256')", &json!({"o": {"a": 1}})),
        json!("015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862")
    );
    assert!(lit_err("States.Hash('x', 'sha-256')").contains("'sha-256' is not supported"));
    assert!(lit_err("States.Hash('x', 'SHA-3')").contains("not supported"));
    assert!(lit_err("States.Hash('x', 1)").contains("second argument must be a string"));
    let long = json!({"s": "a".repeat(10_001)});
    assert!(err("States.Hash($.s, 'MD5')", &long).contains("maximum length"));
}

// ---- math ---------------------------------------------------------------------------------

#[test]
fn math_add() {
    assert_eq!(lit("States.MathAdd(111, -1)"), json!(110));
    assert_eq!(
        lit("States.MathAdd(2147483647, 1)"),
        json!(2_147_483_648_i64)
    );
    assert_eq!(
        lit("States.MathAdd(-2147483648, 0)"),
        json!(-2_147_483_648_i64)
    );
    assert!(lit_err("States.MathAdd(2147483648, 0)").contains("32-bit integer"));
    assert!(lit_err("States.MathAdd(0, -2147483649)").contains("32-bit integer"));
    assert!(lit_err("States.MathAdd('1', 2)").contains("first argument must be a number"));
    assert!(
        lit_err("States.MathAdd(1, null)")
            .contains("second argument must be a number, but it is null")
    );
    assert_eq!(lit("States.MathAdd(1.5, 0)").to_string(), "2");
}

#[test]
fn math_random() {
    for _ in 0..200 {
        let n = lit("States.MathRandom(1, 4)").as_i64().unwrap();
        assert!((1..4).contains(&n), "{n}");
    }
    for _ in 0..50 {
        let n = lit("States.MathRandom(12.5, 44.51)").as_i64().unwrap();
        assert!((13..45).contains(&n), "{n}");
    }
    // A seed gives java.util.Random's value: new Random(3).nextInt(999) == 239.
    assert_eq!(lit("States.MathRandom(0, 999, 3)"), json!(239));
    assert_eq!(lit("States.MathRandom(1000, 1999, 3)"), json!(1239));
    assert_eq!(
        lit("States.MathRandom(-5, 5, 7)"),
        lit("States.MathRandom(-5, 5, 7)")
    );
    assert!(lit_err("States.MathRandom(4, 4)").contains("must be less than"));
    assert!(lit_err("States.MathRandom(5, 1)").contains("must be less than"));
    assert!(lit_err("States.MathRandom(-2147483648, 2147483647)").contains("too large"));
    assert!(lit_err("States.MathRandom(0, 1, 'seed')").contains("third argument must be a number"));
}

// ---- strings ------------------------------------------------------------------------------

#[test]
fn string_split() {
    assert_eq!(
        lit("States.StringSplit('a,b;c', ',;')"),
        json!(["a", "b", "c"])
    );
    assert_eq!(lit("States.StringSplit('a--b', '-')"), json!(["a", "b"]));
    assert_eq!(lit("States.StringSplit('abc', '')"), json!(["abc"]));
    assert_eq!(lit("States.StringSplit('', ',')"), json!([]));
    assert_eq!(lit("States.StringSplit('a✓b✓', '✓')"), json!(["a", "b"]));
    assert!(lit_err("States.StringSplit(1, ',')").contains("first argument must be a string"));
    assert!(lit_err("States.StringSplit('a', 1)").contains("second argument must be a string"));
}

#[test]
fn uuids_are_random_v4() {
    let a = lit("States.UUID()");
    let b = lit("States.UUID()");
    assert_ne!(a, b);
    let parsed = uuid::Uuid::parse_str(a.as_str().unwrap()).unwrap();
    assert_eq!(parsed.get_version_num(), 4);
    assert_eq!(a.as_str().unwrap(), a.as_str().unwrap().to_lowercase());
}

#[test]
fn string_matches_is_exported() {
    assert_eq!(string_matches("log-1.txt", "log-*.txt"), Ok(true));
    assert!(string_matches("x", "x\\").is_err());
}

/// Recorded AWS results: (corpus case, expression, execution input, expected result).
const CORPUS: &[(&str, &str, &str, &str)] = &[
    (
        r#"TestArray_test_array_0"#,
        r#"States.Array()"#,
        r#"{"FunctionInput": "HelloWorld"}"#,
        r#"[]"#,
    ),
    (
        r#"TestArray_test_array_2#2"#,
        r#"States.Array($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": "HelloWorld", "snd": "HelloWorld"}}"#,
        r#"["HelloWorld", "HelloWorld"]"#,
    ),
    (
        r#"TestArray_test_array_2#3"#,
        r#"States.Array($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": null, "snd": null}}"#,
        r#"[null, null]"#,
    ),
    (
        r#"TestArray_test_array_2#5"#,
        r#"States.Array($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": 1.1, "snd": 1.1}}"#,
        r#"[1.1, 1.1]"#,
    ),
    (
        r#"TestArray_test_array_2#6"#,
        r#"States.Array($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": "{\"Arg1\": 1, \"Arg2\": []}", "snd": "{\"Arg1\": 1, \"Arg2\": []}"}}"#,
        r#"["{\"Arg1\": 1, \"Arg2\": []}", "{\"Arg1\": 1, \"Arg2\": []}"]"#,
    ),
    (
        r#"TestArray_test_array_contains#0"#,
        r#"States.ArrayContains($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [], "snd": null}}"#,
        r#"false"#,
    ),
    (
        r#"TestArray_test_array_contains#1"#,
        r#"States.ArrayContains($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [], "snd": []}}"#,
        r#"false"#,
    ),
    (
        r#"TestArray_test_array_contains#2"#,
        r#"States.ArrayContains($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [], "snd": 1}}"#,
        r#"false"#,
    ),
    (
        r#"TestArray_test_array_contains#3"#,
        r#"States.ArrayContains($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [[1, 2, 3], 2], "snd": null}}"#,
        r#"false"#,
    ),
    (
        r#"TestArray_test_array_contains#4"#,
        r#"States.ArrayContains($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [[1, 2, 3], 2], "snd": [1, 2, 3]}}"#,
        r#"true"#,
    ),
    (
        r#"TestArray_test_array_contains#5"#,
        r#"States.ArrayContains($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [{"1": 2, "2": []}], "snd": []}}"#,
        r#"false"#,
    ),
    (
        r#"TestArray_test_array_contains#7"#,
        r#"States.ArrayContains($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [true, false], "snd": true}}"#,
        r#"true"#,
    ),
    (
        r#"TestArray_test_array_contains#8"#,
        r#"States.ArrayContains($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [true, false], "snd": false}}"#,
        r#"true"#,
    ),
    (
        r#"TestArray_test_array_length"#,
        r#"States.ArrayLength($.FunctionInput)"#,
        r#"{"FunctionInput": [1, 2, 3, 4, 5, 6, 7, 8, 9]}"#,
        r#"9"#,
    ),
    (
        r#"TestArray_test_array_partition#0"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [], "snd": 1}}"#,
        r#"[]"#,
    ),
    (
        r#"TestArray_test_array_partition#12"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [0, 1], "snd": 3}}"#,
        r#"[[0, 1]]"#,
    ),
    (
        r#"TestArray_test_array_partition#14"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [0, 1], "snd": 5}}"#,
        r#"[[0, 1]]"#,
    ),
    (
        r#"TestArray_test_array_partition#15"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [0, 1, 2], "snd": 1}}"#,
        r#"[[0], [1], [2]]"#,
    ),
    (
        r#"TestArray_test_array_partition#16"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [0, 1, 2], "snd": 2}}"#,
        r#"[[0, 1], [2]]"#,
    ),
    (
        r#"TestArray_test_array_partition#17"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [0, 1, 2], "snd": 3}}"#,
        r#"[[0, 1, 2]]"#,
    ),
    (
        r#"TestArray_test_array_partition#19"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [0, 1, 2], "snd": 5}}"#,
        r#"[[0, 1, 2]]"#,
    ),
    (
        r#"TestArray_test_array_partition#1"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [], "snd": 2}}"#,
        r#"[]"#,
    ),
    (
        r#"TestArray_test_array_partition#20"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [0, 1, 2, 3], "snd": 1}}"#,
        r#"[[0], [1], [2], [3]]"#,
    ),
    (
        r#"TestArray_test_array_partition#21"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [0, 1, 2, 3], "snd": 2}}"#,
        r#"[[0, 1], [2, 3]]"#,
    ),
    (
        r#"TestArray_test_array_partition#22"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [0, 1, 2, 3], "snd": 3}}"#,
        r#"[[0, 1, 2], [3]]"#,
    ),
    (
        r#"TestArray_test_array_partition#23"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [0, 1, 2, 3], "snd": 4}}"#,
        r#"[[0, 1, 2, 3]]"#,
    ),
    (
        r#"TestArray_test_array_partition#24"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [0, 1, 2, 3], "snd": 5}}"#,
        r#"[[0, 1, 2, 3]]"#,
    ),
    (
        r#"TestArray_test_array_partition#2"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [], "snd": 3}}"#,
        r#"[]"#,
    ),
    (
        r#"TestArray_test_array_partition#3"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [], "snd": 4}}"#,
        r#"[]"#,
    ),
    (
        r#"TestArray_test_array_partition#4"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [], "snd": 5}}"#,
        r#"[]"#,
    ),
    (
        r#"TestArray_test_array_partition#5"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [0], "snd": 1}}"#,
        r#"[[0]]"#,
    ),
    (
        r#"TestArray_test_array_partition#7"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [0], "snd": 3}}"#,
        r#"[[0]]"#,
    ),
    (
        r#"TestArray_test_array_partition#8"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [0], "snd": 4}}"#,
        r#"[[0]]"#,
    ),
    (
        r#"TestArray_test_array_partition#9"#,
        r#"States.ArrayPartition($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": [0], "snd": 5}}"#,
        r#"[[0]]"#,
    ),
    (
        r#"TestArray_test_array_range#0"#,
        r#"States.ArrayRange($.FunctionInput.fst, $.FunctionInput.snd, $.FunctionInput.trd)"#,
        r#"{"FunctionInput": {"fst": 0, "snd": 9, "trd": 3}}"#,
        r#"[0, 3, 6, 9]"#,
    ),
    (
        r#"TestArray_test_array_range#1"#,
        r#"States.ArrayRange($.FunctionInput.fst, $.FunctionInput.snd, $.FunctionInput.trd)"#,
        r#"{"FunctionInput": {"fst": 0, "snd": 10, "trd": 3}}"#,
        r#"[0, 3, 6, 9]"#,
    ),
    (
        r#"TestArray_test_array_range#2"#,
        r#"States.ArrayRange($.FunctionInput.fst, $.FunctionInput.snd, $.FunctionInput.trd)"#,
        r#"{"FunctionInput": {"fst": 1, "snd": 9, "trd": 9}}"#,
        r#"[1]"#,
    ),
    (
        r#"TestArray_test_array_range#3"#,
        r#"States.ArrayRange($.FunctionInput.fst, $.FunctionInput.snd, $.FunctionInput.trd)"#,
        r#"{"FunctionInput": {"fst": 1, "snd": 9, "trd": 2}}"#,
        r#"[1, 3, 5, 7, 9]"#,
    ),
    (
        r#"TestArray_test_array_unique"#,
        r#"States.ArrayLength($.FunctionInput)"#,
        r#"{"FunctionInput": [null, null, true, true, false, false, 1, 1, 1.1, 0, 0, "HelloWorld", "HelloWorld", [], [], [null], [null], {"a": 1, "b": 2}, {"a": 1, "b": 2}, {"a": 1, "b": 1}]}"#,
        r#"20"#,
    ),
    (
        r#"TestEncodeDecode_test_base_64_decode#1"#,
        r#"States.Base64Decode($.FunctionInput)"#,
        r#"{"FunctionInput": "RGF0YSB0byBlbmNvZGU="}"#,
        r#""Data to encode""#,
    ),
    (
        r#"TestEncodeDecode_test_base_64_encode#0"#,
        r#"States.Base64Encode($.FunctionInput)"#,
        r#"{"FunctionInput": ""}"#,
        r#""""#,
    ),
    (
        r#"TestEncodeDecode_test_base_64_encode#1"#,
        r#"States.Base64Encode($.FunctionInput)"#,
        r#"{"FunctionInput": "Data to encode"}"#,
        r#""RGF0YSB0byBlbmNvZGU=""#,
    ),
    (
        r#"TestGeneric_test_context_json_path"#,
        r#"States.Format('Formatting arguments fst={} and snd={}.', $$.Execution.Name, $$.StateMachine)"#,
        r#"{"FunctionInput": null}"#,
        r#""Formatting arguments fst=exec-1 and snd={Id=arn:aws:states:us-east-1:111111111111:stateMachine:statemachine_u0000001, Name=statemachine_u0000001}.""#,
    ),
    (
        r#"TestGeneric_test_escape_sequence"#,
        "States.StringSplit('Hello\nWorld', '\n')",
        r#"{"FunctionInput": null}"#,
        r#"["Hello", "World"]"#,
    ),
    (
        r#"TestGeneric_test_format_1#0"#,
        r#"States.Format('Formatting argument {}.', $.FunctionInput)"#,
        r#"{"FunctionInput": ""}"#,
        r#""Formatting argument .""#,
    ),
    (
        r#"TestGeneric_test_format_1#1"#,
        r#"States.Format('Formatting argument {}.', $.FunctionInput)"#,
        r#"{"FunctionInput": " "}"#,
        r#""Formatting argument  .""#,
    ),
    (
        r#"TestGeneric_test_format_1#3"#,
        r#"States.Format('Formatting argument {}.', $.FunctionInput)"#,
        r#"{"FunctionInput": null}"#,
        r#""Formatting argument null.""#,
    ),
    (
        r#"TestGeneric_test_format_1#4"#,
        r#"States.Format('Formatting argument {}.', $.FunctionInput)"#,
        r#"{"FunctionInput": 1}"#,
        r#""Formatting argument 1.""#,
    ),
    (
        r#"TestGeneric_test_format_1#5"#,
        r#"States.Format('Formatting argument {}.', $.FunctionInput)"#,
        r#"{"FunctionInput": 1.1}"#,
        r#""Formatting argument 1.1.""#,
    ),
    (
        r#"TestGeneric_test_format_1#6"#,
        r#"States.Format('Formatting argument {}.', $.FunctionInput)"#,
        r#"{"FunctionInput": "{\"Arg1\": 1, \"Arg2\": []}"}"#,
        r#""Formatting argument {\"Arg1\": 1, \"Arg2\": []}.""#,
    ),
    (
        r#"TestGeneric_test_format_2#0"#,
        r#"States.Format('Formatting arguments fst={} and snd={}.', $.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": "", "snd": ""}}"#,
        r#""Formatting arguments fst= and snd=.""#,
    ),
    (
        r#"TestGeneric_test_format_2#2"#,
        r#"States.Format('Formatting arguments fst={} and snd={}.', $.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": "HelloWorld", "snd": "HelloWorld"}}"#,
        r#""Formatting arguments fst=HelloWorld and snd=HelloWorld.""#,
    ),
    (
        r#"TestGeneric_test_format_2#3"#,
        r#"States.Format('Formatting arguments fst={} and snd={}.', $.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": null, "snd": null}}"#,
        r#""Formatting arguments fst=null and snd=null.""#,
    ),
    (
        r#"TestGeneric_test_format_2#4"#,
        r#"States.Format('Formatting arguments fst={} and snd={}.', $.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": 1, "snd": 1}}"#,
        r#""Formatting arguments fst=1 and snd=1.""#,
    ),
    (
        r#"TestGeneric_test_format_2#5"#,
        r#"States.Format('Formatting arguments fst={} and snd={}.', $.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": 1.1, "snd": 1.1}}"#,
        r#""Formatting arguments fst=1.1 and snd=1.1.""#,
    ),
    (
        r#"TestGeneric_test_format_2#6"#,
        r#"States.Format('Formatting arguments fst={} and snd={}.', $.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": "{\"Arg1\": 1, \"Arg2\": []}", "snd": "{\"Arg1\": 1, \"Arg2\": []}"}}"#,
        r#""Formatting arguments fst={\"Arg1\": 1, \"Arg2\": []} and snd={\"Arg1\": 1, \"Arg2\": []}.""#,
    ),
    (
        r#"TestGeneric_test_nested_calls_1"#,
        r#"States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), 0)"#,
        r#"{"FunctionInput": null}"#,
        r#""statemachine_u0000001""#,
    ),
    (
        r#"TestGeneric_test_nested_calls_2"#,
        r#"States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), States.MathAdd(States.ArrayLength(States.StringSplit($$.StateMachine.Name, '-')), -1))"#,
        r#"{"FunctionInput": null}"#,
        r#""statemachine_u0000001""#,
    ),
    (
        r#"TestHashCalculations_test_hash#1"#,
        r#"States.Hash($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": "input data", "snd": "SHA-1"}}"#,
        r#""aaff4a450a104cd177d28d18d74485e8cae074b7""#,
    ),
    (
        r#"TestHashCalculations_test_hash#2"#,
        r#"States.Hash($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": "input data", "snd": "SHA-256"}}"#,
        r#""b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3""#,
    ),
    (
        r#"TestHashCalculations_test_hash#3"#,
        r#"States.Hash($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": "input data", "snd": "SHA-384"}}"#,
        r#""d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562""#,
    ),
    (
        r#"TestHashCalculations_test_hash#4"#,
        r#"States.Hash($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": "input data", "snd": "SHA-512"}}"#,
        r#""6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4""#,
    ),
    (
        r#"TestJsonManipulation_test_json_merge"#,
        r#"States.JsonMerge($.FunctionInput.fst, $.FunctionInput.snd, false)"#,
        r#"{"FunctionInput": {"fst": {"a": {"a1": 1, "a2": 2}, "b": 2, "d": 3}, "snd": {"a": {"a3": 1, "a4": 2}, "c": 3, "d": 4}}}"#,
        r#"{"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3, "d": 4}"#,
    ),
    (
        r#"TestJsonManipulation_test_json_to_string#0"#,
        r#"States.JsonToString($.FunctionInput)"#,
        r#"{"FunctionInput": null}"#,
        r#""null""#,
    ),
    (
        r#"TestJsonManipulation_test_json_to_string#1"#,
        r#"States.JsonToString($.FunctionInput)"#,
        r#"{"FunctionInput": 0}"#,
        r#""0""#,
    ),
    (
        r#"TestJsonManipulation_test_json_to_string#2"#,
        r#"States.JsonToString($.FunctionInput)"#,
        r#"{"FunctionInput": 1}"#,
        r#""1""#,
    ),
    (
        r#"TestJsonManipulation_test_json_to_string#4"#,
        r#"States.JsonToString($.FunctionInput)"#,
        r#"{"FunctionInput": true}"#,
        r#""true""#,
    ),
    (
        r#"TestJsonManipulation_test_json_to_string#6"#,
        r#"States.JsonToString($.FunctionInput)"#,
        r#"{"FunctionInput": [1, 2, "HelloWorld"]}"#,
        r#""[1,2,\"HelloWorld\"]""#,
    ),
    (
        r#"TestJsonManipulation_test_json_to_string#7"#,
        r#"States.JsonToString($.FunctionInput)"#,
        r#"{"FunctionInput": {"Arg1": 1, "Arg2": []}}"#,
        r#""{\"Arg1\":1,\"Arg2\":[]}""#,
    ),
    (
        r#"TestJsonManipulation_test_string_to_json#0"#,
        r#"States.StringToJson($.FunctionInput)"#,
        r#"{"FunctionInput": ""}"#,
        r#"null"#,
    ),
    (
        r#"TestJsonManipulation_test_string_to_json#1"#,
        r#"States.StringToJson($.FunctionInput)"#,
        r#"{"FunctionInput": " "}"#,
        r#"null"#,
    ),
    (
        r#"TestJsonManipulation_test_string_to_json#2"#,
        r#"States.StringToJson($.FunctionInput)"#,
        r#"{"FunctionInput": "null"}"#,
        r#"null"#,
    ),
    (
        r#"TestJsonManipulation_test_string_to_json#3"#,
        r#"States.StringToJson($.FunctionInput)"#,
        r#"{"FunctionInput": "-0"}"#,
        r#"0"#,
    ),
    (
        r#"TestJsonManipulation_test_string_to_json#4"#,
        r#"States.StringToJson($.FunctionInput)"#,
        r#"{"FunctionInput": "1"}"#,
        r#"1"#,
    ),
    (
        r#"TestJsonManipulation_test_string_to_json#5"#,
        r#"States.StringToJson($.FunctionInput)"#,
        r#"{"FunctionInput": "1.1"}"#,
        r#"1.1"#,
    ),
    (
        r#"TestJsonManipulation_test_string_to_json#6"#,
        r#"States.StringToJson($.FunctionInput)"#,
        r#"{"FunctionInput": "true"}"#,
        r#"true"#,
    ),
    (
        r#"TestJsonManipulation_test_string_to_json#7"#,
        r#"States.StringToJson($.FunctionInput)"#,
        r#"{"FunctionInput": "\"HelloWorld\""}"#,
        r#""HelloWorld""#,
    ),
    (
        r#"TestJsonManipulation_test_string_to_json#8"#,
        r#"States.StringToJson($.FunctionInput)"#,
        r#"{"FunctionInput": "[1, 2, \"HelloWorld\"]"}"#,
        r#"[1, 2, "HelloWorld"]"#,
    ),
    (
        r#"TestJsonManipulation_test_string_to_json#9"#,
        r#"States.StringToJson($.FunctionInput)"#,
        r#"{"FunctionInput": "{\"Arg1\": 1, \"Arg2\": []}"}"#,
        r#"{"Arg1": 1, "Arg2": []}"#,
    ),
    (
        r#"TestMathOperations_test_math_add#0"#,
        r#"States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": -9, "snd": 3}}"#,
        r#"-6"#,
    ),
    (
        r#"TestMathOperations_test_math_add#10"#,
        r#"States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": -1.5, "snd": 0}}"#,
        r#"-1"#,
    ),
    (
        r#"TestMathOperations_test_math_add#11"#,
        r#"States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": -1.51, "snd": 0}}"#,
        r#"-2"#,
    ),
    (
        r#"TestMathOperations_test_math_add#13"#,
        r#"States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": 1.5, "snd": 0}}"#,
        r#"2"#,
    ),
    (
        r#"TestMathOperations_test_math_add#14"#,
        r#"States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": 2.5, "snd": 0}}"#,
        r#"3"#,
    ),
    (
        r#"TestMathOperations_test_math_add#16"#,
        r#"States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": -0.5, "snd": 0.5}}"#,
        r#"1"#,
    ),
    (
        r#"TestMathOperations_test_math_add#17"#,
        r#"States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": -0.5, "snd": 0}}"#,
        r#"0"#,
    ),
    (
        r#"TestMathOperations_test_math_add#19"#,
        r#"States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": -2.5, "snd": 0}}"#,
        r#"-2"#,
    ),
    (
        r#"TestMathOperations_test_math_add#1"#,
        r#"States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": 1.49, "snd": 1.5}}"#,
        r#"3"#,
    ),
    (
        r#"TestMathOperations_test_math_add#3"#,
        r#"States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": -1.49, "snd": -1.5}}"#,
        r#"-2"#,
    ),
    (
        r#"TestMathOperations_test_math_add#4"#,
        r#"States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": -1.5, "snd": -1.51}}"#,
        r#"-3"#,
    ),
    (
        r#"TestMathOperations_test_math_add#5"#,
        r#"States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": 1.49, "snd": 0}}"#,
        r#"1"#,
    ),
    (
        r#"TestMathOperations_test_math_add#6"#,
        r#"States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": 1.49, "snd": -1.49}}"#,
        r#"0"#,
    ),
    (
        r#"TestMathOperations_test_math_add#8"#,
        r#"States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": 1.51, "snd": 0}}"#,
        r#"2"#,
    ),
    (
        r#"TestMathOperations_test_math_add#9"#,
        r#"States.MathAdd($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": -1.49, "snd": 0}}"#,
        r#"-1"#,
    ),
    (
        r#"TestStringOperations_test_string_split#0"#,
        r#"States.StringSplit($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": " ", "snd": ","}}"#,
        r#"[" "]"#,
    ),
    (
        r#"TestStringOperations_test_string_split#2"#,
        r#"States.StringSplit($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": ", , ,", "snd": ","}}"#,
        r#"[" ", " "]"#,
    ),
    (
        r#"TestStringOperations_test_string_split#3"#,
        r#"States.StringSplit($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": ",,,,", "snd": ","}}"#,
        r#"[]"#,
    ),
    (
        r#"TestStringOperations_test_string_split#5"#,
        r#"States.StringSplit($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": "This.is+a,test=string", "snd": ".+,="}}"#,
        r#"["This", "is", "a", "test", "string"]"#,
    ),
    (
        r#"TestStringOperations_test_string_split#6"#,
        r#"States.StringSplit($.FunctionInput.fst, $.FunctionInput.snd)"#,
        r#"{"FunctionInput": {"fst": "split on T and \nnew line", "snd": "T\n"}}"#,
        r#"["split on ", " and ", "new line"]"#,
    ),
    (
        r#"TestStringOperations_test_string_split_context_object"#,
        r#"States.StringSplit($$.Execution.Input.FunctionInput, ',')"#,
        r#"{"FunctionInput": "Value1,Value2,Value3\nValue4,Value5,Value6\n,,,\ntrue,1,'HelloWorld'\nNull,None,\n   \n"}"#,
        r#"["Value1", "Value2", "Value3\nValue4", "Value5", "Value6\n", "\ntrue", "1", "'HelloWorld'\nNull", "None", "\n   \n"]"#,
    ),
];

#[test]
fn uuid_and_math_random_draw_from_the_draws_given() {
    let call = |expr: &str, seed: u64| {
        parse(expr)
            .unwrap()
            .evaluate(&mut |_| Ok(json!(null)), &Draws::new(Some(seed)))
            .unwrap()
    };
    for expr in ["States.UUID()", "States.MathRandom(1, 1000000)"] {
        assert_eq!(
            call(expr, 7),
            call(expr, 7),
            "{expr}: same seed, same value"
        );
        assert_ne!(
            call(expr, 7),
            call(expr, 8),
            "{expr}: another seed, another value"
        );
    }
    let uuid = call("States.UUID()", 7);
    let text = uuid.as_str().unwrap();
    assert_eq!(text.len(), 36);
    assert_eq!(&text[14..15], "4", "a version 4 UUID: {text}");
    let n = call("States.MathRandom(5, 6)", 3);
    assert_eq!(n, json!(5));
}
