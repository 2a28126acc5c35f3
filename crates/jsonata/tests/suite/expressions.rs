//! Paths, operators, built-in functions, errors and the FDL syntax.

use super::common::*;
use serde_json::{Map, json};

#[test]
fn paths_filter_and_aggregate_the_invoice() {
    let doc = invoice();
    check("Account.`Account Name`", &doc, json!("Firefly"));
    check("Account.Order[0].OrderID", &doc, json!("order103"));
    check(
        "$sum(Account.Order.Product.(Price * Quantity))",
        &doc,
        json!(336.36),
    );
    check(
        "Account.Order.Product[Price > 30].`Product Name`",
        &doc,
        json!(["Bowler Hat", "Bowler Hat", "Cloak"]),
    );
    check(
        "Account.Order.Product{`Product Name`: $sum(Quantity)}",
        &doc,
        json!({"Bowler Hat": 6, "Trilby hat": 1, "Cloak": 1}),
    );
    undefined("Account.Missing", &doc);
}

#[test]
fn operators_functions_and_lambdas() {
    check0("1 + 2 * 3", json!(7));
    check0("'a' & 1 & true", json!("a1true"));
    check0("[1..5][$ % 2 = 1]", json!([1, 3, 5]));
    check0(
        "$map([1, 2, 3], function($v) { $v * $v })",
        json!([1, 4, 9]),
    );
    check0(
        "$reduce([1, 2, 3, 4], function($a, $b) { $a + $b })",
        json!(10),
    );
    check0(
        "$uppercase('abc') & $substring('hello', 1, 3)",
        json!("ABCell"),
    );
    check0("$sort([3, 1, 2])", json!([1, 2, 3]));
    check0(
        "($f := function($n) { $n <= 1 ? 1 : $n * $f($n - 1) }; $f(10))",
        json!(3628800),
    );
    check0("$string({'a': [1, 2]})", json!("{\"a\":[1,2]}"));
}

#[test]
fn errors_carry_their_codes() {
    check_error("1 +", None, "S0207");
    check_error("'a' + 1", None, "T2001");
    check_error("$unknown(1)", None, "T1006");
    let deep = "($f := function($n) { $n <= 0 ? 0 : 1 + $f($n - 1) }; $f(100000))";
    let e = error(deep, None);
    assert!(
        !e.code.is_empty(),
        "runaway recursion fails with a code: {e}"
    );
}

#[test]
fn fdl_syntax_reads_variables() {
    let mut vars = Map::new();
    vars.insert("input".into(), json!({"n": 2, "name": "x"}));
    assert_eq!(
        fdl("$input.n * 21", &vars).unwrap(),
        Some(json!(42)),
        "FDL expression over $input"
    );
}

#[test]
fn extreme_numbers_in_date_functions_are_errors_or_values() {
    for src in [
        "$fromMillis(1e300, '[Y]', '+0100')",
        "$fromMillis(-1e300, '[Y]', '-1000')",
        "$fromMillis(9.2e18, undefined, '+1400')",
        "$fromMillis(0, '[Y,*-30]')",
        "$fromMillis(0, '[Y,*-19]')",
        "$fromMillis(0, '[Y,2-2]')",
    ] {
        let _ = eval_with(src, None);
    }
    check0("$fromMillis(0, '[Y,2-2]')", json!("70"));
    check0("$fromMillis(0, '[Y,*-30]')", json!("1970"));
}

#[test]
fn padding_wider_than_a_string_can_be_is_an_error() {
    check_error("$pad('x', 1e18)", None, "D1001");
    check_error("$pad('x', -1e300)", None, "D1001");
    check0("$pad('x', -3, '#')", json!("##x"));
}
