//! The ingest pipeline itself (mapping doc §2), one function per upstream step group, run in
//! upstream order on the collector-shaped document.
//!
//! A step that upstream runs without a failure guard returns `Err(Failure)`; the main handler
//! then stops the pipeline, keeps everything set so far and marks the document (§8). Guarded
//! steps just skip, as `ignore_failure`/`ignore_missing` do upstream.

use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::path::{
    self, append, append_unique, copy, get, get_str, has, remove, rename, render, set,
};
use super::{category, debug_data, target, Failure, NormalizeOptions, DATASET, ECS_VERSION};

/// The document the collector (Elastic Agent) sends: the LogEvent text in `message`, the policy
/// tags, its read time as `@timestamp`, and `_conf`.
pub(crate) fn envelope(text: &str, opts: &NormalizeOptions) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("message".into(), Value::String(text.to_string()));
    let mut tags: Vec<Value> = Vec::new();
    let preserve = opts
        .preserve_original
        .then(|| "preserve_original_event".to_string());
    for t in preserve.iter().chain(&opts.tags) {
        let t = Value::String(t.clone());
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    if !tags.is_empty() {
        doc.insert("tags".into(), Value::Array(tags));
    }
    doc.insert("@timestamp".into(), Value::String(millis(opts.now)));
    doc.insert(
        "_conf".into(),
        json!({"remove_flattened_debug": opts.remove_flattened_debug}),
    );
    if let Some(url) = &opts.okta_url {
        doc.insert("okta_url".into(), Value::String(url.clone()));
    }
    doc
}

pub(crate) fn run(mut doc: Map<String, Value>, opts: &NormalizeOptions) -> Map<String, Value> {
    if let Err(failure) = steps(&mut doc, opts) {
        // Main pipeline on_failure: message, pipeline_error, keep event.original.
        append(
            &mut doc,
            "error.message",
            Value::String(failure.to_string()),
        );
        let _ = set(&mut doc, "event.kind", json!("pipeline_error"));
        append_unique(&mut doc, "tags", json!("preserve_original_event"));
    }
    // Data stream / Fleet fields (§1 stages 2 and 4); constant per data stream.
    for (p, v) in [
        ("data_stream.type", "logs".to_string()),
        ("data_stream.dataset", DATASET.to_string()),
        ("data_stream.namespace", opts.namespace.clone()),
        ("event.dataset", DATASET.to_string()),
        ("event.module", "okta".to_string()),
        (
            "event.ingested",
            opts.now.to_rfc3339_opts(SecondsFormat::Secs, true),
        ),
    ] {
        let _ = set(&mut doc, p, Value::String(v));
    }
    // The collector's read time; the pipeline never sets it (§1).
    if let Some(created) = opts.created {
        let _ = set(&mut doc, "event.created", Value::String(millis(created)));
    }
    doc
}

fn millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn steps(doc: &mut Map<String, Value>, opts: &NormalizeOptions) -> Result<(), Failure> {
    // 1. Agentless deployments add these three strings.
    if ["organization", "division", "team"]
        .iter()
        .all(|k| doc.get(*k).is_some_and(Value::is_string))
    {
        for k in ["organization", "division", "team"] {
            doc.remove(k);
        }
    }
    // 2.
    let _ = set(doc, "ecs.version", json!(ECS_VERSION));
    // 3.
    if has(doc, "event.original") {
        append(
            doc,
            "error.message",
            json!("event.original is set before start of ingest pipeline"),
        );
    } else {
        rename(doc, "message", "event.original");
    }
    if has(doc, "event.original") {
        doc.remove("message");
    }
    // 4. No failure guard: a bad message fails the document.
    let parsed = match get(doc, "event.original") {
        Some(Value::String(text)) => serde_json::from_str::<Value>(text)
            .map_err(|e| Failure::new("json", "json_event_original", e.to_string()))?,
        Some(_) => {
            return Err(Failure::new(
                "json",
                "json_event_original",
                "field [event.original] is not a string".into(),
            ))
        }
        None => {
            return Err(Failure::new(
                "json",
                "json_event_original",
                "field [event.original] not present as part of path [event.original]".into(),
            ))
        }
    };
    doc.insert("json".into(), parsed);
    // 5.
    clean(doc);
    // 7. Unparseable `published` keeps the collector's @timestamp.
    if let Some(ts) = get_str(doc, "json.published").and_then(parse_iso8601) {
        let _ = set(doc, "@timestamp", Value::String(millis(ts)));
    }
    // 8., 9.
    let _ = set(doc, "event.kind", json!("event"));
    rename(doc, "json.displayMessage", "okta.display_message");
    rename(doc, "json.eventType", "okta.event_type");
    // 10.
    category::categorize(doc, &opts.categories);
    // 11.
    rename(doc, "json.uuid", "okta.uuid");
    rename(doc, "json.actor.alternateId", "okta.actor.alternate_id");
    // 12.
    user_names(doc);
    // 13.
    main_renames(doc)?;
    // 14.
    let remove_flattened = get(doc, "_conf.remove_flattened_debug") == Some(&json!(true));
    let sub = debug_data::run(doc, remove_flattened);
    for e in sub.errors {
        append(doc, "error.message", Value::String(e));
    }
    if let Some(f) = sub.failure {
        append(doc, "error.message", Value::String(f.to_string()));
        let _ = set(doc, "event.kind", json!("pipeline_error"));
    }
    // 15.
    context_renames(doc);
    // 16.
    ecs_copies(doc);
    // 17.
    let outcome = match get_str(doc, "okta.outcome.result")
        .map(str::to_lowercase)
        .as_deref()
    {
        Some("success" | "allow") => "success",
        Some("failure" | "deny") => "failure",
        _ => "unknown",
    };
    let _ = set(doc, "event.outcome", json!(outcome));
    // 18.
    target::run(doc)?;
    // 19.
    actor_copies(doc);
    // 20.
    doc.remove("json");
    // 21.
    if let Some(e) = &opts.enrichment {
        e.apply(doc);
    }
    // 22., 23. Deviation: after a debugData sub-pipeline failure Elasticsearch would still drop
    // event.original (that handler adds no tag); we keep it so every pipeline_error document can
    // be replayed (mapping doc §8 recommendation).
    let preserve = matches!(get(doc, "tags"), Some(Value::Array(t)) if t.contains(&json!("preserve_original_event")))
        || get(doc, "tags") == Some(&json!("preserve_original_event"))
        || get_str(doc, "event.kind") == Some("pipeline_error");
    if !preserve {
        remove(doc, "event.original");
    }
    doc.remove("_conf");
    // 24.
    okta_url(doc);
    Ok(())
}

/// Step 5: delete null and "" everywhere, then objects/arrays left empty, bottom-up.
pub(crate) fn clean(doc: &mut Map<String, Value>) {
    fn keep(v: &mut Value) -> bool {
        match v {
            Value::Null => false,
            Value::String(s) => !s.is_empty(),
            Value::Object(m) => {
                m.retain(|_, v| keep(v));
                !m.is_empty()
            }
            Value::Array(a) => {
                a.retain_mut(keep);
                !a.is_empty()
            }
            _ => true,
        }
    }
    doc.retain(|_, v| keep(v));
}

/// Elasticsearch's `ISO8601` date format: offset or `Z` optional (UTC), time optional.
fn parse_iso8601(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%z",
        "%Y-%m-%dT%H:%M%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// §4: `user.name`/`user.email` from the actor's alternate id.
fn user_names(doc: &mut Map<String, Value>) {
    let Some(name) = get(doc, "okta.actor.alternate_id").cloned() else {
        return;
    };
    if let Value::String(s) = &name {
        if s.find('@').is_some_and(|i| i > 0) {
            let _ = set(doc, "user.email", name.clone());
        }
    }
    let _ = set(doc, "user.name", name);
}

fn main_renames(doc: &mut Map<String, Value>) -> Result<(), Failure> {
    for (from, to) in [
        ("json.actor.id", "okta.actor.id"),
        ("json.actor.type", "okta.actor.type"),
        ("json.actor.displayName", "okta.actor.display_name"),
    ] {
        rename(doc, from, to);
    }
    // `convert type: ip`: only a valid IP literal moves; the text is kept as received.
    if get_str(doc, "json.client.ipAddress").is_some_and(|s| s.parse::<IpAddr>().is_ok()) {
        rename(doc, "json.client.ipAddress", "okta.client.ip");
    }
    for (from, to) in [
        (
            "json.client.userAgent.rawUserAgent",
            "okta.client.user_agent.raw_user_agent",
        ),
        (
            "json.client.userAgent.browser",
            "okta.client.user_agent.browser",
        ),
        ("json.client.userAgent.os", "okta.client.user_agent.os"),
        ("json.client.zone", "okta.client.zone"),
        ("json.client.device", "okta.client.device"),
        ("json.client.id", "okta.client.id"),
        (
            "json.client.geographicalContext.city",
            "client.geo.city_name",
        ),
        (
            "json.client.geographicalContext.state",
            "client.geo.region_name",
        ),
        (
            "json.client.geographicalContext.country",
            "client.geo.country_name",
        ),
        (
            "json.client.geographicalContext.geolocation",
            "client.geo.location",
        ),
        ("json.device", "okta.device"),
    ] {
        rename(doc, from, to);
    }
    // No failure guard upstream: invalid JSON here fails the document.
    if let Some(Value::String(text)) = get(doc, "okta.device.device_integrator") {
        let parsed = serde_json::from_str::<Value>(text)
            .map_err(|e| Failure::new("json", "json_device_integrator", e.to_string()))?;
        let _ = set(doc, "okta.device.device_integrator", parsed);
    }
    for (from, to) in [
        ("json.outcome.result", "okta.outcome.result"),
        ("json.outcome.reason", "okta.outcome.reason"),
        ("json.target", "okta.target"),
        ("json.transaction.id", "okta.transaction.id"),
        ("json.transaction.type", "okta.transaction.type"),
        (
            "json.transaction.detail.requestApiTokenId",
            "okta.transaction.detail.request_api_token_id",
        ),
        (
            "json.transaction.detail.rootApiTokenId",
            "okta.transaction.detail.root_api_token_id",
        ),
    ] {
        rename(doc, from, to);
    }
    Ok(())
}

fn context_renames(doc: &mut Map<String, Value>) {
    const AC: &str = "okta.authentication_context";
    for (from, to) in [
        (
            "json.authenticationContext.authenticationProvider",
            format!("{AC}.authentication_provider"),
        ),
        (
            "json.authenticationContext.authenticationStep",
            format!("{AC}.authentication_step"),
        ),
        (
            "json.authenticationContext.credentialProvider",
            format!("{AC}.credential_provider"),
        ),
        (
            "json.authenticationContext.credentialType",
            format!("{AC}.credential_type"),
        ),
        (
            "json.authenticationContext.externalSessionId",
            format!("{AC}.external_session_id"),
        ),
        // Upstream quirk (§3): `interface` lands in the provider field, if still free.
        (
            "json.authenticationContext.interface",
            format!("{AC}.authentication_provider"),
        ),
        ("json.authenticationContext.issuer", format!("{AC}.issuer")),
        (
            "json.authenticationContext.rootSessionId",
            format!("{AC}.root_session_id"),
        ),
    ] {
        rename(doc, from, &to);
    }
    // `convert type: long` on asNumber, failure ignored.
    if let Some(Value::String(s)) = get(doc, "json.securityContext.asNumber") {
        if let Ok(n) = s.trim().parse::<i64>() {
            let _ = set(doc, "json.securityContext.asNumber", json!(n));
        }
    }
    for (from, to) in [
        (
            "json.securityContext.asNumber",
            "okta.security_context.as.number",
        ),
        (
            "json.securityContext.asOrg",
            "okta.security_context.as.organization.name",
        ),
        ("json.securityContext.isp", "okta.security_context.isp"),
        (
            "json.securityContext.domain",
            "okta.security_context.domain",
        ),
        (
            "json.securityContext.isProxy",
            "okta.security_context.is_proxy",
        ),
        ("json.request.ipChain", "okta.request.ip_chain"),
    ] {
        rename(doc, from, to);
    }
    if let Some(Value::Array(chain)) = path::get(doc, "okta.request.ip_chain").cloned() {
        let chain = chain
            .into_iter()
            .map(|hop| match hop {
                Value::Object(mut h) => {
                    rename(&mut h, "geographicalContext", "geographical_context");
                    rename(
                        &mut h,
                        "geographical_context.postalCode",
                        "geographical_context.postal_code",
                    );
                    Value::Object(h)
                }
                other => other,
            })
            .collect();
        let _ = set(doc, "okta.request.ip_chain", Value::Array(chain));
    }
}

/// Step 16. Upstream copies with `convert type: string` (scalars become their text; objects and
/// arrays fail, ignored) except the IPs, which are copied as they are.
fn ecs_copies(doc: &mut Map<String, Value>) {
    copy(doc, "okta.client.ip", "client.ip");
    copy(doc, "okta.client.ip", "source.ip");
    for (from, to) in [
        (
            "okta.client.user_agent.raw_user_agent",
            "user_agent.original",
        ),
        ("okta.event_type", "event.action"),
        (
            "okta.security_context.as.organization.name",
            "client.as.organization.name",
        ),
        ("okta.security_context.domain", "client.domain"),
        ("okta.security_context.domain", "source.domain"),
        ("okta.uuid", "event.id"),
    ] {
        match get(doc, from) {
            None | Some(Value::Object(_) | Value::Array(_)) => {}
            Some(v) => {
                let v = render(v);
                let _ = set(doc, to, Value::String(v));
            }
        }
    }
}

/// Step 19: actor copies, then `related.user` (display name, target name, user name) and
/// `related.ip`, each without duplicates.
fn actor_copies(doc: &mut Map<String, Value>) {
    for side in ["client.user", "source.user"] {
        copy(doc, "okta.actor.id", &format!("{side}.id"));
        copy(doc, "okta.actor.display_name", &format!("{side}.full_name"));
        copy(doc, "user.name", &format!("{side}.name"));
        copy(doc, "user.email", &format!("{side}.email"));
    }
    copy(doc, "okta.actor.display_name", "user.full_name");
    for from in [
        "okta.actor.display_name",
        "user.target.full_name",
        "user.name",
    ] {
        if let Some(v) = get(doc, from).map(render) {
            append_unique(doc, "related.user", Value::String(v));
        }
    }
    if let Some(ip) = get(doc, "source.ip").map(render) {
        append_unique(doc, "related.ip", Value::String(ip));
    }
}

/// Step 24: `okta_url` → `host.name` (the URL's domain), falling back as upstream's renames do.
fn okta_url(doc: &mut Map<String, Value>) {
    let Some(url) = doc.remove("okta_url") else {
        return;
    };
    let Some(url) = url.as_str() else {
        return;
    };
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let domain = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    if domain.is_empty() {
        return;
    }
    for target in ["host.name", "okta.okta_domain", "okta_domain"] {
        if !has(doc, target) && set(doc, target, json!(domain)).is_ok() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaner_removes_null_empty_string_and_emptied_containers_only() {
        let mut d = match json!({
            "a": null, "b": "", "c": "null", "d": 0, "e": false,
            "f": {"g": {"h": null}}, "i": [null, "", {"j": ""}], "k": [0, "x"]
        }) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        clean(&mut d);
        assert_eq!(
            Value::Object(d),
            json!({"c": "null", "d": 0, "e": false, "k": [0, "x"]})
        );
    }

    #[test]
    fn iso8601_variants_parse_to_utc_millis() {
        let cases = [
            ("2020-02-14T22:18:51.843Z", Some("2020-02-14T22:18:51.843Z")),
            ("2020-02-14T22:18:51Z", Some("2020-02-14T22:18:51.000Z")),
            (
                "2020-02-14T23:18:51.8434+01:00",
                Some("2020-02-14T22:18:51.843Z"),
            ),
            ("2020-02-14T22:18:51", Some("2020-02-14T22:18:51.000Z")),
            ("2020-02-14", Some("2020-02-14T00:00:00.000Z")),
            ("yesterday", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_iso8601(input).map(millis).as_deref(), want, "{input}");
        }
    }
}
