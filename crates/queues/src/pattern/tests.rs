use super::*;
use serde_json::json;

fn event() -> Value {
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "111122223333",
        "time": "2017-12-22T18:43:48Z",
        "region": "us-west-1",
        "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
        "detail": {
            "instance-id": "i-1234567890abcdef0",
            "state": "terminated",
            "c-count": 5,
            "d-count": 3,
            "x-limit": 301.8,
            "source-ip": "10.0.0.123",
            "tags": [{"key": "team", "value": "billing"}, {"key": "env", "value": "prod"}],
            "nothing": null
        }
    })
}

fn pattern(p: Value) -> Pattern {
    Pattern::compile(&p, Dialect::EventPattern).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// Asserts which of `patterns` match the event (true) and which must not (false).
fn check(cases: &[(Value, bool)]) {
    let e = event();
    for (p, expected) in cases {
        assert_eq!(pattern(p.clone()).matches(&e), *expected, "{p}");
    }
}

#[test]
fn exact_values_and_nested_fields() {
    check(&[
        (json!({"source": ["aws.ec2"]}), true),
        (json!({"source": ["aws.s3", "aws.ec2"]}), true),
        (json!({"source": ["aws.s3"]}), false),
        (json!({"source": ["AWS.EC2"]}), false),
        (
            json!({"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"], "detail": {"state": ["terminated"]}}),
            true,
        ),
        (
            json!({"source": ["aws.ec2"], "detail": {"state": ["running"]}}),
            false,
        ),
        (json!({"detail": {"c-count": [5]}}), true),
        (json!({"detail": {"c-count": [5.0]}}), true),
        (json!({"detail": {"c-count": ["5"]}}), false),
        (json!({"detail": {"nothing": [null]}}), true),
        (json!({"detail": {"absent": [null]}}), false),
        (json!({"detail": {"tags": {"key": ["env"]}}}), true),
        (json!({"detail": {"tags": {"key": ["owner"]}}}), false),
        (
            json!({"resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"]}),
            true,
        ),
        (json!({"nope": {"deeper": ["x"]}}), false),
    ]);
}

#[test]
fn prefix_suffix_and_ignoring_case() {
    check(&[
        (json!({"source": [{"prefix": "aws."}]}), true),
        (json!({"source": [{"prefix": "AWS."}]}), false),
        (
            json!({"source": [{"prefix": {"equals-ignore-case": "AWS."}}]}),
            true,
        ),
        (
            json!({"detail": {"instance-id": [{"suffix": "def0"}]}}),
            true,
        ),
        (
            json!({"detail": {"instance-id": [{"suffix": "DEF0"}]}}),
            false,
        ),
        (
            json!({"detail": {"instance-id": [{"suffix": {"equals-ignore-case": "DEF0"}}]}}),
            true,
        ),
        (json!({"detail": {"c-count": [{"prefix": "5"}]}}), false),
        (
            json!({"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]}),
            true,
        ),
        (
            json!({"detail-type": [{"equals-ignore-case": "ec2 instance"}]}),
            false,
        ),
    ]);
}

#[test]
fn wildcards() {
    check(&[
        (
            json!({"detail": {"instance-id": [{"wildcard": "i-*def0"}]}}),
            true,
        ),
        (
            json!({"detail": {"instance-id": [{"wildcard": "i-*"}]}}),
            true,
        ),
        (
            json!({"detail": {"instance-id": [{"wildcard": "*"}]}}),
            true,
        ),
        (
            json!({"detail": {"instance-id": [{"wildcard": "i-*abc"}]}}),
            false,
        ),
        (
            json!({"detail": {"instance-id": [{"wildcard": "x*"}]}}),
            false,
        ),
        (
            json!({"detail-type": [{"wildcard": "EC2*State*Notification"}]}),
            true,
        ),
    ]);
    assert!(super::wildcard(r"a\*b", "a*b"));
    assert!(!super::wildcard(r"a\*b", "axb"));
    assert!(super::wildcard("a*b*c", "abbbc"));
    assert!(!super::wildcard("a*b*c", "abbb"));
}

#[test]
fn anything_but_values_lists_and_prefixes() {
    check(&[
        (
            json!({"detail": {"state": [{"anything-but": "running"}]}}),
            true,
        ),
        (
            json!({"detail": {"state": [{"anything-but": "terminated"}]}}),
            false,
        ),
        (
            json!({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}),
            true,
        ),
        (
            json!({"detail": {"state": [{"anything-but": ["stopped", "terminated"]}]}}),
            false,
        ),
        (
            json!({"detail": {"c-count": [{"anything-but": [4, 6]}]}}),
            true,
        ),
        (json!({"detail": {"c-count": [{"anything-but": 5}]}}), false),
        (
            json!({"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}),
            true,
        ),
        (
            json!({"detail": {"state": [{"anything-but": {"prefix": "term"}}]}}),
            false,
        ),
        (
            json!({"detail": {"state": [{"anything-but": {"suffix": "ated"}}]}}),
            false,
        ),
        (
            json!({"detail": {"state": [{"anything-but": {"equals-ignore-case": ["TERMINATED"]}}]}}),
            false,
        ),
        (
            json!({"detail": {"state": [{"anything-but": {"wildcard": "run*"}}]}}),
            true,
        ),
        // An absent field matches nothing but exists: false.
        (
            json!({"detail": {"absent": [{"anything-but": "x"}]}}),
            false,
        ),
    ]);
}

#[test]
fn numeric_ranges() {
    check(&[
        (
            json!({"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}], "d-count": [{"numeric": ["<", 10]}], "x-limit": [{"numeric": ["=", 3.018e2]}]}}),
            true,
        ),
        (
            json!({"detail": {"c-count": [{"numeric": [">", 5]}]}}),
            false,
        ),
        (
            json!({"detail": {"c-count": [{"numeric": [">=", 5]}]}}),
            true,
        ),
        (
            json!({"detail": {"c-count": [{"numeric": ["<", 5]}]}}),
            false,
        ),
        (
            json!({"detail": {"c-count": [{"numeric": ["<=", 5]}]}}),
            true,
        ),
        (
            json!({"detail": {"c-count": [{"numeric": ["=", 6]}]}}),
            false,
        ),
        (
            json!({"detail": {"x-limit": [{"numeric": [">", 300, "<", 301]}]}}),
            false,
        ),
        (json!({"detail": {"state": [{"numeric": [">", 0]}]}}), false),
    ]);
}

#[test]
fn exists_true_and_false() {
    check(&[
        (json!({"detail": {"state": [{"exists": true}]}}), true),
        (json!({"detail": {"state": [{"exists": false}]}}), false),
        (json!({"detail": {"absent": [{"exists": false}]}}), true),
        (json!({"detail": {"absent": [{"exists": true}]}}), false),
        (json!({"missing": {"deeper": [{"exists": false}]}}), true),
    ]);
}

#[test]
fn cidr_blocks() {
    check(&[
        (
            json!({"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}),
            true,
        ),
        (
            json!({"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}),
            false,
        ),
        (
            json!({"detail": {"source-ip": [{"cidr": "0.0.0.0/0"}]}}),
            true,
        ),
        (
            json!({"detail": {"source-ip": [{"cidr": "10.0.0.123/32"}]}}),
            true,
        ),
        (
            json!({"detail": {"source-ip": [{"cidr": "2001:db8::/32"}]}}),
            false,
        ),
        (
            json!({"detail": {"state": [{"cidr": "10.0.0.0/8"}]}}),
            false,
        ),
    ]);
    let v6 = pattern(json!({"ip": [{"cidr": "2001:db8::/32"}]}));
    assert!(v6.matches(&json!({"ip": "2001:db8::1"})));
    assert!(!v6.matches(&json!({"ip": "2001:db9::1"})));
}

#[test]
fn or_across_fields_and_and_between_keys() {
    check(&[
        (
            json!({"detail": {"$or": [{"c-count": [{"numeric": [">", 10]}]}, {"d-count": [{"numeric": ["<", 10]}]}]}}),
            true,
        ),
        (
            json!({"detail": {"$or": [{"c-count": [{"numeric": [">", 10]}]}, {"d-count": [{"numeric": [">", 10]}]}]}}),
            false,
        ),
        (
            json!({"source": ["aws.ec2"], "$or": [{"detail-type": ["nope"]}, {"detail": {"state": ["terminated"]}}]}),
            true,
        ),
        (
            json!({"source": ["aws.s3"], "$or": [{"detail-type": ["nope"]}, {"detail": {"state": ["terminated"]}}]}),
            false,
        ),
    ]);
}

#[test]
fn the_sns_filter_policy_example_on_message_attributes() {
    // The message attributes of the SNS documentation's example, as JSON values.
    let attributes = json!({
        "customer_interests": ["soccer", "rugby", "hockey"],
        "store": "example_corp",
        "event": "order_placed",
        "price_usd": 210.75
    });
    let policy = |p: Value| Pattern::compile(&p, Dialect::FilterPolicyAttributes).unwrap();
    let example = policy(json!({
        "store": ["example_corp"],
        "event": [{"anything-but": "order_cancelled"}],
        "customer_interests": ["rugby", "football", "baseball"],
        "price_usd": [{"numeric": [">=", 100]}]
    }));
    assert!(example.matches(&attributes));
    for refused in [
        json!({"store": ["other_corp"]}),
        json!({"event": [{"anything-but": ["order_placed", "order_cancelled"]}]}),
        json!({"customer_interests": ["football"]}),
        json!({"price_usd": [{"numeric": ["<", 100]}]}),
        json!({"encrypted": [{"exists": true}]}),
    ] {
        assert!(!policy(refused.clone()).matches(&attributes), "{refused}");
    }
}

#[test]
fn bad_patterns_name_the_place_at_fault() {
    let error = |p: Value, dialect| Pattern::compile(&p, dialect).unwrap_err().to_string();
    let ep = Dialect::EventPattern;
    assert_eq!(
        error(json!({"detail": {"amount": [{"numeric": [">", "x"]}]}}), ep),
        "at detail.amount[0].numeric: \"x\" is not a number"
    );
    assert_eq!(
        error(json!({"a": [{"numeric": [">", 1, ">", 2]}]}), ep),
        "at a[0].numeric: numeric takes one comparison, or a lower and an upper bound"
    );
    assert!(error(json!({"a": [{"nope": 1}]}), ep).contains("unknown matcher 'nope'"));
    assert!(error(json!({"a": []}), ep).contains("at a: the list of matchers is empty"));
    assert!(error(json!({"a": "x"}), ep).contains("at a: a field takes a list"));
    assert!(error(json!({"a": [{"prefix": "x", "suffix": "y"}]}), ep).contains("exactly one key"));
    assert!(error(json!({"a": [{"cidr": "10.0.0.0/40"}]}), ep).contains("not a CIDR block"));
    assert!(error(json!({"a": [{"exists": "yes"}]}), ep).contains("at a[0].exists"));
    assert!(error(json!({"$or": []}), ep).contains("$or takes"));
    assert!(error(json!(["x"]), ep).contains("must be a JSON object"));
    assert!(
        error(json!({"a": {"b": ["x"]}}), Dialect::FilterPolicyAttributes)
            .contains("cannot nest keys")
    );
    assert!(Pattern::compile(&json!({"a": {"b": ["x"]}}), Dialect::FilterPolicyBody).is_ok());
}
