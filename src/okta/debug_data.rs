//! `debugContext.debugData` → `okta.debug_context.debug_data.*` (mapping doc §5).
//!
//! Okta sends most debug values as strings holding Java `toString()` maps (`{a=b, c=d}`), JSON, or
//! lists. Upstream parses a few of them and promotes a fixed set of keys; everything else survives
//! only inside the `flattened` copy (default mode) or in place with snake-cased keys (non-flattened
//! mode). One core, parameterised by where parsing happens, serves both modes so they cannot drift.

use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::category::java_hash_order;
use super::path;
use super::Failure;

const RAW: &str = "json.debugContext.debugData";
const BASE: &str = "okta.debug_context.debug_data";

/// What the sub-pipeline reports back to the main pipeline.
#[derive(Debug, Default)]
pub(crate) struct SubOutcome {
    /// Messages appended to `error.message` without failing (the `tunnels` parse).
    pub errors: Vec<String>,
    /// A processor without a guard failed: the handler sets `event.kind: pipeline_error`.
    pub failure: Option<Failure>,
}

/// Runs the flattened (default) or non-flattened variant.
pub(crate) fn run(doc: &mut Map<String, Value>, remove_flattened: bool) -> SubOutcome {
    let mut out = SubOutcome::default();
    let Some(Value::Object(original)) = path::get(doc, RAW).cloned() else {
        return out;
    };
    let pipeline = if remove_flattened {
        "no_use_flattened_debug"
    } else {
        "use_flattened_debug"
    };
    let result = if remove_flattened {
        non_flattened(doc, &mut out)
    } else {
        flattened(doc, &original, &mut out)
    };
    if let Err(mut f) = result {
        f.pipeline = format!("{}-{pipeline}", super::PIPELINE_NAME);
        out.failure = Some(f);
    }
    out
}

fn flattened(
    doc: &mut Map<String, Value>,
    original: &Map<String, Value>,
    out: &mut SubOutcome,
) -> Result<(), Failure> {
    let flat = format!("{BASE}.flattened");
    let _ = path::set(doc, &flat, Value::Object(original.clone()));
    let behaviors_order = parse_structured(doc, &flat)?;
    // Promotions read the original debugData, not the parsed copy.
    for (to, from) in [
        ("device_fingerprint", "deviceFingerprint"),
        ("request_id", "requestId"),
        ("request_uri", "requestUri"),
        ("threat_suspected", "threatSuspected"),
        ("url", "url"),
        ("dt_hash", "dtHash"),
        ("client_secret", "clientSecret"),
        ("requested_scopes", "requestedScopes"),
        ("granted_scopes", "grantedScopes"),
        ("grant_type", "grantType"),
    ] {
        if let Some(v) = original.get(from) {
            let _ = path::set(doc, &format!("{BASE}.{to}"), v.clone());
        }
    }
    derive(doc, &flat, behaviors_order.as_deref());
    if let Err(msg) = parse_json_at(doc, &format!("{flat}.tunnels")) {
        out.errors.push(msg);
    }
    Ok(())
}

fn non_flattened(doc: &mut Map<String, Value>, out: &mut SubOutcome) -> Result<(), Failure> {
    if !path::rename(doc, RAW, BASE) {
        return Ok(());
    }
    let behaviors_order = parse_structured(doc, BASE)?;
    derive(doc, BASE, behaviors_order.as_deref());
    let tunnels = format!("{BASE}.tunnels");
    if let Err(msg) = parse_json_at(doc, &tunnels) {
        out.errors.push(msg);
        path::remove(doc, &tunnels);
    }
    for (from, to) in [
        ("deviceFingerprint", "device_fingerprint"),
        ("dtHash", "dt_hash"),
        ("requestId", "request_id"),
        ("requestUri", "request_uri"),
        ("threatSuspected", "threat_suspected"),
        ("clientSecret", "client_secret"),
        ("requestedScopes", "requested_scopes"),
        ("grantedScopes", "granted_scopes"),
        ("grantType", "grant_type"),
    ] {
        path::rename(doc, &format!("{BASE}.{from}"), &format!("{BASE}.{to}"));
    }
    if let Some(Value::Object(m)) = path::remove(doc, BASE) {
        let _ = path::set(doc, BASE, Value::Object(underscore_keys(m)));
    }
    Ok(())
}

/// Replaces spaces and `-` in every key, at any depth, including objects inside arrays.
fn underscore_keys(m: Map<String, Value>) -> Map<String, Value> {
    fn walk(v: Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(underscore_keys(m)),
            Value::Array(items) => Value::Array(items.into_iter().map(walk).collect()),
            other => other,
        }
    }
    m.into_iter()
        .map(|(k, v)| (k.replace([' ', '-'], "_"), walk(v)))
        .collect()
}

/// Parses `logOnlySecurityData` (JSON, failure ignored), `behaviors` (kv, no guard) and `risk`
/// (kv with a regex fallback) under `at`. Returns the behaviours' key order as Java's `HashMap`
/// iterates it, for `risk_behaviors`.
fn parse_structured(
    doc: &mut Map<String, Value>,
    at: &str,
) -> Result<Option<Vec<String>>, Failure> {
    let _ = parse_json_at(doc, &format!("{at}.logOnlySecurityData"));

    let behaviors_path = format!("{at}.behaviors");
    let mut order = None;
    if let Some(v) = path::get(doc, &behaviors_path).cloned() {
        let Value::String(text) = v else {
            return Err(Failure::new(
                "kv",
                "kv_behaviors",
                format!("field [{behaviors_path}] of type [object] cannot be cast to string"),
            ));
        };
        let pairs = kv(&text).map_err(|m| Failure::new("kv", "kv_behaviors", m))?;
        let (map, keys) =
            pairs_to_object(&pairs).map_err(|m| Failure::new("kv", "kv_behaviors", m))?;
        // kv writes into a fresh HashMap (16 buckets); iteration follows its hash order.
        order = Some(java_hash_order(&keys, 16));
        let _ = path::set(doc, &behaviors_path, Value::Object(map));
    }

    let risk_path = format!("{at}.risk");
    if let Some(Value::String(text)) = path::get(doc, &risk_path).cloned() {
        let object_path = format!("{at}.risk_object");
        let _ = path::set(doc, &object_path, Value::String(text.clone()));
        match kv(&text).and_then(|p| pairs_to_object(&p)) {
            Ok((map, _)) => {
                let _ = path::set(doc, &risk_path, Value::Object(map));
                path::remove(doc, &object_path);
            }
            Err(_) => {
                let inner = strip_braces(&text);
                let mut risk = Map::new();
                if let Some(c) = level_re().captures(inner) {
                    risk.insert("level".into(), Value::String(c[1].to_string()));
                }
                if let Some(c) = reasons_re().captures(inner) {
                    risk.insert("reasons".into(), Value::String(c[1].to_string()));
                }
                if risk.is_empty() {
                    // Neither grok matched: the brace-stripped text (dissect) stays.
                    let _ = path::set(doc, &risk_path, Value::String(inner.to_string()));
                } else {
                    let _ = path::set(doc, &risk_path, Value::Object(risk));
                }
            }
        }
    }
    Ok(order)
}

/// `risk_level`, `risk_reasons`, `factor` and `risk_behaviors` from the parsed values under `at`.
fn derive(doc: &mut Map<String, Value>, at: &str, behaviors_order: Option<&[String]>) {
    let non_empty = |v: Option<&Value>| {
        v.filter(|v| !matches!(v, Value::Null) && v.as_str() != Some(""))
            .cloned()
    };
    let level = non_empty(path::get(
        doc,
        &format!("{at}.logOnlySecurityData.risk.level"),
    ))
    .or_else(|| non_empty(path::get(doc, &format!("{at}.risk.level"))));
    // risk_level and factor are set through mustache templates upstream, so always strings.
    if let Some(level) = level {
        let _ = path::set(
            doc,
            &format!("{BASE}.risk_level"),
            Value::String(path::render(&level)),
        );
    }
    let mut reasons = split_reasons(path::get(
        doc,
        &format!("{at}.logOnlySecurityData.risk.reasons"),
    ));
    if reasons.is_empty() {
        reasons = split_reasons(path::get(doc, &format!("{at}.risk.reasons")));
    }
    if !reasons.is_empty() {
        let list = reasons.into_iter().map(Value::String).collect();
        let _ = path::set(doc, &format!("{BASE}.risk_reasons"), Value::Array(list));
    }
    if at != BASE {
        if let Some(f) = non_empty(path::get(doc, &format!("{at}.factor"))) {
            let _ = path::set(
                doc,
                &format!("{BASE}.factor"),
                Value::String(path::render(&f)),
            );
        }
    }
    if let (Some(order), Some(Value::Object(behaviors))) =
        (behaviors_order, path::get(doc, &format!("{at}.behaviors")))
    {
        let positive: Vec<Value> = order
            .iter()
            .filter(|k| behaviors.get(k.as_str()).and_then(Value::as_str) == Some("POSITIVE"))
            .map(|k| Value::String(k.clone()))
            .collect();
        if !positive.is_empty() {
            let _ = path::set(
                doc,
                &format!("{BASE}.risk_behaviors"),
                Value::Array(positive),
            );
        }
    }
}

/// Java `String.split(",\\s*")` of a string value: trailing empty strings dropped.
fn split_reasons(v: Option<&Value>) -> Vec<String> {
    let Some(Value::String(s)) = v else {
        return Vec::new();
    };
    static SEP: OnceLock<Option<Regex>> = OnceLock::new();
    let Some(sep) = SEP.get_or_init(|| Regex::new(r",\s*").ok()) else {
        return Vec::new();
    };
    java_trim_trailing(sep.split(s).map(str::to_string).collect())
}

fn java_trim_trailing(mut parts: Vec<String>) -> Vec<String> {
    while parts.last().is_some_and(String::is_empty) {
        parts.pop();
    }
    parts
}

fn level_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"level=(\S+)").unwrap_or_else(|_| unreachable!()))
}

fn reasons_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // Shortest text after `reasons=` that is followed by `, <nonspace>=` or the end.
    RE.get_or_init(|| Regex::new(r"reasons=(.*?)(?:, \S+=|$)").unwrap_or_else(|_| unreachable!()))
}

fn strip_braces(s: &str) -> &str {
    s.strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(s)
}

/// Elasticsearch `kv` with `field_split: ", "` and `value_split: "="` on the brace-stripped text.
/// A pair without `=` fails, as upstream.
pub(crate) fn kv(text: &str) -> Result<Vec<(String, String)>, String> {
    let inner = strip_braces(text);
    let parts = java_trim_trailing(inner.split(", ").map(str::to_string).collect());
    parts
        .into_iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(format!("field [{p}] does not contain value_split [=]")),
        })
        .collect()
}

/// Builds the object `kv` would: dotted keys nest, a repeated key becomes an array. Returns the
/// top-level keys in insertion order.
fn pairs_to_object(
    pairs: &[(String, String)],
) -> Result<(Map<String, Value>, Vec<String>), String> {
    let mut map = Map::new();
    let mut keys = Vec::new();
    for (k, v) in pairs {
        if k.is_empty() || k.split('.').any(str::is_empty) {
            return Err(format!("path [{k}] is not valid"));
        }
        let top = k.split('.').next().unwrap_or(k).to_string();
        if !keys.contains(&top) {
            keys.push(top);
        }
        if path::has(&map, k) {
            path::append(&mut map, k, Value::String(v.clone()));
        } else {
            path::set(&mut map, k, Value::String(v.clone()))
                .map_err(|e| format!("cannot set [{}]", e.0))?;
        }
    }
    Ok((map, keys))
}

/// JSON-parses the string at `p` in place. Absent or non-string values are left alone.
fn parse_json_at(doc: &mut Map<String, Value>, p: &str) -> Result<(), String> {
    let Some(Value::String(text)) = path::get(doc, p) else {
        return Ok(());
    };
    match serde_json::from_str::<Value>(text) {
        Ok(v) => {
            let _ = path::set(doc, p, v);
            Ok(())
        }
        Err(e) => Err(format!("failed to parse [{p}] as JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_splits_java_map_text_and_rejects_pairs_without_equals() {
        assert_eq!(kv("{level=LOW}"), Ok(vec![("level".into(), "LOW".into())]));
        assert_eq!(
            kv("{New IP=POSITIVE, a=b=c}"),
            Ok(vec![
                ("New IP".into(), "POSITIVE".into()),
                ("a".into(), "b=c".into())
            ])
        );
        assert!(kv("{reasons=Anomalous Device, Anomalous Location, level=HIGH}").is_err());
    }

    #[test]
    fn risk_fallback_regexes_recover_level_and_reasons() {
        let inner = "reasons=Anomalous Device, Anomalous Location, level=HIGH";
        assert_eq!(
            &level_re()
                .captures(inner)
                .map(|c| c[1].to_string())
                .unwrap_or_default(),
            "HIGH"
        );
        assert_eq!(
            &reasons_re()
                .captures(inner)
                .map(|c| c[1].to_string())
                .unwrap_or_default(),
            "Anomalous Device, Anomalous Location"
        );
    }

    #[test]
    fn split_reasons_drops_trailing_empties_like_java() {
        let v = Value::String("a, b,".into());
        assert_eq!(
            split_reasons(Some(&v)),
            vec!["a".to_string(), "b".to_string()]
        );
    }
}
