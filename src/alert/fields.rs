//! Reading a field by its dotted name from a JSON event that may be nested (`{"event":
//! {"action": …}}`), flat (`{"event.action": …}`), or a mix of both — the shapes Elasticsearch
//! treats as the same field, and that lodash `get` (which Kibana uses) also resolves.

use serde_json::{Map, Value};

/// The value at dotted `path`, trying the literal key first and then every split into an
/// object key plus a rest path. Arrays are not traversed (as lodash `get` with a string path).
pub fn get_path<'a>(obj: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = obj.get(path) {
        return Some(v);
    }
    for (i, _) in path.match_indices('.') {
        if let Some(Value::Object(inner)) = obj.get(&path[..i]) {
            if let Some(v) = get_path(inner, &path[i + 1..]) {
                return Some(v);
            }
        }
    }
    None
}

/// Whether `obj` holds anything at top-level `root`: the key itself or a dotted `root.*` key.
pub fn has_root(obj: &Map<String, Value>, root: &str) -> bool {
    obj.keys()
        .any(|k| k == root || (k.starts_with(root) && k.as_bytes().get(root.len()) == Some(&b'.')))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_nested_dotted_and_mixed_paths() {
        let v = json!({
            "event": {"action": "nested", "outcome.result": "mixed"},
            "user.name": "flat",
            "a": {"b": {"c": 1}},
            "list": [{"x": 1}]
        });
        let obj = v.as_object().unwrap();
        let cases = [
            ("event.action", Some(json!("nested"))),
            ("event.outcome.result", Some(json!("mixed"))),
            ("user.name", Some(json!("flat"))),
            ("a.b.c", Some(json!(1))),
            ("a.b", Some(json!({"c": 1}))),
            ("list.x", None),
            ("event.missing", None),
        ];
        for (path, want) in cases {
            assert_eq!(get_path(obj, path).cloned(), want, "{path}");
        }
    }

    #[test]
    fn has_root_sees_objects_and_dotted_keys() {
        let v = json!({"rule": {}, "threat.framework": "x", "rules": 1});
        let obj = v.as_object().unwrap();
        assert!(has_root(obj, "rule"));
        assert!(has_root(obj, "threat"));
        assert!(!has_root(obj, "ru"));
        assert!(!has_root(obj, "host"));
    }
}
