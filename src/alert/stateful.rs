//! Ids and fields of threshold, new_terms and suppressed alerts (alert-schema §2.1, §3.2–3.3,
//! §4). The documents themselves are built by [`super::RuleTemplate`]; this module adds what
//! differs.
//!
//! Design: where Kibana hashes with the npm `object-hash` package, rulestream uses lowercase hex
//! SHA-256 over the canonical JSON (serde_json's compact form, object keys sorted) of the same
//! array of inputs, as alert-schema §2.1 recommends: anyone can recompute it.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::time::format_ms;

/// Kibana's namespace for threshold synthetic ids (`calculateThresholdSignalUuid`).
const THRESHOLD_NAMESPACE: uuid::Uuid = uuid::uuid!("0684ec03-7201-4ee0-8ee0-3a3f6b2479b2");

/// Lowercase hex SHA-256 of the compact JSON of `inputs` (object keys sorted by serde_json).
pub fn canonical_hash(inputs: &Value) -> String {
    let text = serde_json::to_string(inputs).unwrap_or_default();
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The `_id` of a threshold rule's synthetic parent: UUID v5 of `rule_id` ‖ window start (ISO,
/// ms) ‖ group-by fields joined with `,` ‖ group values sorted and joined with `,`. Kibana uses
/// the run start instead of the window start (alert-schema §6).
pub fn threshold_synthetic_id(
    rule_id: &str,
    window_start: chrono::DateTime<chrono::Utc>,
    fields: &[String],
    values: &[String],
) -> String {
    let mut sorted: Vec<&str> = values.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let name = format!(
        "{rule_id}{}{}{}",
        format_ms(window_start),
        fields.join(","),
        sorted.join(",")
    );
    uuid::Uuid::new_v5(&THRESHOLD_NAMESPACE, name.as_bytes()).to_string()
}

/// new_terms alert id (with or without suppression): hash of
/// `[parent index, parent id, "undefined", "<space>:<rule uuid>", [new values]]`.
pub fn new_terms_alert_id(
    parent_index: &str,
    parent_id: &str,
    space_id: &str,
    rule_uuid: &str,
    values: &[String],
) -> String {
    canonical_hash(&json!([
        parent_index,
        parent_id,
        "undefined",
        format!("{space_id}:{rule_uuid}"),
        values
    ]))
}

/// Suppressed query alert id: hash of `[parent index, parent id, "undefined",
/// "<space>:<rule uuid>", suppression terms, window start, window end]`.
pub fn query_suppressed_alert_id(
    parent_index: &str,
    parent_id: &str,
    space_id: &str,
    rule_uuid: &str,
    terms: &Value,
    window: (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
) -> String {
    canonical_hash(&json!([
        parent_index,
        parent_id,
        "undefined",
        format!("{space_id}:{rule_uuid}"),
        terms,
        format_ms(window.0),
        format_ms(window.1)
    ]))
}

/// Suppressed threshold alert id: hash of `[synthetic index, synthetic id, "<space>:<rule uuid>"]`.
pub fn threshold_suppressed_alert_id(
    synthetic_index: &str,
    synthetic_id: &str,
    space_id: &str,
    rule_uuid: &str,
) -> String {
    canonical_hash(&json!([
        synthetic_index,
        synthetic_id,
        format!("{space_id}:{rule_uuid}")
    ]))
}

/// `kibana.alert.instance.id` of a suppression group: hash of `[terms, rule uuid, space]`
/// (threshold: `terms` = the sorted group values).
pub fn suppression_instance_id(terms: &Value, rule_uuid: &str, space_id: &str) -> String {
    canonical_hash(&json!([terms, rule_uuid, space_id]))
}

/// Writes the suppression fields of a new suppressed alert into `doc`.
pub fn add_suppression_fields(
    doc: &mut Value,
    instance_id: &str,
    terms: &Value,
    (start, end): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
    docs_count: u64,
) {
    if let Value::Object(map) = doc {
        map.insert("kibana.alert.instance.id".into(), instance_id.into());
        map.insert("kibana.alert.suppression.terms".into(), terms.clone());
        map.insert(
            "kibana.alert.suppression.start".into(),
            format_ms(start).into(),
        );
        map.insert("kibana.alert.suppression.end".into(), format_ms(end).into());
        map.insert(
            "kibana.alert.suppression.docs_count".into(),
            docs_count.into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn synthetic_id_is_uuid_v5_of_the_documented_string() {
        let t = chrono::Utc.timestamp_millis_opt(0).unwrap();
        let fields = vec!["a".to_string(), "b".to_string()];
        let id = threshold_synthetic_id("r1", t, &fields, &["y".into(), "x".into()]);
        let want = uuid::Uuid::new_v5(&THRESHOLD_NAMESPACE, b"r11970-01-01T00:00:00.000Za,bx,y");
        assert_eq!(id, want.to_string());
        // Value order does not matter (sorted), window start does.
        assert_eq!(
            id,
            threshold_synthetic_id("r1", t, &fields, &["x".into(), "y".into()])
        );
        let later = chrono::Utc.timestamp_millis_opt(1).unwrap();
        assert_ne!(
            id,
            threshold_synthetic_id("r1", later, &fields, &["x".into(), "y".into()])
        );
    }

    #[test]
    fn canonical_hash_is_sha256_of_compact_json() {
        let id = new_terms_alert_id("i", "e", "default", "u", &["v".into()]);
        let text = r#"["i","e","undefined","default:u",["v"]]"#;
        assert_eq!(id, hex::encode(Sha256::digest(text.as_bytes())));
        assert_ne!(
            id,
            new_terms_alert_id("i", "e", "default", "u", &["w".into()])
        );
    }
}
