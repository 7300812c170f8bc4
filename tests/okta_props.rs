//! Property tests for `okta::normalize`:
//! - it never panics, on arbitrary JSON objects and on realistic events with arbitrary values
//!   planted at the paths the pipeline reads;
//! - its output is always detected as ECS, so normalizing it again returns it unchanged
//!   (`normalize(normalize(x)) == normalize(x)`, the idempotence contract in `okta/mod.rs`);
//! - a raw event always yields a document with the data-stream fields and an `event.kind` of
//!   `event` or `pipeline_error`, and a failed document keeps `event.original`.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rulestream::okta::{self, path, Enrichment, EnrichmentConfig, InputKind, NormalizeOptions};
use serde_json::{json, Map, Value};

/// Keys the pipeline looks at, so random objects reach deep code paths, plus free text.
const KEYS: &[&str] = &[
    "eventType",
    "uuid",
    "published",
    "actor",
    "alternateId",
    "displayName",
    "id",
    "type",
    "client",
    "ipAddress",
    "userAgent",
    "rawUserAgent",
    "geographicalContext",
    "geolocation",
    "debugContext",
    "debugData",
    "behaviors",
    "risk",
    "logOnlySecurityData",
    "tunnels",
    "target",
    "detailEntry",
    "changeDetails",
    "from",
    "to",
    "device",
    "device_integrator",
    "outcome",
    "result",
    "securityContext",
    "asNumber",
    "request",
    "ipChain",
    "authenticationContext",
    "interface",
    "organization",
    "division",
    "team",
    "event",
    "original",
    "message",
    "json",
    "okta",
    "a.b",
    "",
    " ",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1e6f64..1e6).prop_map(|f| json!(f)),
        prop_oneof![
            Just("".to_string()),
            Just("null".to_string()),
            Just("{level=LOW}".to_string()),
            Just("{reasons=A, B, level=HIGH}".to_string()),
            Just("{New IP=POSITIVE, x}".to_string()),
            Just("{a.b=c, a=d, =e}".to_string()),
            Just("[{\"anonymous\":true}]".to_string()),
            Just("192.168.0.1".to_string()),
            Just("::1".to_string()),
            Just("User".to_string()),
            "\\PC{0,12}",
        ]
        .prop_map(Value::String),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(KEYS).prop_map(str::to_string),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(
        prop::sample::select(KEYS).prop_map(str::to_string),
        value(),
        0..8,
    )
    .prop_map(|m| m.into_iter().collect())
}

/// Paths the pipeline reads, where a realistic event gets an arbitrary value planted.
const PATHS: &[&str] = &[
    "eventType",
    "uuid",
    "published",
    "actor",
    "actor.alternateId",
    "actor.displayName",
    "client",
    "client.ipAddress",
    "client.userAgent.rawUserAgent",
    "client.geographicalContext",
    "debugContext.debugData",
    "debugContext.debugData.behaviors",
    "debugContext.debugData.risk",
    "debugContext.debugData.logOnlySecurityData",
    "debugContext.debugData.tunnels",
    "target",
    "device",
    "device.device_integrator",
    "outcome",
    "outcome.result",
    "securityContext",
    "securityContext.asNumber",
    "request.ipChain",
    "authenticationContext",
    "transaction",
];

fn realistic() -> Map<String, Value> {
    let v = json!({
        "actor": {"alternateId": "a@b.c", "displayName": "A", "id": "00u", "type": "User"},
        "client": {"ipAddress": "81.2.69.144", "userAgent": {"rawUserAgent": "curl/8"}, "zone": "null"},
        "debugContext": {"debugData": {"risk": "{level=LOW}", "behaviors": "{New IP=POSITIVE}"}},
        "eventType": "user.session.start", "outcome": {"result": "SUCCESS"},
        "published": "2024-01-01T00:00:00Z", "request": {"ipChain": [{"ip": "81.2.69.144"}]},
        "securityContext": {"asNumber": 1, "isProxy": false},
        "target": [{"type": "User", "id": "t", "displayName": "T"}], "uuid": "u-1"
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn opts(flattened: bool) -> NormalizeOptions {
    let mut o = NormalizeOptions::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("valid"),
    );
    o.remove_flattened_debug = !flattened;
    o
}

/// The test enrichment data (fails loudly when `scripts/fetch-enrichment-data.sh` was not run).
fn enrichment() -> Arc<Enrichment> {
    static LOADED: OnceLock<Arc<Enrichment>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.cache/enrichment"));
            let cfg = EnrichmentConfig {
                geoip_city_db: Some(dir.join("GeoLite2-City-Test.mmdb")),
                geoip_asn_db: Some(dir.join("GeoLite2-ASN-Test.mmdb")),
                ua_regexes: Some(dir.join("regexes.yaml")),
            };
            match Enrichment::load(&cfg) {
                Ok(e) => Arc::new(e),
                Err(e) => panic!("{e}: run scripts/fetch-enrichment-data.sh"),
            }
        })
        .clone()
}

fn check_contract(input: Map<String, Value>, o: &NormalizeOptions) -> Result<(), TestCaseError> {
    let raw = okta::detect(&input) == InputKind::RawOkta;
    let out = okta::normalize(input.clone(), o);
    prop_assert_eq!(okta::detect(&out), InputKind::Ecs);
    prop_assert_eq!(&okta::normalize(out.clone(), o), &out);
    if raw {
        prop_assert_eq!(
            path::get_str(&out, "data_stream.dataset"),
            Some("okta.system")
        );
        let kind = path::get_str(&out, "event.kind");
        prop_assert!(
            kind == Some("event") || kind == Some("pipeline_error"),
            "event.kind {:?}",
            kind
        );
        if okta::is_pipeline_error(&out) {
            prop_assert!(path::get(&out, "error.message").is_some());
            prop_assert!(path::get(&out, "event.original").is_some());
        }
    } else {
        prop_assert_eq!(out, input);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("testdata/okta/proptest-regressions.txt"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_objects_never_panic_and_are_idempotent(input in object(), flat in any::<bool>()) {
        check_contract(input.clone(), &opts(flat))?;
        // Forcing the Okta mapping must not panic either.
        let forced = okta::normalize_raw(&input, &opts(flat));
        prop_assert_eq!(okta::detect(&forced), InputKind::Ecs);
    }

    #[test]
    fn realistic_events_with_planted_values_never_panic(
        plants in prop::collection::vec((prop::sample::select(PATHS), value()), 1..4),
        flat in any::<bool>(),
    ) {
        let mut input = realistic();
        for (p, v) in plants {
            let _ = path::set(&mut input, p, v);
        }
        check_contract(input, &opts(flat))?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,64}") {
        let out = okta::normalize_text(&text, &opts(true));
        prop_assert_eq!(okta::detect(&out), InputKind::Ecs);
        prop_assert_eq!(path::get_str(&out, "event.module"), Some("okta"));
    }
}

proptest! {
    // User-agent parsing runs ~600 regexes per event in debug builds: fewer cases.
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("testdata/okta/proptest-regressions.txt"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn enrichment_never_panics_on_arbitrary_user_agents_and_ips(
        ua in prop_oneof!["\\PC{0,80}", "Mozilla/5\\.0 \\([A-Za-z0-9 ;._/]{0,40}\\) [A-Za-z]{1,10}/[0-9.]{1,12}"],
        ip in prop_oneof![
            any::<[u8; 4]>().prop_map(|b| std::net::Ipv4Addr::from(b).to_string()),
            any::<[u16; 8]>().prop_map(|b| std::net::Ipv6Addr::from(b).to_string()),
            Just("175.16.199.7".to_string()),
        ],
    ) {
        let mut input = realistic();
        let _ = path::set(&mut input, "client.userAgent.rawUserAgent", json!(ua));
        let _ = path::set(&mut input, "client.ipAddress", json!(ip));
        let mut o = opts(true);
        o.enrichment = Some(enrichment());
        let out = okta::normalize(input, &o);
        prop_assert_eq!(path::get_str(&out, "source.ip"), Some(ip.as_str()));
        if !ua.is_empty() {
            prop_assert!(path::get_str(&out, "user_agent.name").is_some());
        }
    }
}
