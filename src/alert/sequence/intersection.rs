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

use std::collections::{BTreeMap, BTreeSet};

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
    let a = Normalized::of(a);
    let b = Normalized::of(b);
    let mut out = intersect_nodes(&a.root, &b.root);
    if out.is_empty() {
        return None;
    }
    // Output notation (Kibana `applyNotationPreference`): leaves dotted in both inputs move to a
    // dotted top-level key. Segments never contain '.', so the joined path splits back exactly.
    for path in a.dotted.intersection(&b.dotted) {
        let segments: Vec<&str> = path.split('.').collect();
        if let Some(leaf) = take_leaf(&mut out, &segments) {
            out.insert(path.clone(), leaf);
        }
    }
    Some(out)
}

/// A document in nested form, borrowing its leaves: dotted keys expanded into their segments.
/// A node is either a leaf (any non-object value; arrays are leaves) or an object of children.
#[derive(Default)]
struct Node<'a> {
    leaf: Option<&'a Value>,
    children: BTreeMap<&'a str, Node<'a>>,
}

/// Kibana's `flattenToPathValuesWithNotation` + `unflatten` in one walk.
struct Normalized<'a> {
    root: BTreeMap<&'a str, Node<'a>>,
    /// Joined paths of leaves whose own key was dotted (`{"user.name": …}`, `{"a": {"b.c": …}}`).
    dotted: BTreeSet<String>,
}

impl<'a> Normalized<'a> {
    fn of(doc: &'a Map<String, Value>) -> Normalized<'a> {
        let mut n = Normalized {
            root: BTreeMap::new(),
            dotted: BTreeSet::new(),
        };
        let mut prefix = Vec::new();
        insert_object(&mut n.root, doc, &mut prefix, &mut n.dotted);
        prune_empty(&mut n.root);
        n
    }
}

/// Writes every key of `obj` into `target` the way lodash `setWith(result, path, value)` does for
/// each leaf: missing or non-object intermediate segments become objects, a leaf overwrites.
fn insert_object<'a>(
    target: &mut BTreeMap<&'a str, Node<'a>>,
    obj: &'a Map<String, Value>,
    prefix: &mut Vec<&'a str>,
    dotted: &mut BTreeSet<String>,
) {
    for (key, value) in obj {
        let depth = prefix.len();
        let mut segments = key.split('.');
        let mut last = segments.next().unwrap_or_default();
        let mut cur = &mut *target;
        for next in segments {
            prefix.push(last);
            cur = object_at(cur, last);
            last = next;
        }
        prefix.push(last);
        match value {
            Value::Object(inner) => insert_object(object_at(cur, last), inner, prefix, dotted),
            leaf => {
                if key.contains('.') {
                    dotted.insert(prefix.join("."));
                }
                let node = cur.entry(last).or_default();
                node.leaf = Some(leaf);
                node.children.clear();
            }
        }
        prefix.truncate(depth);
    }
}

/// The children of the object under `key`, created (or replacing a leaf) if needed.
fn object_at<'m, 'a>(
    map: &'m mut BTreeMap<&'a str, Node<'a>>,
    key: &'a str,
) -> &'m mut BTreeMap<&'a str, Node<'a>> {
    let node = map.entry(key).or_default();
    node.leaf = None;
    &mut node.children
}

/// Drops objects without leaves (Kibana's flatten never sees them). Returns whether `map` is
/// empty afterwards.
fn prune_empty(map: &mut BTreeMap<&str, Node<'_>>) -> bool {
    map.retain(|_, node| node.leaf.is_some() || !prune_empty(&mut node.children));
    map.is_empty()
}

/// The recursive step (Kibana `intersectValues` over the normalized trees), with empty objects
/// pruned (`pruneEmptyNestedObjects`).
fn intersect_nodes(
    a: &BTreeMap<&str, Node<'_>>,
    b: &BTreeMap<&str, Node<'_>>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, a_node) in a {
        let Some(b_node) = b.get(key) else {
            continue;
        };
        let value = match (a_node.leaf, b_node.leaf) {
            (None, None) => {
                let inner = intersect_nodes(&a_node.children, &b_node.children);
                if inner.is_empty() {
                    continue;
                }
                Value::Object(inner)
            }
            (Some(x), Some(y)) if js_strict_equal(x, y) => x.clone(),
            (Some(x), Some(y)) if x.is_array() || y.is_array() => {
                Value::Array(lodash_intersection(as_slice(x), as_slice(y)))
            }
            // An object against an array: lodash wraps the object, which is in no array.
            (None, Some(Value::Array(_))) | (Some(Value::Array(_)), None) => {
                Value::Array(Vec::new())
            }
            _ => continue,
        };
        out.insert((*key).to_string(), value);
    }
    out
}

/// Removes and returns the non-object value at `path`, dropping objects it leaves empty.
fn take_leaf(map: &mut Map<String, Value>, path: &[&str]) -> Option<Value> {
    let (first, rest) = path.split_first()?;
    if rest.is_empty() {
        return match map.get(*first) {
            Some(Value::Object(_)) | None => None,
            Some(_) => map.remove(*first),
        };
    }
    let Some(Value::Object(inner)) = map.get_mut(*first) else {
        return None;
    };
    let taken = take_leaf(inner, rest);
    if inner.is_empty() {
        map.remove(*first);
    }
    taken
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
    fn objects_against_arrays_scalars_and_empty_objects() {
        // After normalization an empty object does not exist, so `a` is in one document only.
        assert_eq!(
            pair(json!({"a": {}, "k": 1}), json!({"a": [1], "k": 1})),
            Some(json!({"k": 1}))
        );
        // An object against an array: lodash `intersection([obj], arr)` is empty, key kept.
        assert_eq!(
            pair(json!({"a": {"b": 1}}), json!({"a": [1]})),
            Some(json!({"a": []}))
        );
        assert_eq!(
            pair(json!({"a": [1]}), json!({"a": {"b": 1}})),
            Some(json!({"a": []}))
        );
        // An object against a scalar: nothing.
        assert_eq!(pair(json!({"a": {"b": 1}}), json!({"a": 1})), None);
        // A dotted key reaching into a nested object of the other document.
        assert_eq!(
            pair(
                json!({"a": {"b.c": 1, "d": 2}}),
                json!({"a.b": {"c": 1}, "a": {"d": 3}})
            ),
            Some(json!({"a": {"b": {"c": 1}}}))
        );
        // Booleans and nulls are primitives; `true` is not `"true"`.
        assert_eq!(
            pair(
                json!({"t": true, "s": true, "n": null}),
                json!({"t": true, "s": "true", "n": 0})
            ),
            Some(json!({"t": true}))
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
