//! Printing a syntax tree back as KQL, and span-free copies to compare trees in round trips.
//!
//! The printer writes the shortest form that Kibana's grammar reads back into the same tree:
//! parentheses only where precedence needs them (`not` > `and` > `or`; a same-level `or` inside
//! an `or` was written with parentheses, since the parser keeps it nested, so it gets them back),
//! and escapes in unquoted text for everything the grammar would otherwise read as syntax.

use std::fmt::{self, Write};

use super::ast::{Literal, Piece, Query, RangeOp, ValueExpr};
use super::lexer::is_space;
use crate::diag::Span;

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::Or(items, _) => join(f, items, " or ", |q| matches!(q, Query::Or(..))),
            Query::And(items, _) => join(f, items, " and ", |q| {
                matches!(q, Query::Or(..) | Query::And(..))
            }),
            Query::Not(inner, _) => {
                let group = matches!(**inner, Query::Or(..) | Query::And(..) | Query::Not(..));
                f.write_str("not ")?;
                parenthesized(f, inner, group)
            }
            Query::Field { field, values, .. } => match values {
                ValueExpr::Value(value) => write!(f, "{field}:{value}"),
                list => write!(f, "{field}:({list})"),
            },
            Query::Range {
                field, op, value, ..
            } => write!(f, "{field} {} {value}", op.symbol()),
            Query::Nested { path, query, .. } => write!(f, "{path}:{{ {query} }}"),
            Query::FreeText { value, .. } => write!(f, "{value}"),
        }
    }
}

impl fmt::Display for ValueExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueExpr::Or(items, _) => join(f, items, " or ", |v| matches!(v, ValueExpr::Or(..))),
            ValueExpr::And(items, _) => join(f, items, " and ", |v| {
                matches!(v, ValueExpr::Or(..) | ValueExpr::And(..))
            }),
            ValueExpr::Not(inner, _) => {
                f.write_str("not ")?;
                let group = !matches!(**inner, ValueExpr::Value(_));
                parenthesized(f, inner, group)
            }
            ValueExpr::Value(value) => write!(f, "{value}"),
        }
    }
}

/// A literal as KQL source: `"…"` with `\\ \" \t \r \n` escaped, or unquoted text with every
/// special character and keyword escaped.
impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.quoted {
            f.write_char('"')?;
            for piece in &self.pieces {
                match piece {
                    Piece::Text(text) => write_quoted_text(f, text)?,
                    // Not produced by the parser; `*` in quotes is plain text anyway.
                    Piece::Wildcard => f.write_char('*')?,
                }
            }
            return f.write_char('"');
        }
        if self.pieces.is_empty() {
            // Kibana trims unquoted text, so `a:\t` is the empty value; no other spelling is.
            return f.write_str("\\t");
        }
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => write_unquoted_text(f, text)?,
                Piece::Wildcard => f.write_char('*')?,
            }
        }
        Ok(())
    }
}

fn write_quoted_text(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for c in text.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '"' => f.write_str("\\\"")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            '\n' => f.write_str("\\n")?,
            c => f.write_char(c)?,
        }
    }
    Ok(())
}

/// Unquoted text: specials get a backslash, `\t \r \n` their escapes, and a keyword that the
/// grammar could read as an operator is escaped. `or`/`and` are only operators between spaces,
/// `not` only before one; we escape them when either side touches a space, which is a little
/// more than needed and always safe, and `not` at the end too, as a space may follow it.
/// `not` is written `\u006eot`: `\not` would be read as `\n`.
fn write_unquoted_text(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    let mut prev: Option<char> = None;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(word) = keyword_needing_escape(rest, prev) {
            let (first, tail) = word.split_at(1);
            match first {
                "n" => f.write_str("\\u006e")?,
                "N" => f.write_str("\\u004e")?,
                other => write!(f, "\\{other}")?,
            }
            f.write_str(tail)?;
            prev = tail.chars().last();
            rest = &rest[word.len()..];
            continue;
        }
        match c {
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            '\n' => f.write_str("\\n")?,
            c if super::lexer::is_special(c) => write!(f, "\\{c}")?,
            c => f.write_char(c)?,
        }
        prev = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(())
}

/// The keyword at the start of `rest` (as written) if it must be escaped.
fn keyword_needing_escape(rest: &str, prev: Option<char>) -> Option<&str> {
    ["or", "and", "not"].into_iter().find_map(|word| {
        let candidate = rest.get(..word.len())?;
        if !candidate.eq_ignore_ascii_case(word) {
            return None;
        }
        let next = rest[word.len()..].chars().next();
        let next_is_space = next.is_some_and(is_space);
        let prev_is_space = prev.is_some_and(is_space);
        // A trailing `not` may be followed by a space in the printed query (` or …`, ` < 5`).
        let trailing_not = word == "not" && next.is_none();
        (next_is_space || prev_is_space || trailing_not).then_some(candidate)
    })
}

fn join<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
    separator: &str,
    needs_group: impl Fn(&T) -> bool,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        parenthesized(f, item, needs_group(item))?;
    }
    Ok(())
}

fn parenthesized<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    item: &T,
    group: bool,
) -> fmt::Result {
    if group {
        write!(f, "({item})")
    } else {
        write!(f, "{item}")
    }
}

impl RangeOp {
    /// The operator as written in KQL.
    pub fn symbol(self) -> &'static str {
        match self {
            RangeOp::Lt => "<",
            RangeOp::Lte => "<=",
            RangeOp::Gt => ">",
            RangeOp::Gte => ">=",
        }
    }
}

impl Query {
    /// The same tree with every span zeroed, to compare trees that came from different text.
    pub fn without_spans(&self) -> Query {
        let none = Span::default();
        match self {
            Query::Or(items, _) => {
                Query::Or(items.iter().map(Query::without_spans).collect(), none)
            }
            Query::And(items, _) => {
                Query::And(items.iter().map(Query::without_spans).collect(), none)
            }
            Query::Not(inner, _) => Query::Not(Box::new(inner.without_spans()), none),
            Query::Field { field, values, .. } => Query::Field {
                field: field.without_spans(),
                values: values.without_spans(),
                span: none,
            },
            Query::Range {
                field, op, value, ..
            } => Query::Range {
                field: field.without_spans(),
                op: *op,
                value: value.without_spans(),
                span: none,
            },
            Query::Nested { path, query, .. } => Query::Nested {
                path: path.without_spans(),
                query: Box::new(query.without_spans()),
                span: none,
            },
            Query::FreeText { value, .. } => Query::FreeText {
                value: value.without_spans(),
                span: none,
            },
        }
    }
}

impl ValueExpr {
    /// See [`Query::without_spans`].
    pub fn without_spans(&self) -> ValueExpr {
        let none = Span::default();
        match self {
            ValueExpr::Or(items, _) => {
                ValueExpr::Or(items.iter().map(ValueExpr::without_spans).collect(), none)
            }
            ValueExpr::And(items, _) => {
                ValueExpr::And(items.iter().map(ValueExpr::without_spans).collect(), none)
            }
            ValueExpr::Not(inner, _) => ValueExpr::Not(Box::new(inner.without_spans()), none),
            ValueExpr::Value(lit) => ValueExpr::Value(lit.without_spans()),
        }
    }
}

impl Literal {
    /// See [`Query::without_spans`].
    pub fn without_spans(&self) -> Literal {
        Literal {
            pieces: self.pieces.clone(),
            quoted: self.quoted,
            span: Span::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn unquoted(pieces: Vec<Piece>) -> Literal {
        Literal {
            pieces,
            quoted: false,
            span: Span::default(),
        }
    }

    fn text(t: &str) -> Piece {
        Piece::Text(t.to_string())
    }

    #[test]
    fn prints_canonical_kql_with_minimal_parentheses() {
        let cases = [
            ("a:b", "a:b"),
            ("a : \"b c\"", "a:\"b c\""),
            ("A AND b OR NOT c", "A and b or not c"),
            ("(a or b) and c", "(a or b) and c"),
            ("(a or b) or c", "(a or b) or c"),
            ("a and (b and c)", "a and (b and c)"),
            ("not (not a)", "not (not a)"),
            ("not (a and b)", "not (a and b)"),
            (
                "x:(a or (b or c) and not (d))",
                "x:(a or (b or c) and not d)",
            ),
            ("x:(not (a or b))", "x:(not (a or b))"),
            ("x:(a)", "x:a"),
            ("x >= 5", "x >= 5"),
            ("n:{a:b}", "n:{ a:b }"),
            ("message: quick brown fox", "message:quick brown fox"),
        ];
        for (query, want) in cases {
            let q = parse(query).unwrap_or_else(|e| panic!("{query}: {e}"));
            assert_eq!(q.to_string(), want, "query {query:?}");
        }
    }

    #[test]
    fn escapes_what_the_grammar_would_read_as_syntax() {
        let cases = [
            (vec![text("a:b(c)")], r"a\:b\(c\)"),
            (vec![text("*"), Piece::Wildcard], r"\**"),
            (vec![text(r#"\"{}<>"#)], r#"\\\"\{\}\<\>"#),
            (vec![text("x or y")], r"x \or y"),
            (vec![text("x AND y")], r"x \AND y"),
            (vec![text("cannot be")], r"can\u006eot be"),
            (vec![text("Not x")], r"\u004eot x"),
            (vec![text("or x")], r"\or x"),
            (vec![text("orange and")], r"orange \and"),
            (vec![text("knot")], r"k\u006eot"),
            (vec![text("a\tb\nc")], r"a\tb\nc"),
            (vec![], r"\t"),
        ];
        for (pieces, want) in cases {
            let lit = unquoted(pieces);
            assert_eq!(lit.to_string(), want);
            // And it reads back the same.
            let query = format!("f:{want}");
            let Ok(Query::Field {
                values: ValueExpr::Value(back),
                ..
            }) = parse(&query)
            else {
                panic!("{query} did not parse as a field");
            };
            assert_eq!(back.without_spans(), lit, "query {query:?}");
        }
    }

    #[test]
    fn quoted_text_escapes_quotes_backslashes_and_control_whitespace() {
        let lit = Literal {
            pieces: vec![text("say \"hi\"\\\t*\n")],
            quoted: true,
            span: Span::default(),
        };
        assert_eq!(lit.to_string(), r#""say \"hi\"\\\t*\n""#);
    }

    #[test]
    fn without_spans_zeroes_every_span() {
        let q = parse("a:(b or not c) and d < 4 and n:{ x } or \"y\"").expect("valid");
        let bare = q.without_spans();
        assert_ne!(q, bare);
        assert_eq!(bare, bare.without_spans());
        assert!(!format!("{bare:?}").contains("start: 1"));
    }
}
