//! The event reader against references: on arbitrary JSON it must accept exactly what
//! serde_json accepts (bar the documented control-character leniency), and find exactly the
//! values a straightforward walk of the parsed document finds (dotted keys, nested objects and
//! arrays all reaching the same field).

use proptest::prelude::*;
use rulestream::event::{extract, Extracted, FieldPlan, Kind};
use serde_json::Value;

/// Values of `path` in `doc` the slow, obvious way: try every split of the remaining path into a
/// key (which may contain dots) and the rest; arrays are transparent.
fn reference_values(doc: &Value, path: &[&str], out: &mut Vec<String>) {
    match doc {
        Value::Array(items) => items
            .iter()
            .for_each(|item| reference_values(item, path, out)),
        Value::Object(map) if !path.is_empty() => {
            for take in 1..=path.len() {
                if let Some(child) = map.get(&path[..take].join(".")) {
                    reference_values(child, &path[take..], out);
                }
            }
        }
        _ if !path.is_empty() => {}
        Value::Null | Value::Object(_) => {}
        Value::Bool(b) => out.push(b.to_string()),
        Value::Number(n) => out.push(normalize_number(&n.to_string())),
        Value::String(s) => out.push(s.clone()),
    }
}

/// Numbers compare by value (serde prints them in its own shortest form).
fn normalize_number(text: &str) -> String {
    text.parse::<f64>()
        .map(|f| f.to_string())
        .unwrap_or_else(|_| text.to_owned())
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("a.b".to_owned()),
        Just("c".to_owned()),
        Just("b.c".to_owned()),
        "[a-c\"\\\\é]{0,3}"
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[a-z\"\\\\\u{e9}\u{1f600}\n]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn finds_exactly_the_values_a_document_walk_finds(
        fields in prop::collection::vec((arb_key(), arb_json()), 0..5)
    ) {
        // Build the text by hand so duplicate keys (which serde_json's map would merge) stay.
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), v))
            .collect();
        let text = format!("{{{}}}", body.join(","));
        let mut plan = FieldPlan::new();
        let paths = ["a", "a.b", "a.b.c", "b", "c"];
        let slots: Vec<_> = paths.iter().map(|p| plan.field(p)).collect();
        let mut out = Extracted::new();
        let view = extract(&plan, text.as_bytes(), &mut out).expect("valid JSON is read");
        for (path, slot) in paths.iter().zip(slots) {
            let mut expected = Vec::new();
            for (k, v) in &fields {
                let wrapper = Value::Object([(k.clone(), v.clone())].into_iter().collect());
                reference_values(&wrapper, &path.split('.').collect::<Vec<_>>(), &mut expected);
            }
            let mut got: Vec<String> = view
                .values(slot)
                .iter()
                .filter(|v| v.kind != Kind::Object)
                .map(|v| match v.kind {
                    // Numbers keep their source text; compare through serde's printing.
                    Kind::Num => normalize_number(view.text(v)),
                    _ => view.text(v).to_owned(),
                })
                .collect();
            got.sort();
            expected.sort();
            prop_assert_eq!(got, expected, "path {} in {}", path, text);
        }
    }

    #[test]
    fn accepts_and_rejects_like_serde_json(text in "[\\[\\]{}\",:0-9a-z. \\\\-]{0,40}") {
        let plan = FieldPlan::new();
        let mut out = Extracted::new();
        let ours = extract(&plan, text.as_bytes(), &mut out);
        let theirs: Result<Value, _> = serde_json::from_str(&text);
        match theirs {
            Ok(Value::Object(_)) => prop_assert!(ours.is_ok(), "{text}: {:?}", ours.err()),
            Ok(_) => prop_assert_eq!(ours.err().map(|e| e.reason()), Some("not_object"), "{}", text),
            Err(_) => prop_assert!(ours.is_err(), "{text} was accepted but serde_json rejects it"),
        }
    }
}

#[test]
fn long_strings_with_quotes_and_escapes_at_every_offset_are_read_whole() {
    let plan = {
        let mut p = FieldPlan::new();
        p.field("s");
        p
    };
    let mut out = Extracted::new();
    for len in 0..140 {
        for special in ["\\\"", "\\\\", "\\u00e9", "x"] {
            let content = format!("{}{special}{}", "a".repeat(len), "b".repeat(len % 9));
            let text = format!(r#"{{"s":"{content}","t":1}}"#);
            let expected: Value = serde_json::from_str(&text).expect("valid");
            let view = extract(&plan, text.as_bytes(), &mut out).expect("valid");
            let got = view.values(0).first().map(|v| view.text(v).to_owned());
            assert_eq!(got.as_deref(), expected["s"].as_str(), "{text}");
        }
    }
}
