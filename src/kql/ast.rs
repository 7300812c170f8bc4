//! The KQL syntax tree, as Kibana's grammar (`kbn-es-query` `kuery/grammar/grammar.peggy`) builds
//! it, with byte spans for error messages. This tree is the contract between the parser and the
//! compiler in `engine`: it records what the user wrote (quoted or not, where the wildcards are),
//! and leaves all meaning (field types, case, analysis) to the compiler.

use crate::diag::Span;

/// A whole query, or any sub-query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// `a or b or c` (at least two operands).
    Or(Vec<Query>, Span),
    /// `a and b and c` (at least two operands).
    And(Vec<Query>, Span),
    /// `not a`.
    Not(Box<Query>, Span),
    /// `field: value`, `field: (a or b and not c)`. `field:*` is a `Field` whose value is a
    /// single unquoted literal made of one wildcard; the compiler turns it into an exists test.
    Field {
        field: FieldName,
        values: ValueExpr,
        span: Span,
    },
    /// `field < value`, `field >= value`…
    Range {
        field: FieldName,
        op: RangeOp,
        value: Literal,
        span: Span,
    },
    /// `path: { sub-query }` — a nested query; field names inside are relative to `path`.
    Nested {
        path: FieldName,
        query: Box<Query>,
        span: Span,
    },
    /// A bare value with no field (`foo`, `"foo bar"`): Kibana searches every field with it.
    FreeText { value: Literal, span: Span },
}

/// The right-hand side of `field: …`: a value, or a parenthesised boolean list of values.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueExpr {
    Or(Vec<ValueExpr>, Span),
    And(Vec<ValueExpr>, Span),
    Not(Box<ValueExpr>, Span),
    Value(Literal),
}

/// A value or field name as written: quoted or not, split into text and wildcards.
/// Escapes are already resolved in `Text` pieces (`a\*b` → `Text("a*b")`).
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    pub pieces: Vec<Piece>,
    /// Written in double quotes: a phrase, never a wildcard (`*` inside is literal text).
    pub quoted: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// An unescaped `*` in an unquoted literal.
    Wildcard,
}

/// A field name; may contain wildcards (`okta.*`) when unquoted.
pub type FieldName = Literal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Literal {
    /// True for `*` alone, unquoted: `field:*` means "field exists".
    pub fn is_match_all(&self) -> bool {
        !self.quoted && self.pieces == [Piece::Wildcard]
    }

    /// True when the literal holds at least one wildcard.
    pub fn has_wildcard(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Wildcard))
    }

    /// The text with wildcards written as `*` (for messages and for literals without wildcards).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Wildcard => out.push('*'),
            }
        }
        out
    }
}

impl Query {
    pub fn span(&self) -> Span {
        match self {
            Query::Or(_, s) | Query::And(_, s) | Query::Not(_, s) => *s,
            Query::Field { span, .. }
            | Query::Range { span, .. }
            | Query::Nested { span, .. }
            | Query::FreeText { span, .. } => *span,
        }
    }
}
