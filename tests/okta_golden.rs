//! Golden test: every raw event of upstream's `test-okta-system-yes-flattened-events.log`
//! normalizes to the document in its `-expected.json`, field by field.
//!
//! Comparison rules (each difference must be explained by one, or the test fails):
//! - Fleet/data-stream fields (`data_stream.*`, `event.dataset`, `event.module`,
//!   `event.ingested`) are not in upstream's expected file: their values are asserted here, then
//!   removed before comparing.
//! - `event.category`, `event.type`, `tags` are sets: the expected values must all be present,
//!   and extra values must come from the §6.2 category table entry (the expected file predates
//!   the table). A field present only because of the table counts as "tolerated".
//! - `user_agent.version`: Elasticsearch before 8.16.2 appended a trailing dot, which upstream's
//!   config declares dynamic (`^\d+\.\d+(\.|\..*)?$`): equal after removing a trailing dot
//!   counts as "tolerated".
//! - User agents use uap-core's regexes.yaml as shipped in the `uaparser` crate, GeoIP/ASN use
//!   MaxMind's test databases, both from `scripts/fetch-enrichment-data.sh`; compared exactly.
//!
//! Everything else, including `event.original` (exact text) and array order, must be equal.
//!
//! A second pass runs without the category table, i.e. as the pipeline version that wrote the
//! expected file, and then allows no tolerance on `event.category`/`event.type`/`tags` at all.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use rulestream::okta::{self, CategoryTable, Enrichment, EnrichmentConfig, NormalizeOptions};
use serde_json::{Map, Value};

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/okta-integration/"
);

fn cache(file: &str) -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.cache/enrichment")).join(file);
    assert!(
        p.exists(),
        "missing {}: run scripts/fetch-enrichment-data.sh to download the test enrichment data",
        p.display()
    );
    p
}

pub fn test_enrichment() -> Arc<Enrichment> {
    let cfg = EnrichmentConfig {
        geoip_city_db: Some(cache("GeoLite2-City-Test.mmdb")),
        geoip_asn_db: Some(cache("GeoLite2-ASN-Test.mmdb")),
        ua_regexes: Some(cache("regexes.yaml")),
    };
    match Enrichment::load(&cfg) {
        Ok(e) => Arc::new(e),
        Err(e) => panic!("{e} (run scripts/fetch-enrichment-data.sh)"),
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().unwrap_or_default().to_string())
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

#[derive(Default)]
struct Tally {
    compared: usize,
    equal: usize,
    tolerated: usize,
    different: usize,
}

fn version_tolerated(want: &Value, got: &Value) -> bool {
    let (Some(w), Some(g)) = (want.as_str(), got.as_str()) else {
        return false;
    };
    w.trim_end_matches('.') == g.trim_end_matches('.')
}

/// Current pipeline (with the §6.2 table): category/type/tags compared as sets with table extras.
#[test]
fn yes_flattened_events_match_upstream_expected_output() {
    run_golden(CategoryTable::builtin(), "with category table");
}

/// Without the table we are the pipeline version that wrote the expected file: the
/// category/type/tags arrays must then match exactly, order included.
#[test]
fn yes_flattened_events_match_exactly_without_the_category_table() {
    run_golden(CategoryTable::default(), "fixed lists only");
}

fn run_golden(table: CategoryTable, label: &str) {
    let input = std::fs::read_to_string(format!("{DATA}test-okta-system-yes-flattened-events.log"))
        .expect("fixture input readable");
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{DATA}test-okta-system-yes-flattened-events.log-expected.json"
        ))
        .expect("fixture expected readable"),
    )
    .expect("expected file is JSON");
    let expected = expected["expected"].as_array().cloned().unwrap_or_default();
    let lines: Vec<&str> = input.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        expected.len(),
        "one expected document per input line"
    );
    assert_eq!(lines.len(), 26);

    let now = Utc
        .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
        .single()
        .expect("valid time");
    let mut opts = NormalizeOptions::new(now);
    // The test runner sets `tags: [preserve_original_event]` and nothing else (config file).
    opts.preserve_original = true;
    opts.tags = Vec::new();
    opts.remove_flattened_debug = false;
    opts.enrichment = Some(test_enrichment());
    opts.categories = Arc::new(table.clone());
    let strict = table.is_empty();

    let mut tally: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    for (i, (line, want)) in lines.iter().zip(&expected).enumerate() {
        let got = okta::normalize_text(line, &opts);
        // The Map entry point must agree, with event.original equal as JSON.
        let raw: Map<String, Value> = serde_json::from_str(line).expect("input line is an object");
        let mut via_map = okta::normalize(raw, &opts);
        let mut via_text = got.clone();
        let a: Value = serde_json::from_str(via_map["event"]["original"].as_str().unwrap_or(""))
            .unwrap_or_default();
        let b: Value = serde_json::from_str(via_text["event"]["original"].as_str().unwrap_or(""))
            .unwrap_or_default();
        assert_eq!(
            a, b,
            "event {i}: event.original differs as JSON between normalize and normalize_text"
        );
        for d in [&mut via_map, &mut via_text] {
            okta::path::remove(d, "event.original");
        }
        assert_eq!(
            via_map, via_text,
            "event {i}: normalize and normalize_text disagree"
        );

        let mut got = got;
        for (p, v) in [
            ("data_stream.type", "logs"),
            ("data_stream.dataset", "okta.system"),
            ("data_stream.namespace", "default"),
            ("event.dataset", "okta.system"),
            ("event.module", "okta"),
            ("event.ingested", "2026-01-02T03:04:05Z"),
        ] {
            assert_eq!(
                okta::path::remove(&mut got, p),
                Some(Value::String(v.into())),
                "event {i}: {p}"
            );
        }
        got.remove("data_stream");
        assert_eq!(
            okta::document_id(&got),
            want["okta"]["uuid"].as_str(),
            "event {i}: _id"
        );

        let mut w = BTreeMap::new();
        let mut g = BTreeMap::new();
        flatten("", want, &mut w);
        flatten("", &Value::Object(got.clone()), &mut g);
        let entry = okta::path::get_str(&got, "okta.event_type")
            .and_then(|t| table.get(t))
            .cloned()
            .unwrap_or_default();
        let keys: std::collections::BTreeSet<&String> = w.keys().chain(g.keys()).collect();
        for key in keys {
            let t = tally.entry(key.clone()).or_default();
            t.compared += 1;
            let (wv, gv) = (w.get(key), g.get(key));
            if wv == gv {
                t.equal += 1;
                continue;
            }
            let extra_ok = |field: &str, allowed: &[String]| {
                let ws = strings(wv);
                let gs = strings(gv);
                key == field
                    && ws.iter().all(|x| gs.contains(x))
                    && gs.iter().all(|x| ws.contains(x) || allowed.contains(x))
            };
            let tolerated = (!strict && extra_ok("event.category", &entry.category))
                || (!strict && extra_ok("event.type", &entry.kind))
                || (!strict && extra_ok("tags", &entry.tags))
                || (key == "user_agent.version"
                    && matches!((wv, gv), (Some(a), Some(b)) if version_tolerated(a, b)));
            if tolerated {
                t.tolerated += 1;
            } else {
                t.different += 1;
                failures.push(format!("event {i} {key}: expected {wv:?}, got {gv:?}"));
            }
        }
    }

    println!("golden comparison, {label}:");
    println!(
        "{:<60} {:>8} {:>6} {:>9} {:>9}",
        "field", "compared", "equal", "tolerated", "different"
    );
    let mut total = Tally::default();
    for (field, t) in &tally {
        println!(
            "{field:<60} {:>8} {:>6} {:>9} {:>9}",
            t.compared, t.equal, t.tolerated, t.different
        );
        total.compared += t.compared;
        total.equal += t.equal;
        total.tolerated += t.tolerated;
        total.different += t.different;
    }
    println!(
        "{:<60} {:>8} {:>6} {:>9} {:>9}",
        format!("TOTAL ({} fields)", tally.len()),
        total.compared,
        total.equal,
        total.tolerated,
        total.different
    );
    assert!(
        failures.is_empty(),
        "{} unexplained differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn keys_recursive(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                out.push(k.clone());
                keys_recursive(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| keys_recursive(v, out)),
        _ => {}
    }
}

/// Upstream keeps no expected output of this vintage for the non-flattened input; we check the
/// mode's invariants (§5.2) on every event instead.
#[test]
fn no_flattened_events_follow_the_non_flattened_rules() {
    let input = std::fs::read_to_string(format!("{DATA}test-okta-system-no-flattened-events.log"))
        .expect("fixture input readable");
    let now = Utc
        .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
        .single()
        .expect("valid time");
    let mut opts = NormalizeOptions::new(now);
    opts.preserve_original = true;
    opts.tags = Vec::new();
    opts.remove_flattened_debug = true;
    let mut with_debug = 0;
    for (i, line) in input.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let raw: Value = serde_json::from_str(line).expect("input line is JSON");
        let doc = okta::normalize_text(line, &opts);
        assert!(
            !okta::is_pipeline_error(&doc),
            "event {i}: {:?}",
            doc.get("error")
        );
        let Some(dd) = okta::path::get(&doc, "okta.debug_context.debug_data") else {
            continue;
        };
        with_debug += 1;
        assert!(
            dd.get("flattened").is_none(),
            "event {i}: flattened copy in non-flattened mode"
        );
        let mut keys = Vec::new();
        keys_recursive(dd, &mut keys);
        assert!(
            keys.iter().all(|k| !k.contains([' ', '-'])),
            "event {i}: keys {keys:?}"
        );
        let raw_dd = &raw["debugContext"]["debugData"];
        for (from, to) in [
            ("requestId", "request_id"),
            ("requestUri", "request_uri"),
            ("url", "url"),
            ("dtHash", "dt_hash"),
        ] {
            if let Some(v) = raw_dd.get(from).filter(|v| !v.is_null()) {
                assert_eq!(dd.get(to), Some(v), "event {i}: {from} -> {to}");
                if from != to {
                    assert!(dd.get(from).is_none(), "event {i}: {from} left behind");
                }
            }
        }
        if let Some(Value::String(b)) = raw_dd.get("behaviors") {
            assert!(
                dd["behaviors"].is_object(),
                "event {i}: behaviors {b:?} not parsed"
            );
        }
    }
    assert!(with_debug >= 20, "only {with_debug} events had debug data");
}

/// `test-okta-system-events.log` is the first 24 lines of the yes-flattened input (README); with
/// the same options it must give the same documents.
#[test]
fn events_log_matches_the_yes_flattened_prefix() {
    let short =
        std::fs::read_to_string(format!("{DATA}test-okta-system-events.log")).expect("readable");
    let long = std::fs::read_to_string(format!("{DATA}test-okta-system-yes-flattened-events.log"))
        .expect("readable");
    let opts = NormalizeOptions::new(
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .expect("valid time"),
    );
    let short: Vec<&str> = short.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(short.len(), 24);
    for (i, (a, b)) in short.iter().zip(long.lines()).enumerate() {
        let (da, db) = (
            okta::normalize_text(a, &opts),
            okta::normalize_text(b, &opts),
        );
        assert!(!okta::is_pipeline_error(&da), "event {i}");
        let (mut va, mut vb) = (Value::Object(da), Value::Object(db));
        // The two files differ only in JSON formatting of some lines, if at all.
        for v in [&mut va, &mut vb] {
            if let Some(e) = v.get_mut("event").and_then(Value::as_object_mut) {
                e.remove("original");
            }
        }
        assert_eq!(va, vb, "event {i}");
    }
}
