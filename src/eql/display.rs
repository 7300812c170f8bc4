//! Printing a syntax tree back as EQL that parses to the same tree, and span-free copies of
//! trees so that round trips can be compared.
//!
//! Parentheses are not stored in the tree, so the printer adds them where precedence needs
//! them (and only there): each node has a binding level, and a child printed at a position that
//! needs a tighter level is wrapped.

use std::fmt::{self, Display, Formatter, Write};

use super::ast::*;
use crate::diag::Span;

/// Binding levels, loosest first (see the grammar in `parser.rs`).
const OR: u8 = 1;
const AND: u8 = 2;
const NOT: u8 = 3;
const CMP: u8 = 4;
const ADD: u8 = 5;
const MUL: u8 = 6;
const UNARY: u8 = 7;
const PRIMARY: u8 = 9;

fn level(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Or(..) => OR,
        ExprKind::And(..) => AND,
        ExprKind::Not(_) => NOT,
        ExprKind::Compare { .. } => CMP,
        ExprKind::Arith {
            op: ArithOp::Add | ArithOp::Sub,
            ..
        } => ADD,
        ExprKind::Arith { .. } => MUL,
        ExprKind::Neg(_) | ExprKind::Plus(_) => UNARY,
        // A predicate binds to a primary; as an operand it sits where a unary may.
        ExprKind::In { .. } | ExprKind::Match { .. } => UNARY,
        _ => PRIMARY,
    }
}

fn write_at(f: &mut Formatter<'_>, e: &Expr, min: u8) -> fmt::Result {
    if level(e) < min {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

fn write_list(f: &mut Formatter<'_>, items: &[Expr]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write_at(f, item, OR)?;
    }
    Ok(())
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Null => f.write_str("null"),
            ExprKind::Bool(b) => write!(f, "{b}"),
            ExprKind::Int(n) => write!(f, "{n}"),
            ExprKind::Float(x) => write!(f, "{x:?}"),
            ExprKind::Str(s) => write_string(f, s),
            ExprKind::Field(field) => write!(f, "{field}"),
            ExprKind::Not(inner) => {
                f.write_str("not ")?;
                write_at(f, inner, NOT)
            }
            ExprKind::Or(l, r) => {
                write_at(f, l, OR)?;
                f.write_str(" or ")?;
                write_at(f, r, AND)
            }
            ExprKind::And(l, r) => {
                write_at(f, l, AND)?;
                f.write_str(" and ")?;
                write_at(f, r, NOT)
            }
            ExprKind::Compare { op, left, right } => {
                write_at(f, left, ADD)?;
                write!(f, " {} ", op.symbol())?;
                write_at(f, right, ADD)
            }
            ExprKind::Arith { op, left, right } => {
                let (l, r) = match op {
                    ArithOp::Add | ArithOp::Sub => (ADD, MUL),
                    _ => (MUL, UNARY),
                };
                write_at(f, left, l)?;
                write!(f, " {} ", op.symbol())?;
                write_at(f, right, r)
            }
            ExprKind::Neg(inner) => {
                f.write_str("-")?;
                write_at(f, inner, UNARY)
            }
            ExprKind::Plus(inner) => {
                f.write_str("+")?;
                write_at(f, inner, UNARY)
            }
            ExprKind::In {
                expr,
                list,
                negated,
                insensitive,
            } => {
                write_at(f, expr, PRIMARY)?;
                if *negated {
                    f.write_str(" not")?;
                }
                f.write_str(if *insensitive { " in~ (" } else { " in (" })?;
                write_list(f, list)?;
                f.write_str(")")
            }
            ExprKind::Match {
                expr,
                op,
                patterns,
                list,
            } => {
                write_at(f, expr, PRIMARY)?;
                let sep = if *op == MatchOp::Seq { "" } else { " " };
                write!(f, "{sep}{} ", op.symbol())?;
                if *list || patterns.len() != 1 {
                    f.write_str("(")?;
                    write_list(f, patterns)?;
                    f.write_str(")")
                } else {
                    write_list(f, patterns)
                }
            }
            ExprKind::Call {
                name,
                insensitive,
                args,
            } => {
                f.write_str(name)?;
                if *insensitive {
                    f.write_str("~")?;
                }
                f.write_str("(")?;
                write_list(f, args)?;
                f.write_str(")")
            }
        }
    }
}

fn write_string(f: &mut Formatter<'_>, s: &StrLit) -> fmt::Result {
    let raw_ok = s.raw
        && !s.value.contains("\"\"\"")
        && !s.value.contains(['\n', '\r'])
        && !s.value.starts_with('"');
    if raw_ok {
        return write!(f, "\"\"\"{}\"\"\"", s.value);
    }
    f.write_char('"')?;
    for c in s.value.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            c if c.is_control() => write!(f, "\\u{{{:02x}}}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '@')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !is_keyword(name)
}

fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "and"
            | "any"
            | "by"
            | "false"
            | "in"
            | "join"
            | "like"
            | "maxspan"
            | "not"
            | "null"
            | "of"
            | "or"
            | "regex"
            | "sample"
            | "sequence"
            | "true"
            | "until"
            | "where"
            | "with"
    )
}

impl Display for FieldRef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.optional {
            f.write_str("?")?;
        }
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                PathSegment::Name { name, backticked } => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if *backticked || !is_plain_identifier(name) {
                        write!(f, "`{}`", name.replace('`', "``"))?;
                    } else {
                        f.write_str(name)?;
                    }
                }
                PathSegment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

impl Display for EventQuery {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.category {
            Category::Any => f.write_str("any")?,
            Category::Named { name, quoted } => {
                if *quoted || !is_plain_identifier(name) {
                    write_string(
                        f,
                        &StrLit {
                            value: name.clone(),
                            raw: false,
                        },
                    )?;
                } else {
                    f.write_str(name)?;
                }
            }
        }
        write!(f, " where {}", self.condition)
    }
}

fn write_by(f: &mut Formatter<'_>, keys: &[Expr]) -> fmt::Result {
    if !keys.is_empty() {
        f.write_str(" by ")?;
        write_list(f, keys)?;
    }
    Ok(())
}

impl Display for SequenceStep {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let open = if self.missing { "![" } else { "[" };
        write!(f, "{open}{}]", self.query)?;
        write_by(f, &self.by)?;
        if let Some(runs) = self.runs {
            write!(f, " with runs={runs}")?;
        }
        Ok(())
    }
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.body {
            QueryBody::Event(q) => write!(f, "{q}")?,
            QueryBody::Sequence(s) => {
                f.write_str("sequence")?;
                write_by(f, &s.by)?;
                if let Some(span) = &s.maxspan {
                    write!(f, " with maxspan={}{}", span.value, span.unit.suffix())?;
                }
                for step in &s.steps {
                    write!(f, " {step}")?;
                }
                if let Some(until) = &s.until {
                    write!(f, " until {until}")?;
                }
            }
            QueryBody::Sample(s) => {
                f.write_str("sample")?;
                write_by(f, &s.by)?;
                for step in &s.steps {
                    write!(f, " [{}]", step.query)?;
                    write_by(f, &step.by)?;
                }
            }
        }
        for pipe in &self.pipes {
            write!(f, " | {}", pipe.name)?;
            if !pipe.args.is_empty() {
                f.write_str(" ")?;
                write_list(f, &pipe.args)?;
            }
        }
        Ok(())
    }
}

// ---- span-free copies ----

const NO_SPAN: Span = Span::new(0, 0);

impl Expr {
    /// The same tree with every span zeroed, to compare trees parsed from different text.
    pub fn without_spans(&self) -> Expr {
        let b = |e: &Expr| Box::new(e.without_spans());
        let v = |es: &[Expr]| es.iter().map(Expr::without_spans).collect();
        let kind = match &self.kind {
            ExprKind::Not(e) => ExprKind::Not(b(e)),
            ExprKind::And(l, r) => ExprKind::And(b(l), b(r)),
            ExprKind::Or(l, r) => ExprKind::Or(b(l), b(r)),
            ExprKind::Compare { op, left, right } => ExprKind::Compare {
                op: *op,
                left: b(left),
                right: b(right),
            },
            ExprKind::Arith { op, left, right } => ExprKind::Arith {
                op: *op,
                left: b(left),
                right: b(right),
            },
            ExprKind::Neg(e) => ExprKind::Neg(b(e)),
            ExprKind::Plus(e) => ExprKind::Plus(b(e)),
            ExprKind::In {
                expr,
                list,
                negated,
                insensitive,
            } => ExprKind::In {
                expr: b(expr),
                list: v(list),
                negated: *negated,
                insensitive: *insensitive,
            },
            ExprKind::Match {
                expr,
                op,
                patterns,
                list,
            } => ExprKind::Match {
                expr: b(expr),
                op: *op,
                patterns: v(patterns),
                list: *list || patterns.len() != 1,
            },
            ExprKind::Call {
                name,
                insensitive,
                args,
            } => ExprKind::Call {
                name: name.clone(),
                insensitive: *insensitive,
                args: v(args),
            },
            other => other.clone(),
        };
        Expr::new(kind, NO_SPAN)
    }
}

impl EventQuery {
    pub fn without_spans(&self) -> EventQuery {
        EventQuery {
            category: self.category.clone(),
            condition: self.condition.without_spans(),
            span: NO_SPAN,
        }
    }
}

fn keys(es: &[Expr]) -> Vec<Expr> {
    es.iter().map(Expr::without_spans).collect()
}

impl SequenceStep {
    pub fn without_spans(&self) -> SequenceStep {
        SequenceStep {
            query: self.query.without_spans(),
            by: keys(&self.by),
            runs: self.runs,
            missing: self.missing,
            span: NO_SPAN,
        }
    }
}

impl Query {
    /// The same tree with every span zeroed (see [`Expr::without_spans`]).
    pub fn without_spans(&self) -> Query {
        let body = match &self.body {
            QueryBody::Event(q) => QueryBody::Event(q.without_spans()),
            QueryBody::Sequence(s) => QueryBody::Sequence(Sequence {
                by: keys(&s.by),
                maxspan: s.maxspan.map(|m| TimeSpan { span: NO_SPAN, ..m }),
                steps: s.steps.iter().map(SequenceStep::without_spans).collect(),
                until: s.until.as_ref().map(|u| Box::new(u.without_spans())),
                span: NO_SPAN,
            }),
            QueryBody::Sample(s) => QueryBody::Sample(Sample {
                by: keys(&s.by),
                steps: s
                    .steps
                    .iter()
                    .map(|st| SampleStep {
                        query: st.query.without_spans(),
                        by: keys(&st.by),
                        span: NO_SPAN,
                    })
                    .collect(),
                span: NO_SPAN,
            }),
        };
        Query {
            body,
            pipes: self
                .pipes
                .iter()
                .map(|p| Pipe {
                    name: p.name.clone(),
                    args: keys(&p.args),
                    span: NO_SPAN,
                })
                .collect(),
            span: NO_SPAN,
        }
    }
}
