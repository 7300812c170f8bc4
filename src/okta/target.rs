//! `okta.target[]` clean-up and `user.target.*` (mapping doc §7).
//!
//! Upstream does this in one Painless script without guards, so a target element without a
//! `type` (or that is not an object) throws and fails the whole document. We keep that contract
//! by returning a [`Failure`] the pipeline turns into `event.kind: pipeline_error`.

use serde_json::{Map, Value};

use super::path;
use super::Failure;

/// `detailEntry` keys upstream keeps (FastPass verification details); the rest is dropped.
const KEPT_DETAIL_KEYS: &[&str] = &["methodTypeUsed", "methodUsedVerifiedProperties"];

pub(crate) fn run(doc: &mut Map<String, Value>) -> Result<(), Failure> {
    let Some(target) = path::get(doc, "okta.target").cloned() else {
        return Ok(());
    };
    let fail = |m: String| Failure::new("script", "script_okta_target", m);
    let Value::Array(items) = target else {
        return Err(fail(
            "class_cast_exception: okta.target is not a list".into(),
        ));
    };
    let mut cleaned = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(mut t) = item else {
            return Err(fail(
                "class_cast_exception: target element is not an object".into(),
            ));
        };
        // A missing alternateId/displayName is written as null, as the script does.
        let alt = t.remove("alternateId").unwrap_or(Value::Null);
        t.insert("alternate_id".into(), alt);
        let name = t.remove("displayName").unwrap_or(Value::Null);
        t.insert("display_name".into(), name);
        // A non-object detailEntry is dropped like the unkept keys.
        if let Some(Value::Object(d)) = t.remove("detailEntry") {
            let kept: Map<String, Value> = d
                .into_iter()
                .filter(|(k, _)| KEPT_DETAIL_KEYS.contains(&k.as_str()))
                .collect();
            if !kept.is_empty() {
                t.insert("detailEntry".into(), Value::Object(kept));
            }
        }
        if let Some(Value::Object(change)) = t.get_mut("changeDetails") {
            for side in ["from", "to"] {
                if let Some(v) = change.get_mut(side) {
                    stringify_non_strings(v);
                }
            }
        }
        cleaned.push(t);
    }
    // The script reads `type.toLowerCase()` on every element before choosing.
    let mut types = Vec::with_capacity(cleaned.len());
    for t in &cleaned {
        match t.get("type") {
            Some(Value::String(s)) => types.push(s.to_lowercase()),
            _ => {
                return Err(fail(
                    "null_pointer_exception: target element has no string type".into(),
                ))
            }
        }
    }
    let user = types.iter().position(|t| t == "user");
    let group = types.iter().position(|t| t == "usergroup");
    if let Some(i) = user {
        let t = &cleaned[i];
        set_non_null(doc, "user.target.full_name", t.get("display_name"));
        set_non_null(doc, "user.target.id", t.get("id"));
        set_non_null(doc, "user.target.email", t.get("login"));
    }
    if let Some(i) = group {
        let t = &cleaned[i];
        set_non_null(doc, "user.target.group.name", t.get("display_name"));
        set_non_null(doc, "user.target.group.id", t.get("id"));
    }
    let _ = path::set(
        doc,
        "okta.target",
        Value::Array(cleaned.into_iter().map(Value::Object).collect()),
    );
    Ok(())
}

fn set_non_null(doc: &mut Map<String, Value>, p: &str, v: Option<&Value>) {
    if let Some(v) = v.filter(|v| !v.is_null()) {
        let _ = path::set(doc, p, v.clone());
    }
}

/// `changeDetails.from`/`.to`: each value that is neither a string nor null becomes its JSON text.
fn stringify_non_strings(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for val in m.values_mut() {
                if !matches!(val, Value::String(_) | Value::Null) {
                    *val = Value::String(val.to_string());
                }
            }
        }
        Value::String(_) | Value::Null => {}
        other => *other = Value::String(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run_on(target: Value) -> (Result<(), Failure>, Value) {
        let mut doc = Map::new();
        let _ = path::set(&mut doc, "okta.target", target);
        let r = run(&mut doc);
        (r, Value::Object(doc))
    }

    #[test]
    fn first_user_and_first_group_fill_user_target() {
        let (r, doc) = run_on(json!([
            {"type": "AppUser", "id": "a", "displayName": "App"},
            {"type": "USER", "id": "u1", "displayName": "One", "alternateId": "one@x"},
            {"type": "User", "id": "u2", "displayName": "Two"},
            {"type": "UserGroup", "id": "g", "displayName": "G"}
        ]));
        assert!(r.is_ok());
        assert_eq!(
            doc["user"]["target"],
            json!({"full_name": "One", "id": "u1", "group": {"id": "g", "name": "G"}})
        );
        assert_eq!(doc["okta"]["target"][2]["alternate_id"], Value::Null);
    }

    #[test]
    fn detail_entry_keeps_only_fastpass_keys() {
        let (_, doc) = run_on(json!([
            {"type": "X", "detailEntry": {"methodTypeUsed": "m", "policyType": "p"}},
            {"type": "Y", "detailEntry": {"policyType": "p"}}
        ]));
        assert_eq!(
            doc["okta"]["target"][0]["detailEntry"],
            json!({"methodTypeUsed": "m"})
        );
        assert!(doc["okta"]["target"][1].get("detailEntry").is_none());
    }

    #[test]
    fn change_details_values_become_strings() {
        let (_, doc) = run_on(
            json!([{"type": "X", "changeDetails": {"from": {"a": true, "b": {"c": 1}, "s": "x"}, "to": 3}}]),
        );
        assert_eq!(
            doc["okta"]["target"][0]["changeDetails"],
            json!({"from": {"a": "true", "b": "{\"c\":1}", "s": "x"}, "to": "3"})
        );
    }

    #[test]
    fn element_without_type_fails_the_document() {
        assert!(run_on(json!([{"id": "x"}])).0.is_err());
        assert!(run_on(json!(["str"])).0.is_err());
    }
}
