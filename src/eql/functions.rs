//! EQL's functions, as Elasticsearch defines them (`x-pack/plugin/eql/.../function/scalar` and
//! the "Function reference" page): argument checks at compile time, pushdown where
//! Elasticsearch turns the call into a query (a field and constants: `startsWith` → prefix,
//! `endsWith`/`stringContains` → wildcard, `cidrMatch` → terms on ranges, so any value of the
//! field may match), script evaluation otherwise (nulls propagate).
//!
//! `wildcard()` is not an Elasticsearch function (it was replaced by `like`), so it is rejected
//! with that hint, as Elasticsearch does ("Unknown function").

use std::borrow::Cow;

use super::ast::{ArithOp, Expr, ExprKind};
use super::compile::{fold_node, parse_cidr, Compiler, Matcher, Node, ValueTest};
use super::error::{EqlError, EqlErrorKind};
use super::eval::in_interval;
use super::value::Val;
use crate::diag::Span;
use crate::engine::predicate::ip_to_u128;
use crate::event::EventView;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Add,
    Between { insensitive: bool },
    CidrMatch,
    Concat,
    Divide,
    EndsWith { insensitive: bool },
    IndexOf { insensitive: bool },
    Length,
    Modulo,
    Multiply,
    Number,
    StartsWith { insensitive: bool },
    StringContains { insensitive: bool },
    Substring,
    Subtract,
    ToString,
}

/// Name, whether `~` is allowed, and the argument count range.
fn lookup(name: &str, insensitive: bool) -> Option<(Func, usize, usize)> {
    let i = insensitive;
    let (f, min, max, tilde) = match name {
        "add" => (Func::Add, 2, 2, false),
        "between" => (Func::Between { insensitive: i }, 3, 4, true),
        "cidrMatch" => (Func::CidrMatch, 2, usize::MAX, false),
        "concat" => (Func::Concat, 1, usize::MAX, false),
        "divide" => (Func::Divide, 2, 2, false),
        "endsWith" => (Func::EndsWith { insensitive: i }, 2, 2, true),
        "indexOf" => (Func::IndexOf { insensitive: i }, 2, 3, true),
        "length" => (Func::Length, 1, 1, false),
        "modulo" => (Func::Modulo, 2, 2, false),
        "multiply" => (Func::Multiply, 2, 2, false),
        "number" => (Func::Number, 1, 2, false),
        "startsWith" => (Func::StartsWith { insensitive: i }, 2, 2, true),
        "stringContains" => (Func::StringContains { insensitive: i }, 2, 2, true),
        "substring" => (Func::Substring, 2, 3, false),
        "subtract" => (Func::Subtract, 2, 2, false),
        "toString" => (Func::ToString, 1, 1, false),
        _ => return None,
    };
    (tilde || !insensitive).then_some((f, min, max))
}

pub(crate) fn compile_call(
    c: &mut Compiler<'_>,
    span: Span,
    name: &str,
    insensitive: bool,
    args: &[Expr],
) -> Result<Node, EqlError> {
    let shown = format!("{name}{}", if insensitive { "~" } else { "" });
    let Some((func, min, max)) = lookup(name, insensitive) else {
        let mut err = EqlError::new(
            EqlErrorKind::Invalid,
            span,
            "a known function",
            format!("unknown function '{shown}'"),
        );
        if name == "wildcard" {
            err = err.with_hint("Elasticsearch has no wildcard(); use `field like \"pattern\"`");
        } else if insensitive && lookup(name, false).is_some() {
            err = err.with_hint(format!("{name} has no case-insensitive '~' form"));
        }
        return Err(err);
    };
    if args.len() < min || args.len() > max {
        let want = match (min, max) {
            (a, b) if a == b => format!("{a} argument(s)"),
            (a, usize::MAX) => format!("at least {a} argument(s)"),
            (a, b) => format!("{a} to {b} arguments"),
        };
        return Err(EqlError::new(
            EqlErrorKind::Invalid,
            span,
            format!("{shown} with {want}"),
            format!("{} argument(s)", args.len()),
        ));
    }
    if let Some(node) = pushdown(c, func, args)? {
        return Ok(node);
    }
    let nodes = args
        .iter()
        .map(|a| c.node(a))
        .collect::<Result<Vec<_>, _>>()?;
    if func == Func::CidrMatch {
        // Elasticsearch requires the CIDR arguments to be constant strings.
        for a in &args[1..] {
            if !matches!(&a.kind, ExprKind::Str(s) if parse_cidr(&s.value).is_some()) {
                return Err(EqlError::new(
                    EqlErrorKind::Invalid,
                    a.span,
                    "a constant CIDR block such as \"10.0.0.0/8\"",
                    a.to_string(),
                ));
            }
        }
    }
    Ok(fold_node(Node::Call(func, nodes)))
}

/// A field and constant strings: the query form, matching when any value of the field does.
/// Called after the arity check, so `args[0]` exists and two-argument functions have `args[1]`.
fn pushdown(c: &mut Compiler<'_>, func: Func, args: &[Expr]) -> Result<Option<Node>, EqlError> {
    let Some(field) = c.as_field(&args[0]) else {
        return Ok(None);
    };
    let mut texts = Vec::new();
    for a in &args[1..] {
        match &a.kind {
            ExprKind::Str(s) => texts.push(s.value.clone()),
            _ => return Ok(None),
        }
    }
    // The needle is a literal (its `*` and `?` are not wildcards).
    let test = match func {
        Func::StartsWith { insensitive } => ValueTest::Match(literal_matcher(
            &texts[0],
            false,
            true,
            insensitive,
            args[1].span,
        )?),
        Func::EndsWith { insensitive } => ValueTest::Match(literal_matcher(
            &texts[0],
            true,
            false,
            insensitive,
            args[1].span,
        )?),
        Func::StringContains { insensitive } => ValueTest::Match(literal_matcher(
            &texts[0],
            true,
            true,
            insensitive,
            args[1].span,
        )?),
        Func::CidrMatch => {
            let mut ranges = Vec::new();
            for (t, a) in texts.iter().zip(&args[1..]) {
                ranges.push(parse_cidr(t).ok_or_else(|| {
                    EqlError::new(
                        EqlErrorKind::Invalid,
                        a.span,
                        "a CIDR block such as \"10.0.0.0/8\"",
                        format!("'{t}'"),
                    )
                })?);
            }
            ValueTest::Ip(ranges)
        }
        _ => return Ok(None),
    };
    Ok(Some(Node::Any(field, test)))
}

/// A regex for "starts with / ends with / contains `lit`" (the literal escaped).
fn literal_matcher(
    lit: &str,
    any_before: bool,
    any_after: bool,
    insensitive: bool,
    span: Span,
) -> Result<Matcher, EqlError> {
    let mut re = String::from(if insensitive { "(?is)^" } else { "(?s)^" });
    if any_before {
        re.push_str(".*");
    }
    re.push_str(&regex::escape(lit));
    if any_after {
        re.push_str(".*");
    }
    re.push('$');
    // Only the regex size limit can fail here (a literal of megabytes).
    regex::Regex::new(&re)
        .map(|regex| Matcher { regex })
        .map_err(|e| {
            EqlError::new(
                EqlErrorKind::Invalid,
                span,
                "a shorter pattern",
                e.to_string(),
            )
        })
}

/// Java long/double arithmetic: ints stay ints (wrapping, truncating division), a zero divisor
/// gives null.
pub(crate) fn arith(op: ArithOp, l: &Val<'_>, r: &Val<'_>) -> Val<'static> {
    match (l, r) {
        (Val::Int(a), Val::Int(b)) => {
            let (a, b) = (*a, *b);
            match op {
                ArithOp::Add => Val::Int(a.wrapping_add(b)),
                ArithOp::Sub => Val::Int(a.wrapping_sub(b)),
                ArithOp::Mul => Val::Int(a.wrapping_mul(b)),
                ArithOp::Div if b == 0 => Val::Null,
                ArithOp::Div => Val::Int(a.wrapping_div(b)),
                ArithOp::Mod if b == 0 => Val::Null,
                ArithOp::Mod => Val::Int(a.wrapping_rem(b)),
            }
        }
        _ => match (l.as_f64(), r.as_f64()) {
            (Some(a), Some(b)) => {
                let v = match op {
                    ArithOp::Add => a + b,
                    ArithOp::Sub => a - b,
                    ArithOp::Mul => a * b,
                    ArithOp::Div => a / b,
                    ArithOp::Mod => a % b,
                };
                if v.is_finite() {
                    Val::Float(v)
                } else {
                    Val::Null
                }
            }
            _ => Val::Null,
        },
    }
}

fn lower_if(s: &str, insensitive: bool) -> Cow<'_, str> {
    if insensitive {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Script evaluation of a call.
pub(crate) fn call<'a>(func: Func, args: &'a [Node], view: &EventView<'a>) -> Val<'a> {
    // The two variadic functions read their arguments one by one.
    match func {
        Func::Concat => {
            let mut out = String::new();
            for a in args {
                match a.eval(view).to_text() {
                    Some(t) => out.push_str(&t),
                    None => return Val::Null,
                }
            }
            return Val::Str(Cow::Owned(out));
        }
        Func::CidrMatch => {
            let ip = args.first().map_or(Val::Null, |a| a.eval(view));
            let Some(ip) = ip.as_str().and_then(|s| s.parse().ok()).map(ip_to_u128) else {
                return Val::Null;
            };
            return Val::Bool(args.iter().skip(1).any(|c| {
                c.eval(view)
                    .as_str()
                    .and_then(parse_cidr)
                    .is_some_and(|r| in_interval(&r, ip))
            }));
        }
        _ => {}
    }
    // The others take at most four; absent optional arguments read as null. A fixed array keeps
    // the call free of heap allocation.
    let arg = |i: usize| args.get(i).map_or(Val::Null, |a| a.eval(view));
    let vals: [Val<'a>; 4] = [arg(0), arg(1), arg(2), arg(3)];
    let arith_op = match func {
        Func::Add => Some(ArithOp::Add),
        Func::Subtract => Some(ArithOp::Sub),
        Func::Multiply => Some(ArithOp::Mul),
        Func::Divide => Some(ArithOp::Div),
        Func::Modulo => Some(ArithOp::Mod),
        _ => None,
    };
    if let Some(op) = arith_op {
        return arith(op, &vals[0], &vals[1]);
    }
    match func {
        Func::ToString => vals[0]
            .to_text()
            .map_or(Val::Null, |t| Val::Str(Cow::Owned(t))),
        Func::Length => match &vals[0] {
            Val::Str(s) => Val::Int(s.chars().count() as i64),
            _ => Val::Null,
        },
        Func::StartsWith { insensitive }
        | Func::EndsWith { insensitive }
        | Func::StringContains { insensitive } => {
            let (Some(s), Some(p)) = (vals[0].as_str(), vals[1].as_str()) else {
                return Val::Null;
            };
            let (s, p) = (lower_if(s, insensitive), lower_if(p, insensitive));
            Val::Bool(match func {
                Func::StartsWith { .. } => s.starts_with(&*p),
                Func::EndsWith { .. } => s.ends_with(&*p),
                _ => s.contains(&*p),
            })
        }
        Func::IndexOf { insensitive } => {
            let (Some(s), Some(p)) = (vals[0].as_str(), vals[1].as_str()) else {
                return Val::Null;
            };
            let start = match vals.get(2) {
                None | Some(Val::Null) => 0,
                Some(Val::Int(i)) => (*i).max(0) as usize,
                _ => return Val::Null,
            };
            let (s, p) = (lower_if(s, insensitive), lower_if(p, insensitive));
            // Positions are in characters, as Java counts them (for the BMP).
            let byte_start = s.char_indices().nth(start).map_or(s.len(), |(b, _)| b);
            if start > s.chars().count() {
                return Val::Null;
            }
            match s[byte_start..].find(&*p) {
                Some(b) => Val::Int(s[..byte_start + b].chars().count() as i64),
                None => Val::Null,
            }
        }
        Func::Between { insensitive } => {
            let (Some(s), Some(l), Some(r)) =
                (vals[0].as_str(), vals[1].as_str(), vals[2].as_str())
            else {
                return Val::Null;
            };
            let greedy = matches!(vals.get(3), Some(Val::Bool(true)));
            between(s, l, r, greedy, insensitive).map_or(Val::Null, |b| Val::Str(Cow::Owned(b)))
        }
        Func::Substring => {
            let Some(s) = vals[0].as_str() else {
                return Val::Null;
            };
            let int = |v: Option<&Val<'_>>| match v {
                Some(Val::Int(i)) => Some(Some(*i)),
                None | Some(Val::Null) => Some(None),
                _ => None,
            };
            let (Some(Some(start)), Some(end)) = (int(vals.get(1)), int(vals.get(2))) else {
                return Val::Null;
            };
            Val::Str(Cow::Owned(substring(s, start, end)))
        }
        Func::Number => {
            let Some(s) = vals[0].as_str() else {
                return Val::Null;
            };
            let base = match vals.get(1) {
                None | Some(Val::Null) => 10,
                Some(Val::Int(b)) if (2..=36).contains(b) => *b as u32,
                _ => return Val::Null,
            };
            number(s, base)
        }
        _ => Val::Null,
    }
}

/// Python-style slice by characters: negative positions count from the end.
fn substring(s: &str, start: i64, end: Option<i64>) -> String {
    let n = s.chars().count() as i64;
    let norm = |i: i64| if i < 0 { (n + i).max(0) } else { i.min(n) };
    let (a, b) = (norm(start), norm(end.unwrap_or(n)));
    if a >= b {
        return String::new();
    }
    s.chars().skip(a as usize).take((b - a) as usize).collect()
}

/// `between("a-b-c", "-", "-")` is `"b"`; greedy takes the last right delimiter.
fn between(s: &str, left: &str, right: &str, greedy: bool, insensitive: bool) -> Option<String> {
    let (hs, l, r) = (
        lower_if(s, insensitive),
        lower_if(left, insensitive),
        lower_if(right, insensitive),
    );
    let start = hs.find(&*l)? + l.len();
    let rest = &hs[start..];
    let end = if greedy {
        rest.rfind(&*r)?
    } else {
        rest.find(&*r)?
    };
    // Lowercasing may change byte lengths for some characters; slice the original only when
    // it is safe, else return the lowercased slice.
    if hs.len() == s.len() {
        s.get(start..start + end).map(str::to_owned)
    } else {
        Some(rest[..end].to_owned())
    }
}

fn number(s: &str, base: u32) -> Val<'static> {
    let t = s.trim();
    if base == 10 {
        if let Ok(i) = t.parse::<i64>() {
            return Val::Int(i);
        }
        return t
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map_or(Val::Null, Val::Float);
    }
    let digits = if base == 16 {
        t.strip_prefix("0x")
            .or_else(|| t.strip_prefix("0X"))
            .unwrap_or(t)
    } else {
        t
    };
    i64::from_str_radix(digits, base).map_or(Val::Null, Val::Int)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_counts_characters_and_negative_positions() {
        assert_eq!(substring("héllo", 1, Some(3)), "él");
        assert_eq!(substring("hello", -3, None), "llo");
        assert_eq!(substring("hello", 3, Some(1)), "");
        assert_eq!(substring("hello", -99, Some(99)), "hello");
    }

    #[test]
    fn between_greedy_and_insensitive() {
        assert_eq!(
            between("a-b-c", "-", "-", false, false).as_deref(),
            Some("b")
        );
        assert_eq!(
            between("a-b-c-", "-", "-", true, false).as_deref(),
            Some("b-c")
        );
        assert_eq!(
            between("xAbCx", "a", "c", false, true).as_deref(),
            Some("b")
        );
        assert_eq!(between("abc", "z", "c", false, false), None);
    }

    #[test]
    fn number_bases() {
        assert_eq!(number("42", 10), Val::Int(42));
        assert_eq!(number("4.5", 10), Val::Float(4.5));
        assert_eq!(number("0x2A", 16), Val::Int(42));
        assert_eq!(number("z", 10), Val::Null);
    }

    #[test]
    fn java_arithmetic() {
        assert_eq!(arith(ArithOp::Div, &Val::Int(7), &Val::Int(2)), Val::Int(3));
        assert_eq!(
            arith(ArithOp::Mod, &Val::Int(-7), &Val::Int(2)),
            Val::Int(-1)
        );
        assert_eq!(arith(ArithOp::Div, &Val::Int(1), &Val::Int(0)), Val::Null);
        assert_eq!(
            arith(ArithOp::Add, &Val::Int(1), &Val::Float(0.5)),
            Val::Float(1.5)
        );
        assert_eq!(
            arith(ArithOp::Add, &Val::Int(i64::MAX), &Val::Int(1)),
            Val::Int(i64::MIN)
        );
    }
}
