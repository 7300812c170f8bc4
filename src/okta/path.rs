//! Dotted-path access to a JSON document, with the semantics of Elasticsearch's `IngestDocument`.
//!
//! The upstream pipeline is a list of `rename`/`set`/`remove` processors on paths like
//! `json.client.geographicalContext.city`. Each segment is an object key (literal dotted keys are
//! not looked through), intermediate objects are created on write, and a `rename` onto an existing
//! target fails. Keeping these rules in one place makes the pipeline read like the upstream one.

use serde_json::{Map, Value};

/// The value at `path`, if every segment names an object member.
pub fn get<'a>(doc: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = doc.get(parts.next()?)?;
    for part in parts {
        cur = cur.as_object()?.get(part)?;
    }
    Some(cur)
}

/// The string at `path`, if it is a string.
pub fn get_str<'a>(doc: &'a Map<String, Value>, path: &str) -> Option<&'a str> {
    get(doc, path).and_then(Value::as_str)
}

pub fn has(doc: &Map<String, Value>, path: &str) -> bool {
    get(doc, path).is_some()
}

fn parent_mut<'a>(
    doc: &'a mut Map<String, Value>,
    path: &'a str,
) -> Option<(&'a mut Map<String, Value>, &'a str)> {
    match path.rsplit_once('.') {
        None => Some((doc, path)),
        Some((parent, leaf)) => {
            let mut cur = doc;
            for part in parent.split('.') {
                cur = cur.get_mut(part)?.as_object_mut()?;
            }
            Some((cur, leaf))
        }
    }
}

/// Removes and returns the value at `path`. Parents are left in place, even when emptied, as
/// Elasticsearch's `remove` and `rename` leave them.
pub fn remove(doc: &mut Map<String, Value>, path: &str) -> Option<Value> {
    let (parent, leaf) = parent_mut(doc, path)?;
    parent.remove(leaf)
}

/// Why a write could not happen: a path segment is a non-object value, as in Elasticsearch's
/// "cannot set [x] with parent object of type [string]".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnObject(pub String);

/// Sets `path` to `value`, creating intermediate objects. Overwrites an existing leaf.
pub fn set(doc: &mut Map<String, Value>, path: &str, value: Value) -> Result<(), NotAnObject> {
    try_set(doc, path, value).map_err(|_| NotAnObject(path.to_string()))
}

/// [`set`] that hands the value back when a path segment is not an object.
fn try_set(doc: &mut Map<String, Value>, path: &str, value: Value) -> Result<(), Value> {
    let (parent, leaf) = match path.rsplit_once('.') {
        None => (doc, path),
        Some((parent, leaf)) => {
            let mut cur = doc;
            for part in parent.split('.') {
                if !cur.contains_key(part) {
                    cur.insert(part.to_string(), Value::Object(Map::new()));
                }
                cur = match cur.get_mut(part) {
                    Some(Value::Object(m)) => m,
                    _ => return Err(value),
                };
            }
            (cur, leaf)
        }
    };
    parent.insert(leaf.to_string(), value);
    Ok(())
}

/// Elasticsearch `rename` with `ignore_missing` and `ignore_failure`: moves `from` to `to` unless
/// `from` is absent or `to` already exists (then nothing changes: the first writer wins).
/// Returns whether the value moved.
pub fn rename(doc: &mut Map<String, Value>, from: &str, to: &str) -> bool {
    if !has(doc, from) || has(doc, to) {
        return false;
    }
    let Some(value) = remove(doc, from) else {
        return false;
    };
    match try_set(doc, to, value) {
        Ok(()) => true,
        Err(value) => {
            // Put it back: a failed, ignored processor leaves the document unchanged.
            let _ = set(doc, from, value);
            false
        }
    }
}

/// Copies `from` to `to` (Elasticsearch `set` with `copy_from`), when `from` exists.
pub fn copy(doc: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = get(doc, from).cloned() {
        let _ = set(doc, to, v);
    }
}

/// Elasticsearch `append` with `allow_duplicates: false`: turns a scalar into an array, creates
/// the array when missing, and skips values already present.
pub fn append_unique(doc: &mut Map<String, Value>, path: &str, value: Value) {
    append_inner(doc, path, value, false);
}

/// Elasticsearch `append` (duplicates allowed), as used for `error.message`.
pub fn append(doc: &mut Map<String, Value>, path: &str, value: Value) {
    append_inner(doc, path, value, true);
}

fn append_inner(doc: &mut Map<String, Value>, path: &str, value: Value, dups: bool) {
    let list = match remove(doc, path) {
        None => vec![value],
        Some(Value::Array(mut items)) => {
            if dups || !items.contains(&value) {
                items.push(value);
            }
            items
        }
        Some(other) => {
            if dups || other != value {
                vec![other, value]
            } else {
                vec![other]
            }
        }
    };
    let _ = set(doc, path, Value::Array(list));
}

/// The text Elasticsearch's mustache templates render for a scalar (`{{{field}}}`), used where the
/// pipeline copies "as a string". Objects and arrays render as JSON text.
pub fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn rename_does_not_overwrite_an_existing_target() {
        let mut d = doc(json!({"a": {"b": 1}, "c": 2}));
        assert!(!rename(&mut d, "a.b", "c"));
        assert_eq!(Value::Object(d), json!({"a": {"b": 1}, "c": 2}));
    }

    #[test]
    fn rename_creates_parents_and_leaves_emptied_source_parent() {
        let mut d = doc(json!({"a": {"b": 1}}));
        assert!(rename(&mut d, "a.b", "x.y.z"));
        assert_eq!(Value::Object(d), json!({"a": {}, "x": {"y": {"z": 1}}}));
    }

    #[test]
    fn set_through_a_scalar_fails_without_change() {
        let mut d = doc(json!({"a": "s"}));
        assert!(set(&mut d, "a.b", json!(1)).is_err());
        assert_eq!(Value::Object(d), json!({"a": "s"}));
    }

    #[test]
    fn append_unique_turns_scalar_into_array_and_skips_duplicates() {
        let mut d = doc(json!({"t": "x"}));
        append_unique(&mut d, "t", json!("x"));
        append_unique(&mut d, "t", json!("y"));
        assert_eq!(d["t"], json!(["x", "y"]));
    }
}
