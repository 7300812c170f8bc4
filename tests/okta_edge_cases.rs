//! Table tests for the edge cases of `shared/docs/okta-ecs-mapping.md` §10, plus the failure
//! behaviour of §8 and the option switches. Each row patches a realistic base event, normalizes
//! it, and checks named fields (a value, absence, or a substring of a string/array field).

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use rulestream::okta::{
    self, path, Enrichment, EnrichmentConfig, InputFormat, InputKind, NormalizeOptions,
};
use serde_json::{json, Map, Value};

#[derive(Debug)]
enum Expect {
    Eq(Value),
    Absent,
    /// The field (string, or array of strings) contains this text.
    Contains(&'static str),
}
use Expect::*;

fn base() -> Value {
    json!({
        "actor": {"alternateId": "jane@example.com", "displayName": "Jane Doe", "id": "00u1", "type": "User", "detailEntry": null},
        "authenticationContext": {"authenticationStep": 0, "externalSessionId": "102abc", "credentialType": null, "interface": null},
        "client": {
            "device": "Computer", "id": null, "ipAddress": "81.2.69.144", "zone": "null",
            "geographicalContext": {"city": "London", "country": "United Kingdom", "state": "England", "postalCode": "E1", "geolocation": {"lat": 51.5, "lon": -0.1}},
            "userAgent": {"browser": "FIREFOX", "os": "Mac OS X", "rawUserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:72.0) Gecko/20100101 Firefox/72.0"}
        },
        "debugContext": {"debugData": {"requestId": "r1", "threatSuspected": "false", "url": "/x?"}},
        "displayMessage": "User login to Okta",
        "eventType": "user.session.start",
        "legacyEventType": "core.user_auth.login_success",
        "outcome": {"result": "SUCCESS", "reason": null},
        "published": "2024-05-17T05:51:20.123Z",
        "request": {"ipChain": [{"ip": "81.2.69.144", "source": null, "version": "V4", "geographicalContext": {"city": "London", "postalCode": "E1"}}]},
        "securityContext": {"asNumber": 20712, "asOrg": "andrews & arnold", "domain": "aa.net.uk", "isProxy": false, "isp": "aaisp"},
        "severity": "INFO",
        "target": null,
        "transaction": {"detail": {}, "id": "t1", "type": "WEB"},
        "uuid": "11111111-2222-3333-4444-555555555555",
        "version": "0"
    })
}

/// Deep merge: objects merge recursively, anything else (and `{}`) replaces; the string
/// "<delete>" removes.
fn merge(dst: &mut Value, patch: &Value) {
    match (dst, patch) {
        (Value::Object(d), Value::Object(p)) => {
            for (k, v) in p {
                if v == "<delete>" {
                    d.remove(k);
                } else if v.as_object().is_some_and(Map::is_empty) {
                    d.insert(k.clone(), v.clone()); // `{}` replaces, to test empty objects
                } else if let Some(slot) = d.get_mut(k) {
                    merge(slot, v);
                } else {
                    d.insert(k.clone(), v.clone());
                }
            }
        }
        (d, p) => *d = p.clone(),
    }
}

fn enrichment() -> Arc<Enrichment> {
    static LOADED: std::sync::OnceLock<Arc<Enrichment>> = std::sync::OnceLock::new();
    LOADED.get_or_init(load_enrichment).clone()
}

fn load_enrichment() -> Arc<Enrichment> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.cache/enrichment"));
    let cfg = EnrichmentConfig {
        geoip_city_db: Some(dir.join("GeoLite2-City-Test.mmdb")),
        geoip_asn_db: Some(dir.join("GeoLite2-ASN-Test.mmdb")),
        ua_regexes: Some(dir.join("regexes.yaml")),
    };
    match Enrichment::load(&cfg) {
        Ok(e) => Arc::new(e),
        Err(e) => {
            panic!("{e}: run scripts/fetch-enrichment-data.sh to download the test enrichment data")
        }
    }
}

fn opts() -> NormalizeOptions {
    let mut o = NormalizeOptions::new(
        Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7)
            .single()
            .expect("valid"),
    );
    o.enrichment = Some(enrichment());
    o
}

fn check(name: &str, doc: &Map<String, Value>, expects: &[(&str, Expect)]) {
    for (field, want) in expects {
        let got = path::get(doc, field);
        let ok = match (want, got) {
            (Eq(w), Some(g)) => w == g,
            (Absent, None) => true,
            (Contains(s), Some(Value::String(g))) => g.contains(s),
            (Contains(s), Some(Value::Array(a))) => {
                a.iter().any(|x| x.as_str().is_some_and(|x| x.contains(s)))
            }
            _ => false,
        };
        assert!(
            ok,
            "case {name:?}: field {field}: expected {want:?}, got {got:?}\ndoc: {}",
            Value::Object(doc.clone())
        );
    }
}

type Case = (
    &'static str,
    Value,
    fn(&mut NormalizeOptions),
    Vec<(&'static str, Expect)>,
);

fn keep(_: &mut NormalizeOptions) {}
fn non_flattened(o: &mut NormalizeOptions) {
    o.remove_flattened_debug = true;
}

#[test]
fn mapping_doc_edge_cases() {
    let cases: Vec<Case> = vec![
        (
            "nulls are removed before mapping",
            json!({}),
            keep,
            vec![
                ("okta.client.id", Absent),
                ("okta.target", Absent),
                ("okta.actor.detail_entry", Absent),
                ("okta.authentication_context.credential_type", Absent),
                ("okta.outcome.reason", Absent),
                (
                    "okta.request.ip_chain",
                    Eq(
                        json!([{"ip": "81.2.69.144", "version": "V4", "geographical_context": {"city": "London", "postal_code": "E1"}}]),
                    ),
                ),
                ("okta.transaction.detail", Absent),
                ("okta.severity", Absent),
                ("okta.version", Absent),
            ],
        ),
        (
            "fully null client vanishes",
            json!({"client": {"device": null, "id": null, "ipAddress": null, "zone": null, "geographicalContext": null, "userAgent": null}}),
            keep,
            vec![
                ("client.geo", Absent),
                ("client.ip", Absent),
                ("okta.client", Absent),
                ("source.ip", Absent),
                ("related.ip", Absent),
                ("user_agent", Absent),
                // client.user.* comes from the actor, not from Okta's client object.
                ("client.user.name", Eq(json!("jane@example.com"))),
            ],
        ),
        (
            "empty client, debugData and ipChain vanish",
            json!({"client": {}, "debugContext": {"debugData": {}}, "request": {"ipChain": []}}),
            keep,
            vec![
                ("okta.client", Absent),
                ("okta.debug_context", Absent),
                ("okta.request", Absent),
            ],
        ),
        (
            "string null ip gives no ip fields but maps the rest",
            json!({"client": {"ipAddress": "null"}}),
            keep,
            vec![
                ("okta.client.ip", Absent),
                ("client.ip", Absent),
                ("source.ip", Absent),
                ("related.ip", Absent),
                ("source.geo", Absent),
                ("source.as", Absent),
                ("okta.client.zone", Eq(json!("null"))),
                ("client.geo.city_name", Eq(json!("London"))),
                ("okta.client.device", Eq(json!("Computer"))),
            ],
        ),
        (
            "invalid ip text is skipped",
            json!({"client": {"ipAddress": "10.0.0.999"}}),
            keep,
            vec![("client.ip", Absent), ("source.ip", Absent)],
        ),
        (
            "ipv6 literal is kept as text",
            json!({"client": {"ipAddress": "2a02:cf40::1"}}),
            keep,
            vec![
                ("okta.client.ip", Eq(json!("2a02:cf40::1"))),
                ("related.ip", Eq(json!(["2a02:cf40::1"]))),
            ],
        ),
        (
            "private ip: ip fields but no geo",
            json!({"client": {"ipAddress": "192.168.1.10"}}),
            keep,
            vec![
                ("client.ip", Eq(json!("192.168.1.10"))),
                ("source.ip", Eq(json!("192.168.1.10"))),
                ("source.geo", Absent),
                ("source.as", Absent),
            ],
        ),
        (
            "loopback ip: no geo",
            json!({"client": {"ipAddress": "127.0.0.1"}}),
            keep,
            vec![
                ("related.ip", Eq(json!(["127.0.0.1"]))),
                ("source.geo", Absent),
            ],
        ),
        (
            "test-db ip gets geo and asn",
            json!({"client": {"ipAddress": "67.43.156.14"}}),
            keep,
            vec![
                ("source.geo.country_iso_code", Eq(json!("BT"))),
                ("source.as.number", Eq(json!(35908))),
                ("source.as.organization", Absent),
                // Okta's own AS data is not copied to source.as/client.as.number.
                ("client.as.number", Absent),
                ("client.as.organization.name", Eq(json!("andrews & arnold"))),
            ],
        ),
        (
            "string booleans stay strings, json booleans stay booleans",
            json!({
                "debugContext": {"debugData": {"threatSuspected": "true"}}, "securityContext": {"isProxy": true},
                "device": {"managed": false, "registered": true, "jailbreak": null, "device_integrator": "{\"WSC\":{}}"}
            }),
            keep,
            vec![
                (
                    "okta.debug_context.debug_data.threat_suspected",
                    Eq(json!("true")),
                ),
                (
                    "okta.debug_context.debug_data.flattened.threatSuspected",
                    Eq(json!("true")),
                ),
                ("okta.security_context.is_proxy", Eq(json!(true))),
                ("okta.device.managed", Eq(json!(false))),
                ("okta.device.registered", Eq(json!(true))),
                ("okta.device.jailbreak", Absent),
                ("okta.device.device_integrator", Eq(json!({"WSC": {}}))),
            ],
        ),
        (
            "numbers stay numbers, zero geolocation kept",
            json!({"client": {"geographicalContext": {"geolocation": {"lat": 0.0, "lon": 0.0}}}}),
            keep,
            vec![
                ("okta.security_context.as.number", Eq(json!(20712))),
                (
                    "okta.authentication_context.authentication_step",
                    Eq(json!(0)),
                ),
                ("client.geo.location", Eq(json!({"lat": 0.0, "lon": 0.0}))),
            ],
        ),
        (
            "list-looking strings and nested objects stay in flattened",
            json!({"debugContext": {"debugData": {
                "promptingPolicyTypes": "[OKTA_SIGN_ON]", "originalPrincipal": {"id": "00u9", "type": "User"},
                "privilegeGranted": "Super administrator", "authnRequestId": "a1"
            }}}),
            keep,
            vec![
                (
                    "okta.debug_context.debug_data.flattened.promptingPolicyTypes",
                    Eq(json!("[OKTA_SIGN_ON]")),
                ),
                (
                    "okta.debug_context.debug_data.flattened.originalPrincipal",
                    Eq(json!({"id": "00u9", "type": "User"})),
                ),
                (
                    "okta.debug_context.debug_data.flattened.privilegeGranted",
                    Eq(json!("Super administrator")),
                ),
                ("okta.debug_context.debug_data.authn_request_id", Absent),
                ("okta.debug_context.debug_data.privilege_granted", Absent),
            ],
        ),
        (
            "system actor without client",
            json!({
                "actor": {"alternateId": "system@okta.com", "displayName": "Okta System", "id": "0oa1", "type": "SystemPrincipal"},
                "client": "<delete>", "request": "<delete>", "securityContext": "<delete>",
                "target": [{"type": "AppUser", "id": "a", "alternateId": "x@y", "displayName": "X"}, {"type": "User", "id": "u", "alternateId": "t@y", "displayName": "Tee"}]
            }),
            keep,
            vec![
                ("user.email", Eq(json!("system@okta.com"))),
                ("user.name", Eq(json!("system@okta.com"))),
                ("client.ip", Absent),
                ("source.ip", Absent),
                ("related.ip", Absent),
                ("user.target.full_name", Eq(json!("Tee"))),
                (
                    "related.user",
                    Eq(json!(["Okta System", "Tee", "system@okta.com"])),
                ),
                ("user.id", Absent),
                ("client.user.id", Eq(json!("0oa1"))),
                ("source.user.full_name", Eq(json!("Okta System"))),
            ],
        ),
        (
            "alternate id with leading @ is not an email",
            json!({"actor": {"alternateId": "@jane"}}),
            keep,
            vec![
                ("user.name", Eq(json!("@jane"))),
                ("user.email", Absent),
                ("client.user.email", Absent),
            ],
        ),
        (
            "unknown user agent",
            json!({"client": {"userAgent": {"rawUserAgent": "blah"}}}),
            keep,
            vec![
                ("user_agent.name", Eq(json!("Other"))),
                ("user_agent.device.name", Eq(json!("Other"))),
                ("user_agent.os", Absent),
                ("user_agent.version", Absent),
                ("user_agent.original", Eq(json!("blah"))),
            ],
        ),
        (
            "risk reasons with comma use the fallback",
            json!({"debugContext": {"debugData": {"risk": "{reasons=Anomalous Device, Anomalous Location, level=HIGH}"}}}),
            keep,
            vec![
                (
                    "okta.debug_context.debug_data.flattened.risk",
                    Eq(json!({"level": "HIGH", "reasons": "Anomalous Device, Anomalous Location"})),
                ),
                (
                    "okta.debug_context.debug_data.flattened.risk_object",
                    Eq(json!(
                        "{reasons=Anomalous Device, Anomalous Location, level=HIGH}"
                    )),
                ),
                (
                    "okta.debug_context.debug_data.risk_level",
                    Eq(json!("HIGH")),
                ),
                (
                    "okta.debug_context.debug_data.risk_reasons",
                    Eq(json!(["Anomalous Device", "Anomalous Location"])),
                ),
            ],
        ),
        (
            "clean risk and behaviors",
            json!({"debugContext": {"debugData": {"risk": "{level=LOW}", "behaviors": "{New IP=POSITIVE, New Device=NEGATIVE, New Geo-Location=POSITIVE}"}}}),
            keep,
            vec![
                (
                    "okta.debug_context.debug_data.flattened.risk",
                    Eq(json!({"level": "LOW"})),
                ),
                (
                    "okta.debug_context.debug_data.flattened.risk_object",
                    Absent,
                ),
                (
                    "okta.debug_context.debug_data.flattened.behaviors",
                    Eq(
                        json!({"New IP": "POSITIVE", "New Device": "NEGATIVE", "New Geo-Location": "POSITIVE"}),
                    ),
                ),
                // Java HashMap order of the kv result (hash("New Geo-Location") buckets before "New IP").
                (
                    "okta.debug_context.debug_data.risk_behaviors",
                    Eq(json!(["New Geo-Location", "New IP"])),
                ),
            ],
        ),
        (
            "tunnels json is parsed",
            json!({"debugContext": {"debugData": {"tunnels": "[{\"anonymous\":true,\"operator\":\"WARP_VPN\",\"type\":\"VPN\"}]"}}}),
            keep,
            vec![
                (
                    "okta.debug_context.debug_data.flattened.tunnels",
                    Eq(json!([{"anonymous": true, "operator": "WARP_VPN", "type": "VPN"}])),
                ),
                ("error", Absent),
            ],
        ),
        (
            "invalid tunnels: error message, event still an event",
            json!({"debugContext": {"debugData": {"tunnels": "[oops"}}}),
            keep,
            vec![
                (
                    "okta.debug_context.debug_data.flattened.tunnels",
                    Eq(json!("[oops")),
                ),
                ("error.message", Contains("tunnels")),
                ("event.kind", Eq(json!("event"))),
            ],
        ),
        (
            "invalid tunnels in non-flattened mode are deleted",
            json!({"debugContext": {"debugData": {"tunnels": "[oops"}}}),
            non_flattened,
            vec![
                ("okta.debug_context.debug_data.tunnels", Absent),
                ("error.message", Contains("tunnels")),
            ],
        ),
        (
            "client secret is promoted in clear text",
            json!({"debugContext": {"debugData": {"clientSecret": "s3cr3t", "grantType": "client_credentials"}}}),
            keep,
            vec![
                (
                    "okta.debug_context.debug_data.client_secret",
                    Eq(json!("s3cr3t")),
                ),
                (
                    "okta.debug_context.debug_data.grant_type",
                    Eq(json!("client_credentials")),
                ),
                (
                    "okta.debug_context.debug_data.flattened.grantType",
                    Eq(json!("client_credentials")),
                ),
            ],
        ),
        (
            "non-flattened mode renames and underscores keys",
            json!({"debugContext": {"debugData": {
                "behaviors": "{New Geo-Location=POSITIVE}", "dtHash": "h", "url": "/u", "promptingPolicyTypes": "[X]", "clientSecret": "c"
            }}}),
            non_flattened,
            vec![
                ("okta.debug_context.debug_data.flattened", Absent),
                ("okta.debug_context.debug_data.dt_hash", Eq(json!("h"))),
                ("okta.debug_context.debug_data.url", Eq(json!("/u"))),
                (
                    "okta.debug_context.debug_data.promptingPolicyTypes",
                    Eq(json!("[X]")),
                ),
                (
                    "okta.debug_context.debug_data.behaviors",
                    Eq(json!({"New_Geo_Location": "POSITIVE"})),
                ),
                (
                    "okta.debug_context.debug_data.risk_behaviors",
                    Eq(json!(["New Geo-Location"])),
                ),
                (
                    "okta.debug_context.debug_data.client_secret",
                    Eq(json!("c")),
                ),
                ("okta.debug_context.debug_data.request_id", Eq(json!("r1"))),
            ],
        ),
        (
            "malformed behaviors fail only the debug sub-pipeline",
            json!({"debugContext": {"debugData": {"behaviors": "{New IP}", "risk": "{level=LOW}"}}}),
            keep,
            vec![
                ("event.kind", Eq(json!("pipeline_error"))),
                ("error.message", Contains("Processor 'kv'")),
                ("okta.debug_context.debug_data.risk_level", Absent),
                ("event.outcome", Eq(json!("success"))),
                ("event.action", Eq(json!("user.session.start"))),
            ],
        ),
        (
            "invalid device_integrator fails the document but keeps earlier fields",
            json!({"device": {"device_integrator": "{bad"}}),
            keep,
            vec![
                ("event.kind", Eq(json!("pipeline_error"))),
                ("error.message", Contains("Processor 'json'")),
                ("okta.event_type", Eq(json!("user.session.start"))),
                ("okta.actor.id", Eq(json!("00u1"))),
                ("event.original", Contains("\"eventType\"")),
                ("tags", Contains("preserve_original_event")),
                ("data_stream.dataset", Eq(json!("okta.system"))),
                ("event.outcome", Absent),
            ],
        ),
        (
            "target without type fails the document",
            json!({"target": [{"id": "x"}]}),
            keep,
            vec![
                ("event.kind", Eq(json!("pipeline_error"))),
                ("error.message", Contains("script")),
                ("event.action", Eq(json!("user.session.start"))),
            ],
        ),
        (
            "outcome ALLOW is success",
            json!({"outcome": {"result": "ALLOW"}}),
            keep,
            vec![
                ("event.outcome", Eq(json!("success"))),
                ("okta.outcome.result", Eq(json!("ALLOW"))),
            ],
        ),
        (
            "outcome DENY is failure",
            json!({"outcome": {"result": "DENY"}}),
            keep,
            vec![("event.outcome", Eq(json!("failure")))],
        ),
        (
            "outcome CHALLENGE is unknown",
            json!({"outcome": {"result": "CHALLENGE"}}),
            keep,
            vec![("event.outcome", Eq(json!("unknown")))],
        ),
        (
            "missing outcome is unknown",
            json!({"outcome": "<delete>"}),
            keep,
            vec![
                ("event.outcome", Eq(json!("unknown"))),
                ("okta.outcome", Absent),
            ],
        ),
        (
            "interface lands in authentication_provider when free",
            json!({"authenticationContext": {"interface": "Outlook"}}),
            keep,
            vec![
                (
                    "okta.authentication_context.authentication_provider",
                    Eq(json!("Outlook")),
                ),
                ("okta.authentication_context.interface", Absent),
            ],
        ),
        (
            "interface is lost when provider is set",
            json!({"authenticationContext": {"interface": "Outlook", "authenticationProvider": "OKTA"}}),
            keep,
            vec![(
                "okta.authentication_context.authentication_provider",
                Eq(json!("OKTA")),
            )],
        ),
        (
            "root session id and issuer",
            json!({"authenticationContext": {"rootSessionId": "rs1", "issuer": {"id": "i1", "type": "T"}}}),
            keep,
            vec![
                (
                    "okta.authentication_context.root_session_id",
                    Eq(json!("rs1")),
                ),
                ("okta.authentication_context.issuer.id", Eq(json!("i1"))),
            ],
        ),
        (
            "four-part browser version is kept whole, as Elasticsearch reports it",
            json!({"client": {"userAgent": {"rawUserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36"}}}),
            keep,
            vec![
                ("user_agent.name", Eq(json!("Chrome"))),
                ("user_agent.version", Eq(json!("120.0.6099.109"))),
                ("user_agent.os.full", Eq(json!("Mac OS X 10.15.7"))),
            ],
        ),
        (
            "event.created comes from the options, event.ingested from now",
            json!({}),
            |o| o.created = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 0).single(),
            vec![
                ("event.created", Eq(json!("2026-03-04T05:06:00.000Z"))),
                ("event.ingested", Eq(json!("2026-03-04T05:06:07Z"))),
            ],
        ),
        (
            "unrecognisable risk keeps the brace-stripped text and risk_object",
            json!({"debugContext": {"debugData": {"risk": "{oops}"}}}),
            keep,
            vec![
                (
                    "okta.debug_context.debug_data.flattened.risk",
                    Eq(json!("oops")),
                ),
                (
                    "okta.debug_context.debug_data.flattened.risk_object",
                    Eq(json!("{oops}")),
                ),
                ("okta.debug_context.debug_data.risk_level", Absent),
                ("event.kind", Eq(json!("event"))),
            ],
        ),
        (
            "unparseable published keeps the processing time",
            json!({"published": "yesterday"}),
            keep,
            vec![("@timestamp", Eq(json!("2026-03-04T05:06:07.000Z")))],
        ),
        (
            "event.original dropped by default",
            json!({"eventType": "not.in.table"}),
            keep,
            vec![
                ("event.original", Absent),
                ("message", Absent),
                ("tags", Eq(json!(["forwarded", "okta-system"]))),
            ],
        ),
        (
            "category table adds values for auth_via_mfa",
            json!({"eventType": "user.authentication.auth_via_mfa"}),
            keep,
            vec![
                ("event.category", Eq(json!(["authentication"]))),
                ("event.type", Eq(json!(["info"]))),
                ("tags", Contains("mfa")),
            ],
        ),
        (
            "unknown event type gets no category and no marker fields",
            json!({"eventType": "brand.new.thing"}),
            keep,
            vec![
                ("event.category", Absent),
                ("event.type", Absent),
                ("event.pipeline", Absent),
                ("event.message", Absent),
                ("error", Absent),
            ],
        ),
        (
            "data stream fields are always set",
            json!({}),
            |o| o.namespace = "prod".into(),
            vec![
                ("data_stream.namespace", Eq(json!("prod"))),
                ("data_stream.type", Eq(json!("logs"))),
                ("event.module", Eq(json!("okta"))),
                ("event.dataset", Eq(json!("okta.system"))),
                ("event.ingested", Eq(json!("2026-03-04T05:06:07Z"))),
            ],
        ),
        (
            "okta_url becomes host.name",
            json!({}),
            |o| o.okta_url = Some("https://dev-123.okta.com:443/api".into()),
            vec![
                ("host.name", Eq(json!("dev-123.okta.com"))),
                ("okta_url", Absent),
            ],
        ),
    ];
    for (name, patch, tweak, expects) in cases {
        let mut raw = base();
        merge(&mut raw, &patch);
        let Value::Object(raw) = raw else {
            unreachable!("base is an object")
        };
        let mut o = opts();
        tweak(&mut o);
        let doc = okta::normalize(raw, &o);
        check(name, &doc, &expects);
        assert_eq!(
            okta::detect(&doc),
            InputKind::Ecs,
            "case {name:?}: output must detect as ECS"
        );
    }
}

#[test]
fn preset_event_original_is_kept_with_a_warning() {
    let o = opts();
    let mut doc = Map::new();
    doc.insert("message".into(), json!(base().to_string()));
    doc.insert(
        "event".into(),
        json!({"original": "{\"eventType\":\"x.y\",\"uuid\":\"u\"}"}),
    );
    let out = okta::normalize_collector_doc(doc, &o);
    check(
        "preset event.original",
        &out,
        &[
            (
                "error.message",
                Eq(json!([
                    "event.original is set before start of ingest pipeline"
                ])),
            ),
            ("event.original", Absent), // no preserve tag: removed at the end as usual
            ("okta.event_type", Eq(json!("x.y"))),
            ("message", Absent),
        ],
    );
}

/// Step 1 acts on collector fields next to `message`, not on LogEvent fields.
#[test]
fn agentless_collector_fields_are_dropped_only_when_all_three_are_strings() {
    let o = opts();
    let collector = |extra: Value| {
        let mut doc = Map::new();
        doc.insert("message".into(), json!(base().to_string()));
        if let Value::Object(m) = extra {
            doc.extend(m);
        }
        okta::normalize_collector_doc(doc, &o)
    };
    let all = collector(json!({"organization": "o", "division": "d", "team": "t"}));
    check(
        "all three strings",
        &all,
        &[
            ("organization", Absent),
            ("division", Absent),
            ("team", Absent),
        ],
    );
    let partial = collector(json!({"organization": "o", "division": "d", "team": 3}));
    check(
        "team not a string",
        &partial,
        &[("organization", Eq(json!("o"))), ("team", Eq(json!(3)))],
    );
}

#[test]
fn multi_object_message_is_a_pipeline_error_that_keeps_the_original() {
    let o = opts();
    let text = format!("{}\n{}", base(), base());
    let out = okta::normalize_text(&text, &o);
    check(
        "multi-object message",
        &out,
        &[
            ("event.kind", Eq(json!("pipeline_error"))),
            (
                "error.message",
                Contains("Processor 'json' with tag 'json_event_original'"),
            ),
            ("event.original", Eq(json!(text))),
            ("tags", Contains("preserve_original_event")),
            ("event.module", Eq(json!("okta"))),
        ],
    );
}

#[test]
fn preserve_original_keeps_exact_text() {
    let mut o = opts();
    o.preserve_original = true;
    let text = r#"{"eventType":"user.session.start","uuid":"u1","url":"a\u0026b"}"#;
    let out = okta::normalize_text(text, &o);
    assert_eq!(path::get_str(&out, "event.original"), Some(text));
    // user.session.start's table tags are merged in Java HashSet order (mapping doc §6.3).
    let want = json!([
        "session",
        "okta-system",
        "end-user-visible",
        "event-hook-eligible",
        "user",
        "preserve_original_event",
        "forwarded"
    ]);
    assert_eq!(path::get(&out, "tags"), Some(&want));
}

#[test]
fn input_format_parses_config_values() {
    for (s, f) in [
        ("auto", InputFormat::Auto),
        ("okta", InputFormat::Okta),
        ("ecs", InputFormat::Ecs),
    ] {
        assert_eq!(s.parse::<InputFormat>().ok(), Some(f));
        assert_eq!(f.to_string(), s);
    }
    let err = "OKTA"
        .parse::<InputFormat>()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("expected auto, okta or ecs"), "{err}");
}

#[test]
fn process_honours_the_declared_format() {
    let o = opts();
    let Value::Object(raw) = base() else {
        unreachable!()
    };
    let ecs = okta::process(raw.clone(), InputFormat::Auto, &o);
    assert_eq!(okta::process(ecs.clone(), InputFormat::Auto, &o), ecs);
    assert_eq!(okta::process(raw.clone(), InputFormat::Ecs, &o), raw);
    // Forcing okta on a document without Okta keys still yields a (sparse) okta.system doc.
    let forced = okta::process(Map::new(), InputFormat::Okta, &o);
    assert_eq!(
        path::get_str(&forced, "data_stream.dataset"),
        Some("okta.system")
    );
    assert_eq!(path::get_str(&forced, "event.outcome"), Some("unknown"));
}
