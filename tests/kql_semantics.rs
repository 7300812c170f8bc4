//! KQL semantics, case by case (`testdata/kql/semantics.toml`): each query runs on its event
//! through the same reader and compiler as rules do, and must match exactly when Elasticsearch
//! would.

use rulestream::engine::compile_kql;
use rulestream::engine::matcher::{QuerySet, Scratch};
use rulestream::event::FieldPlan;

#[derive(serde::Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    query: String,
    event: String,
    matches: bool,
    #[serde(default)]
    note: String,
}

fn query_matches(query: &str, event: &str, data_stream: Option<&str>) -> Result<bool, String> {
    let mut plan = FieldPlan::new();
    let expr = compile_kql(query, &mut plan).map_err(|e| e.render(query))?;
    let set = QuerySet::new(plan, vec![expr], None);
    let mut scratch = Scratch::new();
    let mut matched = false;
    set.run(
        event.as_bytes(),
        data_stream,
        &mut scratch,
        |_| true,
        |_, _| true,
        |_, _| matched = true,
    )
    .map_err(|e| e.to_string())?;
    Ok(matched)
}

#[test]
fn every_semantics_case_matches_as_elasticsearch_would() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/kql/semantics.toml");
    let text = std::fs::read_to_string(path).expect("semantics table present");
    let cases: Cases = toml::from_str(&text).expect("semantics table parses");
    assert!(
        cases.case.len() > 50,
        "the table should not silently shrink"
    );
    let mut failures = Vec::new();
    for case in &cases.case {
        match query_matches(&case.query, &case.event, None) {
            Ok(got) if got == case.matches => {}
            Ok(got) => failures.push(format!(
                "{} on {} gave {got}, expected {} ({})",
                case.query, case.event, case.matches, case.note
            )),
            Err(e) => failures.push(format!("{}: {e}", case.query)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.case.len(),
        failures.join("\n")
    );
}

#[test]
fn keyword_values_longer_than_ignore_above_are_not_indexed() {
    let long = "a".repeat(1025);
    let event = format!(r#"{{"user_agent":{{"original":"{long}"}}}}"#);
    assert_eq!(
        query_matches("user_agent.original:*", &event, None),
        Ok(false)
    );
    assert_eq!(
        query_matches("user_agent.original:a*", &event, None),
        Ok(false)
    );
    assert_eq!(
        query_matches("not user_agent.original:*", &event, None),
        Ok(true)
    );
    let limit = format!(r#"{{"user_agent":{{"original":"{}"}}}}"#, "a".repeat(1024));
    assert_eq!(
        query_matches("user_agent.original:a*", &limit, None),
        Ok(true)
    );
    // ignore_above counts characters, not bytes: 1024 two-byte characters are still indexed.
    let wide = format!(r#"{{"user_agent":{{"original":"{}"}}}}"#, "é".repeat(1024));
    assert_eq!(
        query_matches("user_agent.original:*", &wide, None),
        Ok(true)
    );
    // Flattened fields have no such limit.
    let flat = format!(r#"{{"okta":{{"target":[{{"id":"{long}"}}]}}}}"#);
    assert_eq!(query_matches("okta.target.id:*", &flat, None), Ok(true));
}

#[test]
fn data_stream_fields_come_from_the_data_stream_when_the_document_lacks_them() {
    let q = "data_stream.dataset:okta.system";
    assert_eq!(
        query_matches(q, "{}", Some("logs-okta.system-default")),
        Ok(true)
    );
    assert_eq!(
        query_matches(q, "{}", Some("logs-aws.cloudtrail-default")),
        Ok(false)
    );
    assert_eq!(query_matches(q, "{}", None), Ok(false));
    // The document's own value wins.
    let own = r#"{"data_stream":{"dataset":"other"}}"#;
    assert_eq!(
        query_matches(q, own, Some("logs-okta.system-default")),
        Ok(false)
    );
}

#[test]
fn queries_elasticsearch_rejects_are_errors_with_the_offending_span() {
    let cases: &[(&str, &str, &str)] = &[
        ("source.as.number:abc", "abc", "not a number"),
        ("okta.security_context.is_proxy:yes", "yes", "not a boolean"),
        ("source.ip:10.0.0.*", "10.0.0.*", "wildcard"),
        ("source.ip:not-an-ip", "not-an-ip", "not an IP"),
        ("@timestamp:yesterday", "yesterday", "not a date"),
        ("event.original:x", "event.original", "not indexed"),
        (
            "okta.target:{ id:1 }",
            "okta.target:{ id:1 }",
            "not a nested field",
        ),
        ("source.as.number > 1*", "1*", "wildcards"),
    ];
    for (query, at, says) in cases {
        let mut plan = FieldPlan::new();
        let err = compile_kql(query, &mut plan).expect_err(query);
        let span = err.span();
        assert_eq!(
            &query[span.start..span.end],
            *at,
            "span of the error in {query}"
        );
        assert!(err.to_string().contains(says), "{query}: {err}");
        assert!(
            !err.is_unsupported(),
            "{query} is an error, not unsupported"
        );
    }
}

#[test]
fn alerts_do_not_depend_on_how_many_queries_share_the_plan() {
    // Compiling many queries into one plan must not change any query's verdict.
    let queries = [
        "event.action:a",
        "okta.target.id:x",
        "event.action:(a or b) and user.name:u",
        "not event.action:a",
    ];
    let events = [
        r#"{"event":{"action":"a"},"user":{"name":"u"}}"#,
        r#"{"okta":{"target":[{"id":"x"}]}}"#,
        "{}",
    ];
    let mut plan = FieldPlan::new();
    let exprs = queries
        .iter()
        .map(|q| compile_kql(q, &mut plan).expect(q))
        .collect();
    let set = QuerySet::new(plan, exprs, None);
    let mut scratch = Scratch::new();
    for event in events {
        let mut together = Vec::new();
        set.run(
            event.as_bytes(),
            None,
            &mut scratch,
            |_| true,
            |_, _| true,
            |i, _| together.push(i),
        )
        .expect("valid");
        let alone: Vec<usize> = queries
            .iter()
            .enumerate()
            .filter(|(_, q)| query_matches(q, event, None) == Ok(true))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(together, alone, "event {event}");
    }
}
