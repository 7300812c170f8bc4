//! The EQL syntax tree. Every node keeps its byte [`Span`] in the query text so that later
//! stages (compile, the sequence engine, the rule loader) can point at the part they reject.
//!
//! The tree keeps what was written, not what it means: `a != b` stays a comparison (not a `not`
//! around `==`), `-1` stays a negation of `1`, and a field keeps its path segments as written. That
//! way the printer in `display.rs` gives back an equivalent query and `parse(print(q)) == q`.

use crate::diag::Span;

/// A whole EQL statement: a query and the pipes after it (`| head 5`).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub body: QueryBody,
    pub pipes: Vec<Pipe>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum QueryBody {
    /// `category where condition`.
    Event(EventQuery),
    Sequence(Sequence),
    Sample(Sample),
}

/// `category where condition`; also each step of a sequence or sample.
#[derive(Debug, Clone, PartialEq)]
pub struct EventQuery {
    pub category: Category,
    pub condition: Expr,
    pub span: Span,
}

/// What comes before `where`: `any`, or a value of `event.category`.
#[derive(Debug, Clone, PartialEq)]
pub enum Category {
    Any,
    /// `process` or `"process"` (Elasticsearch's `eventValue: STRING | IDENTIFIER`).
    Named {
        name: String,
        quoted: bool,
    },
}

/// `sequence [by k…] [with maxspan=D] step… [until step]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    pub by: Vec<Expr>,
    pub maxspan: Option<TimeSpan>,
    pub steps: Vec<SequenceStep>,
    pub until: Option<Box<SequenceStep>>,
    pub span: Span,
}

/// `[query] [by k…] [with runs=N]`, or `![query]` for an event that must not occur.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceStep {
    pub query: EventQuery,
    pub by: Vec<Expr>,
    pub runs: Option<u32>,
    /// `![…]`: a missing-event step.
    pub missing: bool,
    pub span: Span,
}

/// `sample [by k…] [query] [by k…]…`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub by: Vec<Expr>,
    pub steps: Vec<SampleStep>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SampleStep {
    pub query: EventQuery,
    pub by: Vec<Expr>,
    pub span: Span,
}

/// `maxspan=10m`: the number as written and its unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeSpan {
    pub value: u64,
    pub unit: TimeUnit,
    pub span: Span,
}

/// Elasticsearch's units for `maxspan` (`TimeUnit` in its EQL `ExpressionBuilder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Millis,
    Seconds,
    Minutes,
    Hours,
    Days,
}

impl TimeUnit {
    pub fn from_suffix(s: &str) -> Option<Self> {
        Some(match s {
            "ms" => TimeUnit::Millis,
            "s" => TimeUnit::Seconds,
            "m" => TimeUnit::Minutes,
            "h" => TimeUnit::Hours,
            "d" => TimeUnit::Days,
            _ => return None,
        })
    }

    pub fn suffix(self) -> &'static str {
        match self {
            TimeUnit::Millis => "ms",
            TimeUnit::Seconds => "s",
            TimeUnit::Minutes => "m",
            TimeUnit::Hours => "h",
            TimeUnit::Days => "d",
        }
    }

    pub fn millis(self) -> u64 {
        match self {
            TimeUnit::Millis => 1,
            TimeUnit::Seconds => 1_000,
            TimeUnit::Minutes => 60_000,
            TimeUnit::Hours => 3_600_000,
            TimeUnit::Days => 86_400_000,
        }
    }
}

impl TimeSpan {
    /// The span as a duration (saturating: a huge `maxspan` means "no practical limit").
    pub fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.value.saturating_mul(self.unit.millis()))
    }
}

/// `| name args…` (Elasticsearch supports `head` and `tail`; kept generic here).
#[derive(Debug, Clone, PartialEq)]
pub struct Pipe {
    pub name: String,
    pub args: Vec<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Null,
    Bool(bool),
    /// Integers as written (no sign: `-1` is `Neg(1)`).
    Int(u64),
    Float(f64),
    Str(StrLit),
    Field(FieldRef),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare {
        op: CmpOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Arith {
        op: ArithOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// Unary `-`. Unary `+` is kept as `Plus` only for printing; it means nothing.
    Neg(Box<Expr>),
    Plus(Box<Expr>),
    /// `e [not] in[~] (a, b, …)`.
    In {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
        insensitive: bool,
    },
    /// `e : p`, `e like[~] p`, `e regex[~] p`, or the list forms `e : (p1, p2)`.
    Match {
        expr: Box<Expr>,
        op: MatchOp,
        patterns: Vec<Expr>,
        /// Written with parentheses (only changes printing).
        list: bool,
    },
    /// `name(args)` or `name~(args)`.
    Call {
        name: String,
        insensitive: bool,
        args: Vec<Expr>,
    },
}

/// A string literal: its value, and how it was written (for printing back).
#[derive(Debug, Clone, PartialEq)]
pub struct StrLit {
    pub value: String,
    /// `"""…"""`: no escapes inside.
    pub raw: bool,
}

/// A field reference: `a.b`, `` `a b`.c ``, `?a.b` (optional), `a[0]` (indexes are parsed but
/// Elasticsearch rejects them, see compile.rs).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRef {
    pub optional: bool,
    pub segments: Vec<PathSegment>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PathSegment {
    Name { name: String, backticked: bool },
    Index(u64),
}

impl FieldRef {
    /// The dotted field name (indexes left out), as the event reader and schema name it.
    pub fn dotted(&self) -> String {
        let mut out = String::new();
        for seg in &self.segments {
            if let PathSegment::Name { name, .. } = seg {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
        }
        out
    }

    pub fn has_index(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, PathSegment::Index(_)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

impl ArithOp {
    pub fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Mod => "%",
        }
    }
}

/// The string-matching predicates; each is a keyword or `:` followed by constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `:` — case-insensitive, `*` and `?` wildcards.
    Seq,
    Like,
    LikeInsensitive,
    Regex,
    RegexInsensitive,
}

impl MatchOp {
    pub fn symbol(self) -> &'static str {
        match self {
            MatchOp::Seq => ":",
            MatchOp::Like => "like",
            MatchOp::LikeInsensitive => "like~",
            MatchOp::Regex => "regex",
            MatchOp::RegexInsensitive => "regex~",
        }
    }

    pub fn insensitive(self) -> bool {
        matches!(
            self,
            MatchOp::Seq | MatchOp::LikeInsensitive | MatchOp::RegexInsensitive
        )
    }
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Self {
        Expr { kind, span }
    }
}
