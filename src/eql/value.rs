//! Runtime values of EQL expressions and how an event's raw values become them.
//!
//! Field values are read according to the field's mapping (`crate::schema`), as Elasticsearch
//! indexes them: a JSON number in a keyword field is the keyword `"5"`, the string `"5"` in a
//! long field is the number 5, `"true"` in a boolean field is `true`. Strings borrow from the
//! event, so reading a value does not allocate.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::event::{EventView, Kind, RawValue};
use crate::schema::{FieldType, DEFAULT_IGNORE_ABOVE};

/// An EQL value. Integers and decimals are kept apart because Elasticsearch's arithmetic is
/// Java's: `5 / 2` is `2` on longs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
}

impl<'a> Val<'a> {
    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null)
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn into_owned(self) -> Val<'static> {
        match self {
            Val::Null => Val::Null,
            Val::Bool(b) => Val::Bool(b),
            Val::Int(i) => Val::Int(i),
            Val::Float(f) => Val::Float(f),
            Val::Str(s) => Val::Str(Cow::Owned(s.into_owned())),
        }
    }

    /// Text form used by `toString` and `concat` (Java's `String.valueOf`).
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            Val::Null => return None,
            Val::Bool(b) => b.to_string(),
            Val::Int(i) => i.to_string(),
            Val::Float(f) => java_double(*f),
            Val::Str(s) => s.to_string(),
        })
    }

    /// Equality as Elasticsearch's `==`: strings byte for byte, numbers by value across int and
    /// decimal; values of different types are never equal.
    pub fn eq_val(&self, other: &Val<'_>) -> Option<bool> {
        match (self, other) {
            (Val::Null, _) | (_, Val::Null) => None,
            (Val::Str(a), Val::Str(b)) => Some(a == b),
            (Val::Bool(a), Val::Bool(b)) => Some(a == b),
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => Some(x == y),
                _ => Some(false),
            },
        }
    }

    /// Ordering for `<`, `>`: numbers by value, strings by UTF-8 bytes (as Lucene orders
    /// terms), booleans false < true. `None` for null or mixed types.
    pub fn cmp_val(&self, other: &Val<'_>) -> Option<Ordering> {
        match (self, other) {
            (Val::Str(a), Val::Str(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
            (Val::Bool(a), Val::Bool(b)) => Some(a.cmp(b)),
            (a, b) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        }
    }
}

/// Java's `Double.toString` for the common cases (`1.0`, `0.5`, `1.0E10`).
pub(crate) fn java_double(f: f64) -> String {
    if f.is_finite() && f == f.trunc() && f.abs() < 1e7 {
        format!("{f:.1}")
    } else if f.abs() >= 1e-3 && f.abs() < 1e7 {
        format!("{f}")
    } else {
        let s = format!("{f:E}");
        if s.contains('.') {
            s
        } else {
            s.replacen('E', ".0E", 1)
        }
    }
}

/// Reads one raw value as the field's mapping indexes it; `None` for what Elasticsearch would
/// not index (objects, keywords above `ignore_above`, malformed numbers).
pub(crate) fn read<'a>(view: &EventView<'a>, v: &RawValue, ty: FieldType) -> Option<Val<'a>> {
    if v.kind == Kind::Object {
        return None;
    }
    let text = view.text(v);
    match ty {
        FieldType::Long | FieldType::Double => match v.kind {
            Kind::Num | Kind::Str => number(text.trim(), ty == FieldType::Long),
            _ => None,
        },
        FieldType::Boolean => match v.kind {
            Kind::True => Some(Val::Bool(true)),
            Kind::False => Some(Val::Bool(false)),
            Kind::Str => match text {
                "true" => Some(Val::Bool(true)),
                "false" | "" => Some(Val::Bool(false)),
                _ => None,
            },
            _ => None,
        },
        FieldType::Dynamic => Some(match v.kind {
            Kind::Num => number(text, false)?,
            Kind::True => Val::Bool(true),
            Kind::False => Val::Bool(false),
            _ => keyword(text, Some(DEFAULT_IGNORE_ABOVE))?,
        }),
        FieldType::Keyword { ignore_above } => keyword(text, ignore_above),
        // Dates, IPs, text and flattened leaves are compared as their text here; the compiler
        // gives dates and IPs their own typed tests.
        _ => Some(Val::Str(Cow::Borrowed(text))),
    }
}

fn keyword(text: &str, ignore_above: Option<usize>) -> Option<Val<'_>> {
    match ignore_above {
        Some(limit) if text.len() > limit && text.chars().count() > limit => None,
        _ => Some(Val::Str(Cow::Borrowed(text))),
    }
}

fn number(text: &str, integral: bool) -> Option<Val<'static>> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(Val::Int(i));
    }
    let f: f64 = text.parse().ok().filter(|f: &f64| f.is_finite())?;
    if integral {
        // `long` fields truncate decimals when indexing.
        let t = f.trunc();
        (t >= i64::MIN as f64 && t <= i64::MAX as f64).then_some(Val::Int(t as i64))
    } else {
        Some(Val::Float(f))
    }
}

/// The value a script sees for a field: Elasticsearch scripts read doc values, `doc[f].get(0)`,
/// and doc values are sorted (keywords by bytes, numbers by value), so a multi-valued field reads
/// as its smallest value. `Null` when the field has no indexed value.
pub(crate) fn script_value<'a>(
    view: &EventView<'a>,
    values: &[RawValue],
    ty: FieldType,
) -> Val<'a> {
    let mut best: Option<Val<'a>> = None;
    for v in values {
        let Some(val) = read(view, v, ty) else {
            continue;
        };
        best = match best {
            None => Some(val),
            Some(b) => {
                if val.cmp_val(&b) == Some(Ordering::Less) {
                    Some(val)
                } else {
                    Some(b)
                }
            }
        };
    }
    best.unwrap_or(Val::Null)
}

/// Case-insensitive equality without allocating: `value` lowercased char by char against an
/// already lowercased `lower`.
pub(crate) fn eq_fold(value: &str, lower: &str) -> bool {
    value.chars().flat_map(char::to_lowercase).eq(lower.chars())
}

/// Case-insensitive equality of two strings, neither lowercased beforehand.
pub(crate) fn eq_fold_both(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_double_text() {
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(0.5), "0.5");
        assert_eq!(java_double(1e10), "1.0E10");
    }

    #[test]
    fn folding_equality_is_unicode_aware() {
        assert!(eq_fold("ÉMILE", "émile"));
        assert!(!eq_fold("EMILE", "émile"));
        assert!(eq_fold_both("Straße", "STRAßE"));
    }

    #[test]
    fn mixed_types_are_unequal_not_errors() {
        assert_eq!(Val::Str("1".into()).eq_val(&Val::Int(1)), Some(false));
        assert_eq!(Val::Int(1).eq_val(&Val::Float(1.0)), Some(true));
        assert_eq!(Val::Null.eq_val(&Val::Int(1)), None);
        assert_eq!(Val::Str("b".into()).cmp_val(&Val::Int(1)), None);
    }
}
