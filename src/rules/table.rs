//! Typed reads from a span-carrying TOML table, recording errors instead of failing.
//!
//! Every accessor returns `None` on a problem and pushes one error that names the dotted key
//! (`rule.threat[0].tactic.id`), says what was expected and what was found, and points at the
//! value (or, for a missing key, at the table's header). Callers keep reading, so one pass
//! reports every problem of a file.

use std::collections::BTreeMap;
use std::path::Path;

use crate::diag::Span;

use super::load::RuleLoadError;
use super::value::{Node, Value};

/// Error collector for one file: the path and text that error positions refer to.
pub(super) struct Cx<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
    pub(super) errors: Vec<RuleLoadError>,
}

impl Cx<'_> {
    pub(super) fn error(&mut self, span: Span, message: String) {
        self.errors
            .push(RuleLoadError::at(self.path, self.text, span, message));
    }
}

/// A TOML table with the dotted name used in messages (`rule.threat[0].tactic`).
#[derive(Clone)]
pub(super) struct Table<'a> {
    pub(super) name: String,
    pub(super) span: Span,
    pub(super) map: &'a BTreeMap<String, Node>,
}

impl<'a> Table<'a> {
    pub(super) fn root(node: &'a Node) -> Option<Table<'a>> {
        match &node.value {
            Value::Table(map) => Some(Table {
                name: String::new(),
                span: Span::new(0, 0),
                map,
            }),
            _ => None,
        }
    }

    pub(super) fn key_name(&self, key: &str) -> String {
        if self.name.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.name)
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<&'a Node> {
        self.map.get(key)
    }

    pub(super) fn missing(&self, cx: &mut Cx<'_>, key: &str) {
        cx.error(
            self.span,
            format!("missing required key {}", self.key_name(key)),
        );
    }

    pub(super) fn wrong(&self, cx: &mut Cx<'_>, key: &str, node: &Node, expected: &str) {
        cx.error(
            node.span,
            format!(
                "{}: expected {expected}, found {}",
                self.key_name(key),
                node.value.describe()
            ),
        );
    }

    pub(super) fn str(&self, cx: &mut Cx<'_>, key: &str) -> Option<&'a str> {
        let node = self.get(key)?;
        match &node.value {
            Value::String(s) => Some(s),
            _ => {
                self.wrong(cx, key, node, "a string");
                None
            }
        }
    }

    pub(super) fn req_str(&self, cx: &mut Cx<'_>, key: &str) -> Option<&'a str> {
        if self.get(key).is_none() {
            self.missing(cx, key);
            return None;
        }
        self.str(cx, key)
    }

    pub(super) fn int(&self, cx: &mut Cx<'_>, key: &str, min: i64, max: i64) -> Option<i64> {
        let node = self.get(key)?;
        match node.value {
            Value::Integer(i) if (min..=max).contains(&i) => Some(i),
            _ => {
                let expected = if max == i64::MAX {
                    format!("an integer >= {min}")
                } else {
                    format!("an integer from {min} to {max}")
                };
                self.wrong(cx, key, node, &expected);
                None
            }
        }
    }

    pub(super) fn str_list(&self, cx: &mut Cx<'_>, key: &str) -> Option<Vec<String>> {
        let node = self.get(key)?;
        let Value::Array(items) = &node.value else {
            self.wrong(cx, key, node, "an array of strings");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match &item.value {
                Value::String(s) => out.push(s.clone()),
                other => {
                    cx.error(
                        item.span,
                        format!(
                            "{}[{i}]: expected a string, found {}",
                            self.key_name(key),
                            other.describe()
                        ),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }

    pub(super) fn table(&self, cx: &mut Cx<'_>, key: &str) -> Option<Table<'a>> {
        let node = self.get(key)?;
        match &node.value {
            Value::Table(map) => Some(Table {
                name: self.key_name(key),
                span: node.span,
                map,
            }),
            _ => {
                self.wrong(cx, key, node, "a table");
                None
            }
        }
    }

    /// An array of tables (`[[rule.threat]]`); `None` when absent or malformed.
    pub(super) fn tables(&self, cx: &mut Cx<'_>, key: &str) -> Option<Vec<Table<'a>>> {
        let node = self.get(key)?;
        let Value::Array(items) = &node.value else {
            self.wrong(cx, key, node, "an array of tables");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let name = format!("{}[{i}]", self.key_name(key));
            match &item.value {
                Value::Table(map) => out.push(Table {
                    name,
                    span: item.span,
                    map,
                }),
                other => {
                    cx.error(
                        item.span,
                        format!("{name}: expected a table, found {}", other.describe()),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }
}
