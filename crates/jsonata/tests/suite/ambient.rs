//! `$now()`, `$millis()`, `$random()`, `$uuid()` and `$shuffle()` read the clock and seed the
//! variables provide.

use serde_json::{Value, json};
use sluice_jsonata::{Ambient, Expression, Variables};

struct Fixed(Ambient);

impl Variables for Fixed {
    fn lookup(&self, _: &str) -> Option<&Value> {
        None
    }

    fn ambient(&self) -> Ambient {
        self.0
    }
}

fn eval_in(src: &str, ambient: Ambient) -> Value {
    Expression::parse(src)
        .unwrap()
        .evaluate(None, &Fixed(ambient))
        .unwrap()
        .unwrap()
}

fn seeded(seed: u64) -> Ambient {
    Ambient {
        now_millis: Some(1_700_000_000_123),
        seed: Some(seed),
    }
}

#[test]
fn now_and_millis_report_the_given_instant() {
    assert_eq!(eval_in("$millis()", seeded(1)), json!(1_700_000_000_123i64));
    assert_eq!(
        eval_in("$now()", seeded(1)),
        json!("2023-11-14T22:13:20.123Z")
    );
}

#[test]
fn without_an_instant_now_is_the_system_clock() {
    let before = chrono::Utc::now().timestamp_millis();
    let millis = eval_in("$millis()", Ambient::default()).as_i64().unwrap();
    assert!(
        millis >= before && millis - before < 10_000,
        "{millis} vs {before}"
    );
}

#[test]
fn a_seed_repeats_random_uuid_and_shuffle_and_another_seed_differs() {
    let src = r#"{"a": $random(), "b": $random(), "id": $uuid(), "order": $shuffle([1..12])}"#;
    let a = eval_in(src, seeded(7));
    assert_eq!(a, eval_in(src, seeded(7)));
    assert_ne!(a, eval_in(src, seeded(8)));
    assert_ne!(a["a"], a["b"], "draws of one evaluation differ");
    let unit = a["a"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&unit));
    let uuid = uuid::Uuid::parse_str(a["id"].as_str().unwrap()).unwrap();
    assert_eq!(uuid.get_version_num(), 4);
    let mut shuffled: Vec<i64> = a["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    shuffled.sort();
    assert_eq!(shuffled, (1..=12).collect::<Vec<_>>());
}

#[test]
fn derived_ambients_draw_differently_and_keep_the_instant() {
    let base = seeded(7);
    assert_eq!(base.derive(3), base.derive(3));
    assert_ne!(base.derive(3).seed, base.derive(4).seed);
    assert_eq!(base.derive(3).now_millis, base.now_millis);
    assert_eq!(Ambient::default().derive(3), Ambient::default());
}

#[test]
fn a_seeded_random_argument_still_decides_alone() {
    let a = eval_in("$random(42)", seeded(1));
    assert_eq!(a, eval_in("$random(42)", seeded(2)));
    assert_eq!(a, eval_in("$random(42)", Ambient::default()));
}
