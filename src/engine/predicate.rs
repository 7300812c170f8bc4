//! Typed value tests: what one KQL comparison means for the values of one field, given the
//! field's mapping type. Built once per query clause (literals pre-converted: dates to instants,
//! IPs to integers, wildcards to compiled patterns); run per event on the extracted values.
//! A field matches when any of its values matches (Elasticsearch's multi-value semantics).

use std::net::IpAddr;

use super::dates;
use super::text;
use super::wildcard::Wildcard;
use crate::event::{EventView, Kind, RawValue};
use crate::schema::DEFAULT_IGNORE_ABOVE;

/// An inclusive-or-exclusive interval over a totally ordered domain.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval<T> {
    pub lower: Option<(T, bool)>,
    pub upper: Option<(T, bool)>,
}

impl<T: PartialOrd> Interval<T> {
    pub fn point(v: T) -> Self
    where
        T: Clone,
    {
        Interval {
            lower: Some((v.clone(), true)),
            upper: Some((v, true)),
        }
    }

    fn contains(&self, v: &T) -> bool {
        let above = match &self.lower {
            None => true,
            Some((lo, true)) => v >= lo,
            Some((lo, false)) => v > lo,
        };
        let below = match &self.upper {
            None => true,
            Some((hi, true)) => v <= hi,
            Some((hi, false)) => v < hi,
        };
        above && below
    }
}

/// Tests on the text of keyword-like values (keyword, constant_keyword, flattened leaves).
#[derive(Debug, Clone)]
pub enum KeywordTest {
    Eq(Box<str>),
    Wildcard(Wildcard),
    /// Lexicographic on UTF-8 bytes, as Lucene compares terms.
    Range(Interval<Box<str>>),
}

/// Tests on analysed text.
#[derive(Debug, Clone)]
pub enum TextTest {
    /// `match`: any of the query's tokens is among the value's tokens.
    AnyToken(Vec<String>),
    /// `match_phrase`: the query's tokens appear consecutively.
    Phrase(Vec<String>),
    /// `query_string` wildcard: some token matches the (lowercased) pattern.
    Wildcard(Wildcard),
}

/// What a clause tests on each value of a field.
#[derive(Debug, Clone)]
pub enum Test {
    /// `field:*`: the field has at least one value Elasticsearch would index for its type.
    Exists(Indexable),
    Keyword {
        test: KeywordTest,
        ignore_above: Option<usize>,
    },
    /// On `long` fields values are truncated to integers when indexed.
    Number {
        interval: Interval<f64>,
        integral: bool,
    },
    Boolean(Interval<bool>),
    /// Instants in epoch milliseconds.
    Date(Interval<i64>),
    /// IPv4 as IPv4-mapped IPv6, like Lucene's `InetAddressPoint`.
    Ip(Interval<u128>),
    Text(TextTest),
    /// An unmapped field: the JSON type of each value decides (dynamic mapping).
    Dynamic(Box<DynamicTest>),
    /// Matches nothing (e.g. `long_field:1.5`, which Elasticsearch turns into match-none).
    Never,
}

/// Which values a field of some type keeps (what `field:*` sees).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexable {
    Keyword {
        ignore_above: Option<usize>,
    },
    Number,
    Boolean,
    Date,
    Ip,
    /// Every scalar (text, flattened, dynamic fields).
    Any,
}

impl Indexable {
    fn accepts(self, view: &EventView<'_>, v: &RawValue) -> bool {
        match self {
            Indexable::Keyword { ignore_above } => keyword_text(view, v, ignore_above).is_some(),
            Indexable::Number => number_value(view, v, false).is_some(),
            Indexable::Boolean => bool_value(view, v).is_some(),
            Indexable::Date => date_value(view, v).is_some(),
            Indexable::Ip => ip_value(view, v).is_some(),
            Indexable::Any => v.kind != Kind::Object,
        }
    }
}

/// The variants of one clause for every type an unmapped value may have.
#[derive(Debug, Clone)]
pub struct DynamicTest {
    pub exists: bool,
    pub keyword: Option<KeywordTest>,
    pub number: Option<Interval<f64>>,
    pub boolean: Option<Interval<bool>>,
}

impl Test {
    /// True when any value satisfies the test.
    #[inline]
    pub fn any(&self, view: &EventView<'_>, values: &[RawValue]) -> bool {
        values.iter().any(|v| self.value(view, v))
    }

    fn value(&self, view: &EventView<'_>, v: &RawValue) -> bool {
        match self {
            Test::Exists(indexable) => v.kind == Kind::Object || indexable.accepts(view, v),
            Test::Keyword { test, ignore_above } => {
                keyword_text(view, v, *ignore_above).is_some_and(|t| test.matches(t))
            }
            Test::Number { interval, integral } => {
                number_value(view, v, *integral).is_some_and(|n| interval.contains(&n))
            }
            Test::Boolean(interval) => bool_value(view, v).is_some_and(|b| interval.contains(&b)),
            Test::Date(interval) => date_value(view, v).is_some_and(|d| interval.contains(&d)),
            Test::Ip(interval) => ip_value(view, v).is_some_and(|ip| interval.contains(&ip)),
            Test::Text(test) => v.kind == Kind::Str && test.matches(view.text(v)),
            Test::Dynamic(d) => d.value(view, v),
            Test::Never => false,
        }
    }
}

impl DynamicTest {
    fn value(&self, view: &EventView<'_>, v: &RawValue) -> bool {
        match v.kind {
            Kind::Object => self.exists,
            _ if self.exists => keyword_text(view, v, Some(DEFAULT_IGNORE_ABOVE)).is_some(),
            Kind::Str => self.keyword.as_ref().is_some_and(|k| {
                keyword_text(view, v, Some(DEFAULT_IGNORE_ABOVE)).is_some_and(|t| k.matches(t))
            }),
            Kind::Num => self
                .number
                .as_ref()
                .is_some_and(|i| view.text(v).parse::<f64>().is_ok_and(|n| i.contains(&n))),
            Kind::True | Kind::False => self
                .boolean
                .as_ref()
                .is_some_and(|i| i.contains(&(v.kind == Kind::True))),
        }
    }
}

impl KeywordTest {
    #[inline]
    pub fn matches(&self, value: &str) -> bool {
        match self {
            KeywordTest::Eq(expected) => value == &**expected,
            KeywordTest::Wildcard(pattern) => pattern.matches(value),
            KeywordTest::Range(interval) => {
                let lower_ok = match &interval.lower {
                    None => true,
                    Some((lo, true)) => value.as_bytes() >= lo.as_bytes(),
                    Some((lo, false)) => value.as_bytes() > lo.as_bytes(),
                };
                let upper_ok = match &interval.upper {
                    None => true,
                    Some((hi, true)) => value.as_bytes() <= hi.as_bytes(),
                    Some((hi, false)) => value.as_bytes() < hi.as_bytes(),
                };
                lower_ok && upper_ok
            }
        }
    }
}

impl TextTest {
    fn matches(&self, value: &str) -> bool {
        let tokens = text::tokens(value);
        match self {
            TextTest::AnyToken(wanted) => wanted.iter().any(|w| tokens.contains(w)),
            TextTest::Phrase(phrase) => text::contains_phrase(&tokens, phrase),
            TextTest::Wildcard(pattern) => tokens.iter().any(|t| pattern.matches(t)),
        }
    }
}

/// The indexed keyword text of a value: strings and numbers as written, booleans as
/// `true`/`false`; `None` for objects and for strings longer than `ignore_above` characters
/// (Elasticsearch does not index those, so they match nothing, not even `field:*`).
#[inline]
fn keyword_text<'a>(
    view: &EventView<'a>,
    v: &RawValue,
    ignore_above: Option<usize>,
) -> Option<&'a str> {
    if v.kind == Kind::Object {
        return None;
    }
    let t = view.text(v);
    match ignore_above {
        Some(limit) if t.len() > limit && t.chars().count() > limit => None,
        _ => Some(t),
    }
}

/// A numeric field's indexed value: numbers and numeric strings (Elasticsearch coerces them);
/// `long` fields truncate decimals. `None` for what Elasticsearch would reject.
fn number_value(view: &EventView<'_>, v: &RawValue, integral: bool) -> Option<f64> {
    if !matches!(v.kind, Kind::Num | Kind::Str) {
        return None;
    }
    let n: f64 = view.text(v).trim().parse().ok()?;
    if !n.is_finite() {
        return None;
    }
    if integral {
        let t = n.trunc();
        (t >= i64::MIN as f64 && t <= i64::MAX as f64).then_some(t)
    } else {
        Some(n)
    }
}

/// A boolean field accepts JSON booleans and the strings `"true"`, `"false"` and `""` (false).
fn bool_value(view: &EventView<'_>, v: &RawValue) -> Option<bool> {
    match v.kind {
        Kind::True => Some(true),
        Kind::False => Some(false),
        Kind::Str => match view.text(v) {
            "true" => Some(true),
            "false" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn date_value(view: &EventView<'_>, v: &RawValue) -> Option<i64> {
    match v.kind {
        Kind::Str => dates::parse_event_date(view.text(v)),
        Kind::Num => view.text(v).parse::<f64>().ok().map(|n| n as i64),
        _ => None,
    }
}

fn ip_value(view: &EventView<'_>, v: &RawValue) -> Option<u128> {
    if v.kind != Kind::Str {
        return None;
    }
    view.text(v).parse::<IpAddr>().ok().map(ip_to_u128)
}

/// IPv4 addresses become IPv4-mapped IPv6 (`::ffff:a.b.c.d`), so one ordering covers both.
pub fn ip_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The inclusive address range of `addr/prefix` (`prefix` counted on the address's own family).
pub fn cidr_range(addr: IpAddr, prefix: u8) -> Option<Interval<u128>> {
    let (bits, total) = match addr {
        IpAddr::V4(_) => (u32::from(prefix) + 96, 128),
        IpAddr::V6(_) => (u32::from(prefix), 128),
    };
    let max_prefix = if addr.is_ipv4() { 32 } else { 128 };
    if u32::from(prefix) > max_prefix {
        return None;
    }
    let base = ip_to_u128(addr);
    let host_bits = total - bits;
    let mask = if host_bits == 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    let low = base & !mask;
    Some(Interval {
        lower: Some((low, true)),
        upper: Some((low | mask, true)),
    })
}
