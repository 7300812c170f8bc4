//! Evaluating a compiled EQL condition on one event (see `compile.rs` for the two shapes,
//! pushdown tests and script expressions, and why they differ on missing and multi-valued
//! fields).
//!
//! Values borrow from the event and from the compiled tree, so tests on fields, comparisons
//! with constants and pattern matches allocate nothing; only functions that build strings
//! (`concat`, `substring`, `between`, `toString`, and `~` forms on non-constant arguments) do.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::net::IpAddr;

use super::ast::CmpOp;
use super::compile::{Node, ValueTest};
use super::functions;
use super::value::{eq_fold, eq_fold_both, read, script_value, Val};
use crate::engine::dates;
use crate::engine::predicate::{ip_to_u128, Interval};
use crate::event::{EventView, Kind, RawValue};
use crate::schema::FieldType;

impl Node {
    /// Whether the document is returned, following how Elasticsearch translates the condition
    /// (QL `ExpressionTranslators`): `and`/`or` become bool queries over their operands, each
    /// operand that is not a pushdown test becomes its own script query (matching only when the
    /// script returns true), and `not` becomes `must_not` — unless its operand is a script
    /// query, in which case the negation goes into the script and a null stays null (`Nots`).
    /// So `not (a == "x" and length(b) == 1)` matches when `b` is missing, while
    /// `not length(b) == 1` does not.
    pub(crate) fn matches(&self, view: &EventView<'_>) -> bool {
        match self {
            Node::And(items) => items.iter().all(|i| i.matches(view)),
            Node::Or(items) => items.iter().any(|i| i.matches(view)),
            Node::Not(inner) if !inner.is_script() => !inner.matches(view),
            _ => matches!(self.eval(view), Val::Bool(true)),
        }
    }

    /// True when Elasticsearch would run this condition as one script query.
    fn is_script(&self) -> bool {
        match self {
            Node::And(_) | Node::Or(_) | Node::Any(..) | Node::Exists(..) => false,
            Node::Not(inner) => inner.is_script(),
            _ => true,
        }
    }

    pub(crate) fn eval<'a>(&'a self, view: &EventView<'a>) -> Val<'a> {
        match self {
            // Borrow constant strings instead of cloning them.
            Node::Const(Val::Str(s)) => Val::Str(Cow::Borrowed(s.as_ref())),
            Node::Const(v) => v.clone(),
            Node::Field(f) => script_value(view, view.values(f.slot), f.ty),
            Node::Not(inner) => match inner.eval(view) {
                Val::Bool(b) => Val::Bool(!b),
                _ => Val::Null,
            },
            // Three-valued logic as in Elasticsearch's `Predicates` (false wins `and`, true wins `or`).
            Node::And(items) => {
                let mut null = false;
                for item in items {
                    match item.eval(view) {
                        Val::Bool(false) => return Val::Bool(false),
                        Val::Bool(true) => {}
                        _ => null = true,
                    }
                }
                if null {
                    Val::Null
                } else {
                    Val::Bool(true)
                }
            }
            Node::Or(items) => {
                let mut null = false;
                for item in items {
                    match item.eval(view) {
                        Val::Bool(true) => return Val::Bool(true),
                        Val::Bool(false) => {}
                        _ => null = true,
                    }
                }
                if null {
                    Val::Null
                } else {
                    Val::Bool(false)
                }
            }
            Node::Any(f, test) => Val::Bool(
                view.values(f.slot)
                    .iter()
                    .any(|v| test.value(view, v, f.ty)),
            ),
            Node::Exists(f, want) => {
                let exists = view
                    .values(f.slot)
                    .iter()
                    .any(|v| read(view, v, f.ty).is_some() || v.kind == Kind::Object);
                Val::Bool(exists == *want)
            }
            Node::IsNull(x, want) => Val::Bool(x.eval(view).is_null() == *want),
            Node::Cmp(op, l, r) => compare(*op, &l.eval(view), &r.eval(view)),
            Node::Arith(op, l, r) => functions::arith(*op, &l.eval(view), &r.eval(view)),
            Node::Neg(x) => match x.eval(view) {
                Val::Int(i) => Val::Int(i.wrapping_neg()),
                Val::Float(f) => Val::Float(-f),
                _ => Val::Null,
            },
            Node::In {
                expr,
                list,
                insensitive,
            } => {
                let v = expr.eval(view);
                if v.is_null() {
                    return Val::Null;
                }
                let hit = list.iter().any(|item| {
                    let w = item.eval(view);
                    match (&v, &w, insensitive) {
                        (Val::Str(a), Val::Str(b), true) => eq_fold_both(a, b),
                        _ => v.eq_val(&w) == Some(true),
                    }
                });
                Val::Bool(hit)
            }
            Node::Match(x, m) => match x.eval(view) {
                Val::Str(s) => Val::Bool(m.is_match(&s)),
                Val::Null => Val::Null,
                _ => Val::Bool(false),
            },
            Node::Call(func, args) => functions::call(*func, args, view),
        }
    }
}

fn compare(op: CmpOp, l: &Val<'_>, r: &Val<'_>) -> Val<'static> {
    if l.is_null() || r.is_null() {
        return Val::Null;
    }
    let result = match op {
        CmpOp::Eq => l.eq_val(r),
        CmpOp::Ne => l.eq_val(r).map(|b| !b),
        _ => l.cmp_val(r).map(|o| ordering_ok(op, o)),
    };
    result.map_or(Val::Bool(false), Val::Bool)
}

fn ordering_ok(op: CmpOp, o: Ordering) -> bool {
    match op {
        CmpOp::Eq => o == Ordering::Equal,
        CmpOp::Ne => o != Ordering::Equal,
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Le => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Ge => o != Ordering::Less,
    }
}

impl ValueTest {
    fn value(&self, view: &EventView<'_>, raw: &RawValue, ty: FieldType) -> bool {
        match self {
            ValueTest::Ip(ranges) => {
                ip_of(view, raw).is_some_and(|ip| ranges.iter().any(|r| in_interval(r, ip)))
            }
            ValueTest::IpCmp(op, want) => {
                ip_of(view, raw).is_some_and(|ip| ordering_ok(*op, ip.cmp(want)))
            }
            ValueTest::Date(op, want) => {
                date_of(view, raw).is_some_and(|d| ordering_ok(*op, d.cmp(want)))
            }
            _ => {
                let Some(v) = read(view, raw, ty) else {
                    return false;
                };
                match self {
                    ValueTest::Cmp(CmpOp::Eq, want) => v.eq_val(want) == Some(true),
                    ValueTest::Cmp(op, want) => {
                        v.cmp_val(want).is_some_and(|o| ordering_ok(*op, o))
                    }
                    ValueTest::In(items, insensitive) => items.iter().any(|w| match (&v, w) {
                        (Val::Str(a), Val::Str(b)) if *insensitive => eq_fold(a, b),
                        _ => v.eq_val(w) == Some(true),
                    }),
                    ValueTest::Match(m) => match &v {
                        Val::Str(s) => m.is_match(s),
                        // A number in a dynamic field is matched on its text, as a keyword is.
                        _ => false,
                    },
                    _ => false,
                }
            }
        }
    }
}

/// `Interval::contains` is private to `engine::predicate`; this is the same inclusive check.
pub(crate) fn in_interval(r: &Interval<u128>, v: u128) -> bool {
    let above = match r.lower {
        None => true,
        Some((lo, true)) => v >= lo,
        Some((lo, false)) => v > lo,
    };
    let below = match r.upper {
        None => true,
        Some((hi, true)) => v <= hi,
        Some((hi, false)) => v < hi,
    };
    above && below
}

fn ip_of(view: &EventView<'_>, raw: &RawValue) -> Option<u128> {
    if raw.kind != Kind::Str {
        return None;
    }
    view.text(raw).parse::<IpAddr>().ok().map(ip_to_u128)
}

fn date_of(view: &EventView<'_>, raw: &RawValue) -> Option<i64> {
    match raw.kind {
        Kind::Str => dates::parse_event_date(view.text(raw)),
        Kind::Num => view.text(raw).parse::<f64>().ok().map(|n| n as i64),
        _ => None,
    }
}
