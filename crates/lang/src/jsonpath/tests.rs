use serde_json::{Value, json};

use super::*;

/// The document of the Jayway JsonPath README.
fn store() -> Value {
    json!({
        "store": {
            "book": [
                {"category": "reference", "author": "Nigel Rees", "title": "Sayings of the Century", "price": 8.95},
                {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword of Honour", "price": 12.99},
                {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick", "isbn": "0-553-21311-3", "price": 8.99},
                {"category": "fiction", "author": "J. R. R. Tolkien", "title": "The Lord of the Rings", "isbn": "0-395-19395-8", "price": 22.99}
            ],
            "bicycle": {"color": "red", "price": 19.95}
        },
        "expensive": 10
    })
}

fn q(path: &str, doc: &Value) -> Option<Value> {
    Path::parse(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .query(doc)
}

fn titles(path: &str) -> Vec<String> {
    let found = q(path, &store()).unwrap_or_else(|| panic!("{path} found nothing"));
    found
        .as_array()
        .unwrap_or_else(|| panic!("{path} gave {found}"))
        .iter()
        .map(|b| b["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

// ---- parsing ------------------------------------------------------------------------------

#[test]
fn parses_valid_paths() {
    for path in [
        "$",
        "$.a",
        "$.a.b",
        "$['a b']",
        "$[\"a\"]",
        "$.a[0]",
        "$.a[-1]",
        "$.a[*]",
        "$.*",
        "$.a.*.b",
        "$..x",
        "$..*",
        "$..[0]",
        "$..['x']",
        "$.a[?(@.b > 1)]",
        "$.a[?(@.b)]",
        "$.a[?(!@.b)]",
        "$.a[?(@.b == 'x' && (@.c < 2 || @.d))]",
        "$.a[?(@.b =~ /ab+c/i)]",
        "$.a[?(@.b in ['x', \"y\", 1, null, true])]",
        "$.a[?(@.b == {'k': [1, 2]})]",
        "$.a[?(@.b.length() > 1)]",
        "$.a[?(@['x y'] == 1)]",
        "$.a[?(@ == $.b)]",
        "$.a[0:2]",
        "$.a[:2]",
        "$.a[1:]",
        "$.a[-2:]",
        "$.a[:]",
        "$.a[0,1]",
        "$['a','b']",
        "$.a.length()",
        "$.a.size()",
        "$.a.sum()",
        "$.store\\.book",
        "$.abc.['def ghi']",
        "$.delivery-partner",
        "$.sub-values",
        " $.a ",
        "$.a[ 0 ]",
        "$[ 'a' , 'b' ]",
        "$.ключ",
    ] {
        assert!(Path::parse(path).is_ok(), "{path}: {:?}", Path::parse(path));
    }
}

#[test]
fn rejects_invalid_paths() {
    for path in [
        "",
        "a.b",
        "$.",
        "$..",
        "$.a.",
        "$.a..",
        "$a",
        "$$.a",
        "$.a b",
        "$[",
        "$['a",
        "$['a']x",
        "$[?(@.a]",
        "$[?(@.a ==)]",
        "$[?(@.a = 1)]",
        "$.a[1:2:3]",
        "$.a.foo()",
        "$.a.length().b",
        "$.a.length(1)",
        "$..length()",
        "$[abc]",
        "$.a[0",
        "$.a[-]",
        "$.a\\",
        "$.a[?(@.b =~ /(/)]",
        "$.a[99999999999999999999]",
        "$...a",
    ] {
        assert!(Path::parse(path).is_err(), "{path} should not parse");
    }
}

#[test]
fn errors_carry_the_path() {
    let err = Path::parse("$.a b").unwrap_err();
    assert!(err.message.contains("$.a b"), "{err}");
    assert!(err.to_string().contains("bracket notation"), "{err}");
}

#[test]
fn reference_paths() {
    for path in [
        "$",
        "$.a",
        "$.a[0]",
        "$['a b'].c",
        "$.a[-1].b",
        "$.store\\.book",
    ] {
        assert!(Path::parse(path).unwrap().is_reference(), "{path}");
    }
    for path in [
        "$.a[*]",
        "$.*",
        "$..a",
        "$.a[0,1]",
        "$.a[0:1]",
        "$.a[?(@.b)]",
        "$['a','b']",
        "$.a.length()",
    ] {
        assert!(!Path::parse(path).unwrap().is_reference(), "{path}");
    }
    assert!(Path::parse("$").unwrap().is_root());
    assert!(!Path::parse("$.a").unwrap().is_root());
}

#[test]
fn definiteness() {
    for path in ["$.a", "$['a','b']", "$.a.length()", "$..a.length()"] {
        assert!(Path::parse(path).unwrap().is_definite(), "{path}");
    }
    for path in ["$.a[*]", "$..a", "$.a[*].length()", "$.a[*]['b','c']"] {
        assert!(!Path::parse(path).unwrap().is_definite(), "{path}");
    }
}

#[test]
fn normalized_forms() {
    for (path, normal) in [
        ("$", "$"),
        ("$.NoSuchInputPath", "$['NoSuchInputPath']"),
        ("$.a[0].b", "$['a'][0]['b']"),
        ("$['a b'][-1]", "$['a b'][-1]"),
        ("$..x", "$..['x']"),
        ("$..*", "$..[*]"),
        ("$.a[*]", "$['a'][*]"),
        ("$.a.*", "$['a'][*]"),
        ("$.a[1:]", "$['a'][1:]"),
        ("$.a[:2]", "$['a'][:2]"),
        ("$.a[0,1]", "$['a'][0,1]"),
        ("$.a[?(@.b)]", "$['a'][?]"),
        ("$['a','b']", "$['a','b']"),
        ("$.a.length()", "$['a'].length()"),
        ("$.a.size()", "$['a'].length()"),
        ("$.store\\.book", "$['store.book']"),
    ] {
        let parsed = Path::parse(path).unwrap();
        assert_eq!(parsed.normalized(), normal, "{path}");
        assert_eq!(parsed.to_string(), normal, "{path}");
    }
}

// ---- roots --------------------------------------------------------------------------------

#[test]
fn rooted_paths() {
    let cases = [
        ("$$.Execution.Id", PathRoot::Context, "$['Execution']['Id']"),
        ("$$", PathRoot::Context, "$"),
        ("$$['Map']", PathRoot::Context, "$['Map']"),
        ("$var.x", PathRoot::Variable("var".into()), "$['x']"),
        ("$var", PathRoot::Variable("var".into()), "$"),
        ("$var[0].y", PathRoot::Variable("var".into()), "$[0]['y']"),
        ("$_x1.y", PathRoot::Variable("_x1".into()), "$['y']"),
        ("$.x", PathRoot::Input, "$['x']"),
        ("$", PathRoot::Input, "$"),
        ("$[0]", PathRoot::Input, "$[0]"),
        ("$..a", PathRoot::Input, "$..['a']"),
    ];
    for (text, root, normal) in cases {
        let (got_root, path) = parse_rooted(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(got_root, root, "{text}");
        assert_eq!(path.normalized(), normal, "{text}");
    }
    for bad in [
        "x",
        "",
        "$$$",
        "$1",
        "$$.",
        "$var.",
        "$var b",
        "States.Format('x')",
    ] {
        assert!(parse_rooted(bad).is_err(), "{bad}");
    }
}

#[test]
fn rooted_variable_and_context_evaluate_like_input_paths() {
    let (_, path) = parse_rooted("$$.Execution.Input.a").unwrap();
    let context = json!({"Execution": {"Input": {"a": 1}}});
    assert_eq!(path.query(&context), Some(json!(1)));
    let (_, path) = parse_rooted("$items[1]").unwrap();
    assert_eq!(path.query(&json!([1, 2])), Some(json!(2)));
}

// ---- definite queries ---------------------------------------------------------------------

#[test]
fn definite_queries() {
    let doc = store();
    assert_eq!(q("$", &doc), Some(doc.clone()));
    assert_eq!(
        q("$.store.book[0].title", &doc),
        Some(json!("Sayings of the Century"))
    );
    assert_eq!(
        q("$.store.book[-1].title", &doc),
        Some(json!("The Lord of the Rings"))
    );
    assert_eq!(
        q("$['store']['bicycle']['color']", &doc),
        Some(json!("red"))
    );
    assert_eq!(q("$.store.bicycle.price", &doc), Some(json!(19.95)));
    assert_eq!(q("$.expensive", &doc), Some(json!(10)));
}

#[test]
fn definite_queries_that_find_nothing() {
    let doc = store();
    for path in [
        "$.missing",
        "$.store.missing.x",
        "$.store.book.title",
        "$.store.book[10]",
        "$.store.book[-10]",
        "$.store[0]",
        "$.expensive.x",
        "$.expensive[0]",
    ] {
        assert_eq!(q(path, &doc), None, "{path}");
    }
    assert_eq!(q("$.a", &json!("foo")), None);
    assert_eq!(q("$[0]", &json!({})), None);
}

#[test]
fn null_is_a_value_not_absence() {
    let doc = json!({"a": null});
    assert_eq!(q("$.a", &doc), Some(Value::Null));
    assert_eq!(q("$.a.b", &doc), None);
}

#[test]
fn member_names_with_special_characters() {
    let doc = json!({
        "store.book": 1,
        "store": {"book": 2},
        "a b": {"c": 3},
        "abc": {"def ghi": 4},
        "delivery-partner": "UQS",
        "it's": 5,
        "ключ": 6,
        "back\\slash": 7
    });
    assert_eq!(q("$.store\\.book", &doc), Some(json!(1)));
    assert_eq!(q("$['store.book']", &doc), Some(json!(1)));
    assert_eq!(q("$.store.book", &doc), Some(json!(2)));
    assert_eq!(q("$.\\stor\\e.boo\\k", &doc), Some(json!(2)));
    assert_eq!(q("$['a b'].c", &doc), Some(json!(3)));
    assert_eq!(q("$.abc.['def ghi']", &doc), Some(json!(4)));
    assert_eq!(q("$.delivery-partner", &doc), Some(json!("UQS")));
    assert_eq!(q("$['it\\'s']", &doc), Some(json!(5)));
    assert_eq!(q("$[\"it's\"]", &doc), Some(json!(5)));
    assert_eq!(q("$.ключ", &doc), Some(json!(6)));
    assert_eq!(q("$['back\\\\slash']", &doc), Some(json!(7)));
    assert_eq!(q("$.back\\\\slash", &doc), Some(json!(7)));
}

// ---- indefinite queries -------------------------------------------------------------------

#[test]
fn wildcards_and_deep_scan() {
    let doc = store();
    assert_eq!(
        q("$.store.book[*].author", &doc),
        Some(json!([
            "Nigel Rees",
            "Evelyn Waugh",
            "Herman Melville",
            "J. R. R. Tolkien"
        ]))
    );
    assert_eq!(q("$..author", &doc), q("$.store.book[*].author", &doc));
    assert_eq!(
        q("$.store.*", &doc),
        Some(json!([doc["store"]["book"], doc["store"]["bicycle"]]))
    );
    assert_eq!(
        q("$.store..price", &doc),
        Some(json!([8.95, 12.99, 8.99, 22.99, 19.95]))
    );
    assert_eq!(
        q("$.store.book[*].isbn", &doc),
        Some(json!(["0-553-21311-3", "0-395-19395-8"]))
    );
    assert_eq!(titles("$..book[2]"), ["Moby Dick"]);
    assert_eq!(titles("$..book[-1:]"), ["The Lord of the Rings"]);
    assert_eq!(
        titles("$..book[0,1]"),
        ["Sayings of the Century", "Sword of Honour"]
    );
    assert_eq!(
        titles("$..book[:2]"),
        ["Sayings of the Century", "Sword of Honour"]
    );
    let all = q("$..*", &doc).unwrap();
    assert_eq!(all.as_array().map(Vec::len), Some(28));
    assert_eq!(q("$..nothing", &doc), Some(json!([])));
}

#[test]
fn deep_scan_visits_parents_before_children() {
    let doc = json!({"x": 1, "a": {"x": 2, "b": [{"x": 3}, {"y": {"x": 4}}]}, "c": {"x": 5}});
    assert_eq!(q("$..x", &doc), Some(json!([1, 2, 3, 4, 5])));
    assert_eq!(q("$..b[1].y.x", &doc), Some(json!([4])));
    assert_eq!(
        q("$..[?(@.x > 2)]", &doc),
        Some(json!([{"x": 3}, {"x": 4}, {"x": 5}]))
    );
}

#[test]
fn wildcard_on_objects_yields_member_values() {
    assert_eq!(q("$[*]", &json!({"a": 1, "b": [2]})), Some(json!([1, [2]])));
    assert_eq!(q("$.*", &json!([1, 2])), Some(json!([1, 2])));
    assert_eq!(q("$.*", &json!("s")), Some(json!([])));
}

#[test]
fn indefinite_paths_over_missing_input_are_empty() {
    // Recorded from AWS: an empty input gives an empty array for wildcards and slices.
    let empty = json!({});
    for path in [
        "$.item.items[*]",
        "$.item.items[1:5]",
        "$.item.items[1:5].itemValue",
        "$.item.items[1:]",
        "$.item.items[:1]",
        "$.items[*].itemValue",
        "$.items[1:].itemValue",
        "$.items[:1].itemValue",
        "$.items[*]",
        "$[*]",
    ] {
        assert_eq!(q(path, &empty), Some(json!([])), "{path}");
    }
}

#[test]
fn member_steps_do_not_map_over_arrays() {
    let doc = json!({"a": [{"b": 1}, {"b": 2}]});
    assert_eq!(q("$.a.b", &doc), None);
    assert_eq!(q("$.a[*].b", &doc), Some(json!([1, 2])));
    assert_eq!(q("$..a.b", &doc), Some(json!([])));
}

#[test]
fn array_access_recorded_from_aws() {
    let items: Vec<Value> = (0..=10).map(|i| json!({"item_key": i})).collect();
    let doc = json!({ "items": items });
    assert_eq!(q("$.items[0]", &doc), Some(json!({"item_key": 0})));
    assert_eq!(q("$.items[10]", &doc), Some(json!({"item_key": 10})));
}

#[test]
fn slices() {
    let doc = json!({"a": [0, 1, 2, 3, 4]});
    for (path, expected) in [
        ("$.a[1:3]", json!([1, 2])),
        ("$.a[:2]", json!([0, 1])),
        ("$.a[3:]", json!([3, 4])),
        ("$.a[-2:]", json!([3, 4])),
        ("$.a[:-2]", json!([0, 1, 2])),
        ("$.a[-3:-1]", json!([2, 3])),
        ("$.a[:]", json!([0, 1, 2, 3, 4])),
        ("$.a[3:1]", json!([])),
        ("$.a[10:]", json!([])),
        ("$.a[:10]", json!([0, 1, 2, 3, 4])),
        ("$.a[-10:2]", json!([0, 1])),
        ("$.a[0,2,-1]", json!([0, 2, 4])),
        ("$.a[0,9]", json!([0])),
    ] {
        assert_eq!(q(path, &doc), Some(expected), "{path}");
    }
}

#[test]
fn member_unions() {
    let doc = store();
    assert_eq!(
        q("$.store.bicycle['color','price']", &doc),
        Some(json!({"color": "red", "price": 19.95}))
    );
    assert_eq!(
        q("$['nope','expensive']", &doc),
        Some(json!({"expensive": 10}))
    );
    assert_eq!(q("$.expensive['a','b']", &doc), None);
    assert_eq!(
        q("$.store.book[0:2]['title','price']", &doc),
        Some(json!([
            {"title": "Sayings of the Century", "price": 8.95},
            {"title": "Sword of Honour", "price": 12.99}
        ]))
    );
    assert_eq!(
        q("$['a','b'].length()", &json!({"a": [1], "b": [1, 2]})),
        Some(json!([1, 2]))
    );
}

// ---- filters ------------------------------------------------------------------------------

#[test]
fn filters_from_the_jayway_readme() {
    assert_eq!(
        titles("$..book[?(@.isbn)]"),
        ["Moby Dick", "The Lord of the Rings"]
    );
    assert_eq!(
        titles("$.store.book[?(@.price < 10)]"),
        ["Sayings of the Century", "Moby Dick"]
    );
    assert_eq!(
        titles("$..book[?(@.price <= $['expensive'])]"),
        ["Sayings of the Century", "Moby Dick"]
    );
    assert_eq!(
        titles("$..book[?(@.author =~ /.*REES/i)]"),
        ["Sayings of the Century"]
    );
    assert_eq!(
        titles("$..book[?(@.author =~ /.*REES/)]"),
        Vec::<String>::new()
    );
}

#[test]
fn filter_recorded_from_aws() {
    let doc = json!({"users": [{"year": 1997, "status": 0}, {"year": 1998, "status": 1}]});
    assert_eq!(
        q("$.users[?(@.status == 0)]", &doc),
        Some(json!([{"year": 1997, "status": 0}]))
    );
}

#[test]
fn filter_logic() {
    assert_eq!(
        titles("$.store.book[?(@.category == 'fiction' && @.price < 10)]"),
        ["Moby Dick"]
    );
    assert_eq!(
        titles("$.store.book[?(@.price > 20 || @.category == 'reference')]"),
        ["Sayings of the Century", "The Lord of the Rings"]
    );
    assert_eq!(
        titles("$.store.book[?(!@.isbn)]"),
        ["Sayings of the Century", "Sword of Honour"]
    );
    assert_eq!(
        titles("$.store.book[?(!(@.price > 10))]"),
        ["Sayings of the Century", "Moby Dick"]
    );
    assert_eq!(
        titles("$.store.book[?((@.price > 10 || @.isbn) && @.price < 20)]"),
        ["Sword of Honour", "Moby Dick"]
    );
    assert_eq!(
        titles("$.store.book[?(@.price>10&&@.price<20)]"),
        ["Sword of Honour"]
    );
    assert_eq!(titles("$.store.book[?(true)]").len(), 4);
    assert_eq!(titles("$.store.book[?(false)]").len(), 0);
}

#[test]
fn filter_comparisons() {
    let doc = json!({"a": [1, 2, "2", 3.5, "x", true, null, [1], {"k": 1}]});
    assert_eq!(q("$.a[?(@ > 1)]", &doc), Some(json!([2, 3.5])));
    assert_eq!(q("$.a[?(@ >= 2)]", &doc), Some(json!([2, 3.5])));
    assert_eq!(q("$.a[?(@ == 2)]", &doc), Some(json!([2, "2"])));
    assert_eq!(q("$.a[?(@ === 2)]", &doc), Some(json!([2])));
    assert_eq!(q("$.a[?(@ == 'x')]", &doc), Some(json!(["x"])));
    assert_eq!(q("$.a[?(@ < 'y')]", &doc), Some(json!(["2", "x"])));
    assert_eq!(q("$.a[?(@ == true)]", &doc), Some(json!([true])));
    assert_eq!(q("$.a[?(@ == null)]", &doc), Some(json!([null])));
    assert_eq!(q("$.a[?(@ == [1])]", &doc), Some(json!([[1]])));
    assert_eq!(q("$.a[?(@ == {'k': 1})]", &doc), Some(json!([{"k": 1}])));
    assert_eq!(q("$.a[?(@ == 3.50)]", &doc), Some(json!([3.5])));
    assert_eq!(
        q("$.a[?(@ != 2)]", &doc).unwrap().as_array().unwrap().len(),
        7
    );
    assert_eq!(q("$.a[?(@.k == 1)]", &doc), Some(json!([{"k": 1}])));
    assert_eq!(q("$.a[?(@[0] == 1)]", &doc), Some(json!([[1]])));
}

#[test]
fn missing_operands_are_undefined() {
    // `!=` against a missing member is true, every other comparison false.
    assert_eq!(
        titles("$.store.book[?(@.isbn != '0-553-21311-3')]"),
        [
            "Sayings of the Century",
            "Sword of Honour",
            "The Lord of the Rings"
        ]
    );
    assert_eq!(titles("$.store.book[?(@.nope == null)]").len(), 0);
    assert_eq!(titles("$.store.book[?(@.nope < 1)]").len(), 0);
}

#[test]
fn filter_membership_operators() {
    assert_eq!(
        titles("$.store.book[?(@.category in ['reference', 'poetry'])]"),
        ["Sayings of the Century"]
    );
    assert_eq!(
        titles("$.store.book[?(@.category nin ['reference'])]").len(),
        3
    );
    assert_eq!(
        titles("$.store.book[?(@.title contains 'Lord')]"),
        ["The Lord of the Rings"]
    );
    let doc = json!({"items": [
        {"id": 1, "tags": ["a", "b"]},
        {"id": 2, "tags": ["c"]},
        {"id": 3, "tags": []}
    ]});
    let ids = |path: &str| {
        q(path, &doc)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids("$.items[?(@.tags size 2)]"), [1]);
    assert_eq!(ids("$.items[?(@.tags empty true)]"), [3]);
    assert_eq!(ids("$.items[?(@.tags empty false)]"), [1, 2]);
    assert_eq!(ids("$.items[?(@.tags contains 'c')]"), [2]);
    assert_eq!(
        ids("$.items[?(@.tags subsetof ['a', 'b', 'c'])]"),
        [1, 2, 3]
    );
    assert_eq!(ids("$.items[?(@.tags anyof ['b', 'z'])]"), [1]);
    assert_eq!(ids("$.items[?(@.tags noneof ['b', 'z'])]"), [2, 3]);
    assert_eq!(ids("$.items[?(@.id in [1, 3])]"), [1, 3]);
}

#[test]
fn filter_regex_inputs() {
    let doc = json!({"a": [{"v": "abc"}, {"v": 123}, {"v": true}, {"v": ["x", "abd"]}, {}]});
    let count = |path: &str| q(path, &doc).unwrap().as_array().unwrap().len();
    assert_eq!(count("$.a[?(@.v =~ /ab./)]"), 2);
    assert_eq!(count("$.a[?(@.v =~ /\\d+/)]"), 1);
    assert_eq!(count("$.a[?(@.v =~ /tr.e/)]"), 1);
    assert_eq!(count("$.a[?(@.v =~ /.*/)]"), 5);
}

#[test]
fn filters_apply_to_objects_themselves() {
    let doc = store();
    assert_eq!(
        q("$.store.bicycle[?(@.color == 'red')]", &doc),
        Some(json!([{"color": "red", "price": 19.95}]))
    );
    assert_eq!(
        q("$.store.bicycle[?(@.color == 'blue')]", &doc),
        Some(json!([]))
    );
    assert_eq!(q("$.expensive[?(@ > 1)]", &doc), Some(json!([])));
}

#[test]
fn nested_filters_and_absolute_paths() {
    let doc = json!({
        "limit": 2,
        "groups": [
            {"name": "a", "members": [{"age": 1}, {"age": 3}]},
            {"name": "b", "members": [{"age": 1}]}
        ]
    });
    assert_eq!(
        q("$.groups[?(@.members[?(@.age > $.limit)])].name", &doc),
        Some(json!(["a"]))
    );
    assert_eq!(
        q("$.groups[?(@.members.length() == 1)].name", &doc),
        Some(json!(["b"]))
    );
    assert_eq!(
        q("$.groups[?($.limit == 2)].name", &doc),
        Some(json!(["a", "b"]))
    );
}

// ---- functions ----------------------------------------------------------------------------

#[test]
fn functions() {
    let doc = json!({"nums": [1, 2, 3, "x"], "obj": {"a": 1, "b": 2}, "s": "str", "empty": []});
    assert_eq!(q("$.nums.length()", &doc), Some(json!(4)));
    assert_eq!(q("$.nums.size()", &doc), Some(json!(4)));
    assert_eq!(q("$.obj.length()", &doc), Some(json!(2)));
    assert_eq!(q("$.s.length()", &doc), Some(Value::Null));
    assert_eq!(q("$.missing.length()", &doc), None);
    assert_eq!(q("$.nums.sum()", &doc), Some(json!(6.0)));
    assert_eq!(q("$.nums.avg()", &doc), Some(json!(2.0)));
    assert_eq!(q("$.nums.min()", &doc), Some(json!(1.0)));
    assert_eq!(q("$.nums.max()", &doc), Some(json!(3.0)));
    let stddev = q("$.nums.stddev()", &doc).unwrap().as_f64().unwrap();
    assert!((stddev - (2.0f64 / 3.0).sqrt()).abs() < 1e-12);
    assert_eq!(q("$.obj.keys()", &doc), Some(json!(["a", "b"])));
    assert_eq!(q("$.nums.first()", &doc), Some(json!(1)));
    assert_eq!(q("$.nums.last()", &doc), Some(json!("x")));
    assert_eq!(q("$.empty.first()", &doc), Some(Value::Null));
    assert_eq!(q("$.empty.sum()", &doc), None);
    assert_eq!(q("$.obj.sum()", &doc), None);
}

#[test]
fn functions_after_indefinite_paths() {
    let doc = store();
    assert_eq!(q("$.store.book.length()", &doc), Some(json!(4)));
    // Per matched node, as Jayway does.
    assert_eq!(
        q("$.store.book[*].length()", &doc),
        Some(json!([4, 4, 5, 5]))
    );
    assert_eq!(
        q("$.store.book[?(@.price > 10)].length()", &doc),
        Some(json!([4, 5]))
    );
    // After a leading deep scan, over all matches at once.
    assert_eq!(q("$..book.length()", &doc), Some(json!(4)));
    let total = q("$..price.sum()", &doc).unwrap().as_f64().unwrap();
    assert!((total - 73.87).abs() < 1e-9);
    assert_eq!(q("$..price.max()", &doc), Some(json!(22.99)));
    // An aggregate applied to single numbers has nothing to aggregate.
    assert_eq!(q("$.store.book[*].price.max()", &doc), None);
}

// ---- set ----------------------------------------------------------------------------------

fn set(path: &str, mut doc: Value, value: Value) -> Result<Value, PathError> {
    Path::parse(path).unwrap().set(&mut doc, value)?;
    Ok(doc)
}

#[test]
fn set_writes_result_paths() {
    assert_eq!(set("$", json!({"a": 1}), json!(5)), Ok(json!(5)));
    assert_eq!(set("$.a", json!({}), json!(5)), Ok(json!({"a": 5})));
    assert_eq!(
        set("$.a.b.c", json!({"x": 1}), json!(true)),
        Ok(json!({"x": 1, "a": {"b": {"c": true}}}))
    );
    assert_eq!(set("$.a", json!({"a": 1}), json!(2)), Ok(json!({"a": 2})));
    assert_eq!(
        set("$.a.b", json!({"a": {"c": 1}}), json!(2)),
        Ok(json!({"a": {"c": 1, "b": 2}}))
    );
    assert_eq!(
        set("$['a b'].c", json!({}), json!(1)),
        Ok(json!({"a b": {"c": 1}}))
    );
    assert_eq!(
        set("$.a[0]", json!({"a": [1, 2]}), json!(9)),
        Ok(json!({"a": [9, 2]}))
    );
    assert_eq!(
        set("$.a[-1].b", json!({"a": [{}, {}]}), json!(9)),
        Ok(json!({"a": [{}, {"b": 9}]}))
    );
}

#[test]
fn set_keeps_member_order() {
    let out = set("$.b", json!({"a": 1, "b": 2, "c": 3}), json!(9)).unwrap();
    assert_eq!(
        serde_json::to_string(&out).unwrap(),
        r#"{"a":1,"b":9,"c":3}"#
    );
    let out = set("$.d", json!({"a": 1, "b": 2}), json!(9)).unwrap();
    assert_eq!(
        serde_json::to_string(&out).unwrap(),
        r#"{"a":1,"b":2,"d":9}"#
    );
}

#[test]
fn set_fails_when_something_is_in_the_way() {
    for (path, doc) in [
        ("$.x", json!("foo")),
        ("$.x", json!([1])),
        ("$.a.b", json!({"a": 5})),
        ("$.a.b", json!({"a": null})),
        ("$.a.b.c", json!({"a": {"b": "s"}})),
        ("$.a[5]", json!({"a": [1]})),
        ("$.a[0]", json!({"a": {"0": 1}})),
        ("$.a[0]", json!({})),
        ("$.a[0].b", json!({"a": []})),
    ] {
        let before = doc.clone();
        let mut after = doc;
        let result = Path::parse(path).unwrap().set(&mut after, json!(1));
        assert!(result.is_err(), "{path} on {before}");
        assert_eq!(after, before, "{path} must leave the document untouched");
    }
}

#[test]
fn set_rejects_non_reference_paths() {
    for path in ["$.a[*]", "$..a", "$.a[0:1]", "$['a','b']", "$.a.length()"] {
        let err = set(path, json!({"a": [1]}), json!(1)).unwrap_err();
        assert!(
            err.message.contains("not a reference path"),
            "{path}: {err}"
        );
    }
}

#[test]
fn paths_are_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Path>();
    assert_send_sync::<PathError>();
}
