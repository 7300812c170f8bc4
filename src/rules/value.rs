//! A TOML value tree in which every node keeps its byte span in the file.
//!
//! `toml::Value` drops positions below the top level, but rule errors must point at the exact
//! key (`[[rule.threat]]` → `tactic.id`). `toml` 0.8 fills `toml::Spanned<T>` at any depth, so
//! this module deserializes the whole file once into [`Node`]s (value + span) and the loader reads
//! typed fields from that tree. Unknown keys survive untouched, which is how `kibana.alert.rule.
//! parameters` can carry keys rulestream does not know.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::diag::Span;

/// A value with the byte range it occupies in the source file (for tables: from the header to
/// the last key of the table).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub value: Value,
}

/// TOML value kinds. Dates/times are kept as their TOML text (rule files do not use them, and
/// JSON has no date type anyway).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime(String),
    Array(Vec<Node>),
    Table(BTreeMap<String, Node>),
}

impl Value {
    /// Short description of the kind and value for "found …" in error messages.
    pub fn describe(&self) -> String {
        match self {
            Value::String(s) => {
                let short: String = s.chars().take(40).collect();
                let ellipsis = if short.len() < s.len() { "…" } else { "" };
                format!("{short:?}{ellipsis}")
            }
            Value::Integer(i) => format!("integer {i}"),
            Value::Float(f) => format!("float {f}"),
            Value::Boolean(b) => format!("boolean {b}"),
            Value::Datetime(d) => format!("datetime {d}"),
            Value::Array(_) => "an array".to_string(),
            Value::Table(_) => "a table".to_string(),
        }
    }

    /// Converts to `toml::Value` (keeping the rule table as `toml::Table` for callers that want
    /// the TOML view).
    pub fn to_toml(&self) -> toml::Value {
        match self {
            Value::String(s) => toml::Value::String(s.clone()),
            Value::Integer(i) => toml::Value::Integer(*i),
            Value::Float(f) => toml::Value::Float(*f),
            Value::Boolean(b) => toml::Value::Boolean(*b),
            Value::Datetime(d) => d
                .parse::<toml::value::Datetime>()
                .map_or_else(|_| toml::Value::String(d.clone()), toml::Value::Datetime),
            Value::Array(items) => {
                toml::Value::Array(items.iter().map(|n| n.value.to_toml()).collect())
            }
            Value::Table(t) => toml::Value::Table(
                t.iter()
                    .map(|(k, n)| (k.clone(), n.value.to_toml()))
                    .collect(),
            ),
        }
    }
}

/// Converts a `toml::Value` to JSON: datetimes become their TOML text, non-finite floats `null`
/// (JSON has neither).
pub fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(items) => J::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = toml::Spanned::<Value>::deserialize(d)?;
        let range = spanned.span();
        Ok(Node {
            span: Span::new(range.start, range.end),
            value: spanned.into_inner(),
        })
    }
}

/// The private key under which `toml` hands a datetime to a deserializer.
const DATETIME_KEY: &str = "$__toml_private_datetime";

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Boolean(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Integer)
            .map_err(|_| E::custom("integer out of range"))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(node) = seq.next_element::<Node>()? {
            items.push(node);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut table = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == DATETIME_KEY {
                // `toml` passes datetimes as a one-entry map holding the text.
                let text: String = map.next_value()?;
                return Ok(Value::Datetime(text));
            }
            let node: Node = map.next_value()?;
            table.insert(key, node);
        }
        Ok(Value::Table(table))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.
mod tests {
    use super::*;

    #[test]
    fn nested_nodes_carry_their_own_spans() {
        let text = "[rule]\nname = \"x\"\n[[rule.threat]]\nframework = \"M\"\n";
        let root: Node = toml::from_str(text).unwrap();
        let Value::Table(top) = &root.value else {
            panic!("root is not a table")
        };
        let Value::Table(rule) = &top["rule"].value else {
            panic!("rule is not a table")
        };
        let name = &rule["name"];
        assert_eq!(&text[name.span.start..name.span.end], "\"x\"");
        let Value::Array(threats) = &rule["threat"].value else {
            panic!("threat is not an array")
        };
        let Value::Table(first) = &threats[0].value else {
            panic!("threat entry is not a table")
        };
        let fw = &first["framework"];
        assert_eq!(&text[fw.span.start..fw.span.end], "\"M\"");
    }

    #[test]
    fn datetimes_are_kept_as_text() {
        let root: Node = toml::from_str("d = 1979-05-27T07:32:00Z\n").unwrap();
        let Value::Table(top) = root.value else {
            panic!("root is not a table")
        };
        assert_eq!(
            top["d"].value,
            Value::Datetime("1979-05-27T07:32:00Z".into())
        );
    }
}
