//! The body of an EQL sequence shell alert: the fields all building blocks share, computed as
//! Kibana's `objectArrayIntersection` / `objectPairIntersection`
//! (`rule_types/eql/build_alert_group_from_sequence.ts`, current `main` after PR #254830, which
//! made dotted and nested notation of the same field compare equal).
//!
//! Per pair of documents `a`, `b` (a sequence folds left: `((d0 ∩ d1) ∩ d2) …`):
//! 1. Both are normalized to nested form: a dotted key (`"user.name"`) is expanded into its path,
//!    so `{"user.name": x}` and `{"user": {"name": x}}` hold the same field. Empty objects
//!    vanish (they have no leaf).
//! 2. Common keys are intersected recursively: two objects recurse; values equal under
//!    JavaScript `===` are kept; if either side is an array, the result is lodash's
//!    `intersection` of both as arrays (a non-array side counts as a one-element array) — and
//!    that result is kept even when empty; anything else (e.g. `5` vs `"5"`, `"a"` vs `"b"`, an
//!    object vs a scalar) drops the key. Objects left empty are pruned; an empty result is
//!    "nothing in common".
//! 3. Output notation: a leaf keeps its dotted top-level key only when it was written dotted in
//!    **both** inputs; otherwise it is written nested.
//!
//! JavaScript equality, as Kibana sees parsed JSON: numbers compare as IEEE doubles (`5` equals
//! `5.0`; `5` does not equal `"5"`); arrays and objects are compared by reference, and two
//! different events never share one, so an array is never `===` another and an object or array
//! *inside* an array never matches anything (`[{"id": 1}]` ∩ `[{"id": 1}]` = `[]`).
//!
//! Not reproduced: lodash `setWith` creating arrays for integer-like path segments (`"a.0"`), and
//! JavaScript's integer-keys-first property order; where two spellings of one path hold
//! different values in the same document, the later key (in map order) wins, as in Kibana's
//! normalization, but map order here is sorted, not insertion order.

use std::collections::HashSet;

use serde_json::{Map, Value};

/// The intersection of `docs` (Kibana `objectArrayIntersection`): empty for no documents, the
/// document itself for one, else the left fold of [`pair_intersection`]. "Nothing in common"
/// is an empty map (Kibana: `undefined`, which spreads to nothing).
pub fn intersect_all(docs: &[&Map<String, Value>]) -> Map<String, Value> {
    let Some((first, rest)) = docs.split_first() else {
        return Map::new();
    };
    if rest.is_empty() {
        return (*first).clone();
    }
    let mut acc = Some((*first).clone());
    for doc in rest {
        acc = acc.and_then(|a| pair_intersection(&a, doc));
    }
    acc.unwrap_or_default()
}

/// Kibana's `objectPairIntersection` for two documents; `None` when they share nothing.
pub fn pair_intersection(
    a: &Map<String, Value>,
    b: &Map<String, Value>,
) -> Option<Map<String, Value>> {
    let (a_leaves, a_dotted) = leaves_with_notation(a);
    let (b_leaves, b_dotted) = leaves_with_notation(b);
    let a_norm = unflatten(a_leaves);
    let b_norm = unflatten(b_leaves);
    let nested = intersect_maps(&a_norm, &b_norm);
    if nested.is_empty() {
        return None;
    }
    let (leaves, _) = leaves_with_notation(&nested);
    let mut out = Map::new();
    for (path, value) in leaves {
        let joined = path.join(".");
        if a_dotted.contains(&joined) && b_dotted.contains(&joined) {
            out.insert(joined, value.clone());
        } else {
            set_path(&mut out, &path, value.clone());
        }
    }
    Some(out)
}

/// Kibana's `flattenToPathValuesWithNotation`: every leaf (a non-object value; arrays are
/// leaves) with its path, dotted keys split into segments, and the set of joined paths whose
/// last key was itself dotted.
fn leaves_with_notation(obj: &Map<String, Value>) -> (Vec<(Vec<String>, &Value)>, HashSet<String>) {
    let mut leaves = Vec::new();
    let mut dotted = HashSet::new();
    collect_leaves(obj, &[], &mut leaves, &mut dotted);
    (leaves, dotted)
}

fn collect_leaves<'a>(
    obj: &'a Map<String, Value>,
    prefix: &[String],
    leaves: &mut Vec<(Vec<String>, &'a Value)>,
    dotted: &mut HashSet<String>,
) {
    for (key, value) in obj {
        let mut path = prefix.to_vec();
        path.extend(key.split('.').map(str::to_string));
        match value {
            Value::Object(inner) => collect_leaves(inner, &path, leaves, dotted),
            leaf => {
                if key.contains('.') {
                    dotted.insert(path.join("."));
                }
                leaves.push((path, leaf));
            }
        }
    }
}

/// Kibana's `unflatten`: a nested object from leaf paths.
fn unflatten(leaves: Vec<(Vec<String>, &Value)>) -> Map<String, Value> {
    let mut out = Map::new();
    for (path, value) in leaves {
        set_path(&mut out, &path, value.clone());
    }
    out
}

/// lodash `setWith(obj, path, value)`: walks `path`, replacing any non-object on the way with an
/// empty object, and sets the last segment.
fn set_path(obj: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for seg in parents {
        let slot = cur
            .entry(seg.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else {
            return;
        };
        cur = next;
    }
    cur.insert(last.clone(), value);
}

/// The recursive step over normalized (nested) documents, with empty objects pruned.
fn intersect_maps(a: &Map<String, Value>, b: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, a_val) in a {
        let Some(b_val) = b.get(key) else {
            continue;
        };
        match (a_val, b_val) {
            (Value::Object(ao), Value::Object(bo)) => {
                let inner = intersect_maps(ao, bo);
                if !inner.is_empty() {
                    out.insert(key.clone(), Value::Object(inner));
                }
            }
            _ if js_strict_equal(a_val, b_val) => {
                out.insert(key.clone(), a_val.clone());
            }
            (Value::Array(_), _) | (_, Value::Array(_)) => {
                let items = lodash_intersection(as_slice(a_val), as_slice(b_val));
                out.insert(key.clone(), Value::Array(items));
            }
            _ => {}
        }
    }
    out
}

/// An array's items, or the value as a one-element array (Kibana wraps a non-array side).
fn as_slice(v: &Value) -> &[Value] {
    match v {
        Value::Array(items) => items,
        other => std::slice::from_ref(other),
    }
}

/// JavaScript `===` between values of two different parsed documents: primitives by value
/// (numbers as doubles), arrays and objects never (distinct references).
fn js_strict_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => false,
    }
}

/// lodash `intersection(a, b)`: the distinct items of `a`, in `a`'s order, that occur in `b`,
/// compared with SameValueZero (for JSON values: [`js_strict_equal`]).
fn lodash_intersection(a: &[Value], b: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for item in a {
        let in_b = b.iter().any(|other| js_strict_equal(item, other));
        let seen = out.iter().any(|kept| js_strict_equal(kept, item));
        if in_b && !seen {
            out.push(item.clone());
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    fn pair(a: Value, b: Value) -> Option<Value> {
        pair_intersection(&obj(a), &obj(b)).map(Value::Object)
    }

    /// Cases from Kibana's `build_alert_group_from_sequence.test.ts`.
    #[test]
    fn kibana_pair_cases() {
        let cases = [
            (
                json!({"f": [1]}),
                json!({"f": [1]}),
                Some(json!({"f": [1]})),
            ),
            (
                json!({"f": 1}),
                json!({"f": [1, 2, 3]}),
                Some(json!({"f": [1]})),
            ),
            (
                json!({"f": [3, 4, 5]}),
                json!({"f": [1, 2, 3]}),
                Some(json!({"f": [3]})),
            ),
            (
                json!({"f": [3, 4, 5]}),
                json!({"f": [1, 2, 3, 4]}),
                Some(json!({"f": [3, 4]})),
            ),
            (json!({}), json!({}), None),
            (json!({}), json!({"a": 1}), None),
            (json!({"a": 1}), json!({}), None),
            (
                json!({"field1": 1, "field2": 1}),
                json!({"field1": 1, "field2": "1"}),
                Some(json!({"field1": 1})),
            ),
            (
                json!({"f1": 1, "f2": 1, "f3": "abcd", "f4": "abcd"}),
                json!({"f1": 1, "f2": 100, "f3": "abcd", "f4": "wxyz"}),
                Some(json!({"f1": 1, "f3": "abcd"})),
            ),
            (
                json!({"f1": 1, "f2": "1", "f3": null}),
                json!({"f1": null, "f2": null, "f3": null}),
                Some(json!({"f3": null})),
            ),
            (
                json!({"a1": [1, 2], "a2": [1, 2]}),
                json!({"a1": [1, 2], "a2": [3, 4]}),
                Some(json!({"a1": [1, 2], "a2": []})),
            ),
            (json!({"field1": 1}), json!({"field2": 1}), None),
            // Dotted and nested spellings are one field; mixed → nested.
            (
                json!({"user.email": "m@e.co"}),
                json!({"user": {"email": "m@e.co"}}),
                Some(json!({"user": {"email": "m@e.co"}})),
            ),
            (
                json!({"a.b.c": 42}),
                json!({"a": {"b": {"c": 42}}}),
                Some(json!({"a": {"b": {"c": 42}}})),
            ),
            (
                json!({"user.emails": ["a@t.co"]}),
                json!({"user": {"emails": ["a@t.co"]}}),
                Some(json!({"user": {"emails": ["a@t.co"]}})),
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(pair(a.clone(), b.clone()), want, "{a} ∩ {b}");
        }
    }

    #[test]
    fn objects_within_objects() {
        let a = json!({
            "c": {"f1": 1, "f2": 1, "f3": 10, "f5": 1, "f6": null, "arr": [1, 2],
                  "n": {"f1": 1, "f2": 1}, "n2": {}},
            "no_common": {"s1": 1}
        });
        let b = json!({
            "c": {"f1": 1, "f2": 2, "f4": 10, "f5": "1", "f6": null, "arr": [1, 2],
                  "n": {"f1": 1, "f2": 2}, "n2": {}},
            "no_common": {"s2": 1}
        });
        assert_eq!(
            pair(a, b),
            Some(json!({"c": {"arr": [1, 2], "f1": 1, "f6": null, "n": {"f1": 1}}}))
        );
    }

    #[test]
    fn dotted_in_both_stays_dotted_at_top_level() {
        // PR #254830: "if both fields have the same notation, that notation is preserved".
        let got = pair(
            json!({"kibana.alert.original_event.action": "x", "user": {"name.first": "j"}}),
            json!({"kibana.alert.original_event.action": "x", "user": {"name.first": "j"}}),
        );
        assert_eq!(
            got,
            Some(json!({"kibana.alert.original_event.action": "x", "user.name.first": "j"}))
        );
    }

    #[test]
    fn js_equality_quirks() {
        // Numbers are doubles: 5 equals 5.0. Objects inside arrays never match (references).
        let got = pair(
            json!({"n": 5, "objs": [{"id": 1}, "k"], "mixed": {"x": 1}, "arr_vs_obj": [1]}),
            json!({"n": 5.0, "objs": [{"id": 1}, "k"], "mixed": 1, "arr_vs_obj": {"x": 1}}),
        );
        assert_eq!(got, Some(json!({"n": 5, "objs": ["k"], "arr_vs_obj": []})));
        // Duplicates collapse, order follows the first array.
        assert_eq!(
            pair(json!({"a": [2, 1, 2, 3]}), json!({"a": [3, 2, 2]})),
            Some(json!({"a": [2, 3]}))
        );
        // An array vs a scalar wraps the scalar; no match still keeps the key, empty.
        assert_eq!(
            pair(json!({"a": ["x"], "b": "y"}), json!({"a": "x", "b": ["z"]})),
            Some(json!({"a": ["x"], "b": []}))
        );
    }

    #[test]
    fn folds_left_over_three_and_handles_one_and_none() {
        let a = obj(json!({"f1": 1, "f2": 1, "arr": [1, 2], "c": {"s1": 1, "s2": 1}}));
        let b = obj(json!({"f1": 1, "f2": 2, "arr": [1, 2], "c": {"s1": 1, "s2": 2}}));
        let c = obj(json!({"f1": 1, "arr": [1, 2], "c": {"s2": 2}}));
        assert_eq!(
            Value::Object(intersect_all(&[&a, &b, &c])),
            json!({"f1": 1, "arr": [1, 2]})
        );
        let d = obj(json!({"user.id": "u1", "event": {"action": "login"}}));
        let e = obj(json!({"user": {"id": "u1"}, "event": {"action": "login"}}));
        let f = obj(json!({"user.id": "u1", "event.action": "login"}));
        assert_eq!(
            Value::Object(intersect_all(&[&d, &e, &f])),
            json!({"user": {"id": "u1"}, "event": {"action": "login"}})
        );
        // One document is returned as it is (no normalization), none gives nothing.
        let dotted = obj(json!({"a.b": 1, "c": {}}));
        assert_eq!(intersect_all(&[&dotted]), dotted);
        assert!(intersect_all(&[]).is_empty());
        // Nothing in common early stays nothing.
        let x = obj(json!({"p": 1}));
        let y = obj(json!({"q": 1}));
        assert!(intersect_all(&[&x, &y, &x]).is_empty());
    }
}
