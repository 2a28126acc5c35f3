//! Helpers shared by the test modules.

use serde_json::{Map, Value, json};
use sluice_jsonata::{Error, Expression, Syntax};

/// Evaluates `src` against `input` with no variables.
pub fn eval_with(src: &str, input: Option<&Value>) -> Result<Option<Value>, Error> {
    Expression::parse(src)?.evaluate(input, &Map::new())
}

/// Evaluates `src` against `input` and returns the result (panics on error).
pub fn ev(src: &str, input: &Value) -> Option<Value> {
    match eval_with(src, Some(input)) {
        Ok(v) => v,
        Err(e) => panic!("{src}: unexpected error {e}"),
    }
}

/// Evaluates `src` without input.
pub fn ev0(src: &str) -> Option<Value> {
    match eval_with(src, None) {
        Ok(v) => v,
        Err(e) => panic!("{src}: unexpected error {e}"),
    }
}

/// Asserts that `src` evaluates to `expected` against `input`.
#[track_caller]
pub fn check(src: &str, input: &Value, expected: Value) {
    assert_eq!(ev(src, input), Some(expected), "expression: {src}");
}

/// Asserts that `src` evaluates to `expected` without input.
#[track_caller]
pub fn check0(src: &str, expected: Value) {
    assert_eq!(ev0(src), Some(expected), "expression: {src}");
}

/// Asserts that `src` evaluates to undefined against `input`.
#[track_caller]
pub fn undefined(src: &str, input: &Value) {
    assert_eq!(ev(src, input), None, "expression: {src}");
}

/// The error `src` fails with (parse or evaluation).
#[track_caller]
pub fn error(src: &str, input: Option<&Value>) -> Error {
    match eval_with(src, input) {
        Ok(v) => panic!("{src}: expected an error, got {v:?}"),
        Err(e) => e,
    }
}

/// Asserts that `src` fails with `code`.
#[track_caller]
pub fn check_error(src: &str, input: Option<&Value>, code: &str) {
    let e = error(src, input);
    assert_eq!(e.code, code, "expression: {src}: {e}");
}

/// Evaluates an FDL expression with variables.
pub fn fdl(src: &str, vars: &Map<String, Value>) -> Result<Option<Value>, Error> {
    Expression::parse_with(src, Syntax::Fdl)?.evaluate(None, vars)
}

/// A sample document in the style of the JSONata documentation.
pub fn invoice() -> Value {
    json!({
        "Account": {
            "Account Name": "Firefly",
            "Order": [
                {
                    "OrderID": "order103",
                    "Product": [
                        {"Product Name": "Bowler Hat", "ProductID": 858383, "SKU": "0406654608",
                         "Description": {"Colour": "Purple", "Width": 300, "Height": 200, "Depth": 210, "Weight": 0.75},
                         "Price": 34.45, "Quantity": 2},
                        {"Product Name": "Trilby hat", "ProductID": 858236, "SKU": "0406634348",
                         "Description": {"Colour": "Orange", "Width": 300, "Height": 200, "Depth": 210, "Weight": 0.6},
                         "Price": 21.67, "Quantity": 1}
                    ]
                },
                {
                    "OrderID": "order104",
                    "Product": [
                        {"Product Name": "Bowler Hat", "ProductID": 858383, "SKU": "040657863",
                         "Description": {"Colour": "Purple", "Width": 300, "Height": 200, "Depth": 210, "Weight": 0.75},
                         "Price": 34.45, "Quantity": 4},
                        {"ProductID": 345664, "SKU": "0406654603", "Product Name": "Cloak",
                         "Description": {"Colour": "Black", "Width": 30, "Height": 20, "Depth": 210, "Weight": 2},
                         "Price": 107.99, "Quantity": 1}
                    ]
                }
            ]
        }
    })
}
