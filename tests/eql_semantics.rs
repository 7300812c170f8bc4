//! Table-driven single-event EQL semantics (`testdata/eql/semantics.toml`), plus compile-time
//! rejections that Elasticsearch makes too.

use rulestream::eql::{self, EqlErrorKind};
use rulestream::event::{extract, Extracted, FieldPlan};

#[derive(serde::Deserialize)]
struct Table {
    case: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    query: String,
    event: String,
    matches: bool,
    #[allow(dead_code)]
    why: Option<String>,
}

fn eval(query: &str, event: &str) -> Result<bool, String> {
    let ast = eql::parse(query).map_err(|e| e.render(query))?;
    let mut plan = FieldPlan::new();
    let eql::CompiledQuery::Event(expr) =
        eql::compile_query(&ast, &mut plan).map_err(|e| e.render(query))?
    else {
        return Err("not an event query".into());
    };
    let mut out = Extracted::new();
    let view = extract(&plan, event.as_bytes(), &mut out).map_err(|e| format!("{e:?}"))?;
    Ok(expr.eval(&view))
}

#[test]
fn semantics_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/eql/semantics.toml");
    let table: Table =
        toml::from_str(&std::fs::read_to_string(path).expect("table")).expect("toml");
    assert!(table.case.len() >= 50);
    let mut failures = Vec::new();
    for c in &table.case {
        match eval(&c.query, &c.event) {
            Ok(got) if got == c.matches => {}
            Ok(got) => failures.push(format!("{}: {} on {} gave {got}", c.name, c.query, c.event)),
            Err(e) => failures.push(format!("{}: {e}", c.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn compile_rejects_what_elasticsearch_rejects() {
    let cases = [
        ("any where wildcard(a, \"x*\")", "like"),
        ("any where length~(a) == 1", "no case-insensitive"),
        ("any where nosuch(a)", "unknown function"),
        ("any where a[0] == 1", "array indexes"),
        ("any where a : b", "constant pattern"),
        ("any where a regex \"(\"", "valid pattern"),
        ("any where cidrMatch(source.ip, \"nope\")", "CIDR"),
        ("any where startsWith(a)", "2 argument"),
        ("any where source.ip == \"not-an-ip\"", "IP address"),
    ];
    for (q, text) in cases {
        let err = eql::parse(q)
            .and_then(|ast| eql::compile_query(&ast, &mut FieldPlan::new()).map(|_| ()))
            .expect_err(q);
        assert!(
            matches!(err.kind, EqlErrorKind::Invalid | EqlErrorKind::Unexpected),
            "{q}: {err:?}"
        );
        assert!(err.render(q).contains(text), "{q}: {}", err.render(q));
    }
}

#[test]
fn sequence_exposes_steps_keys_and_flags() {
    let q = "sequence by user.name with maxspan=30m \
             [authentication where event.outcome == \"failure\"] by source.ip with runs=3 \
             ![any where event.action == \"mfa\"] by source.ip \
             [any where event.outcome == \"success\"] by source.ip \
             until [any where event.action == \"logout\"] by source.ip";
    let ast = eql::parse(q).expect("parses");
    let mut plan = FieldPlan::new();
    let eql::CompiledQuery::Sequence(seq) = eql::compile_query(&ast, &mut plan).expect("compiles")
    else {
        panic!("sequence expected")
    };
    assert_eq!(seq.maxspan, Some(std::time::Duration::from_secs(1800)));
    assert_eq!(plan.path(seq.by[0]), "user.name");
    assert_eq!(
        seq.steps
            .iter()
            .map(|s| (s.runs, s.missing))
            .collect::<Vec<_>>(),
        [(3, false), (1, true), (1, false)]
    );
    assert!(seq.steps.iter().all(|s| plan.path(s.by[0]) == "source.ip"));
    let mut out = Extracted::new();
    let ev = br#"{"event":{"category":"authentication","outcome":"failure"}}"#;
    let view = extract(&plan, ev, &mut out).expect("event");
    assert!(seq.steps[0].condition.eval(&view));
    assert!(!seq.steps[2].condition.eval(&view));
    let until = seq.until.as_ref().expect("until");
    assert!(!until.condition.eval(&view));
    // Different numbers of keys per step are rejected, as Elasticsearch's verifier does.
    let bad = "sequence [any where a] by x [any where b]";
    let err = eql::compile_query(&eql::parse(bad).expect("parses"), &mut plan).expect_err(bad);
    assert_eq!(err.kind, EqlErrorKind::Invalid);
}

/// The Okta integration's own pipeline output (real ECS documents): categories are arrays and
/// `okta.debug_context.debug_data.flattened` is a flattened object. The expectation is computed
/// from the JSON with serde, independently of the event reader.
#[test]
fn okta_integration_documents() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/okta-integration/test-okta-system-yes-flattened-events.log-expected.json"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("okta expected events"))
            .expect("json");
    let events = doc["expected"].as_array().expect("expected events");
    assert!(events.len() > 10);
    let query = r#"authentication where okta.event_type : "USER.*" and source.ip != null"#;
    let mut matched = 0;
    for ev in events {
        let categories: Vec<&str> = match &ev["event"]["category"] {
            serde_json::Value::Array(a) => a.iter().filter_map(|c| c.as_str()).collect(),
            serde_json::Value::String(s) => vec![s.as_str()],
            _ => vec![],
        };
        let event_type = ev["okta"]["event_type"].as_str().unwrap_or("");
        let want = categories.contains(&"authentication")
            && event_type.to_lowercase().starts_with("user.")
            && !ev["source"]["ip"].is_null();
        let got = eval(query, &ev.to_string()).expect("evaluates");
        assert_eq!(got, want, "{}", ev["event"]["id"]);
        matched += usize::from(got);
    }
    assert!(
        matched > 0,
        "the query matches some of the integration's events"
    );
}
