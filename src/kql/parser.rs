//! Recursive-descent parser for Kibana's KQL grammar (`kbn-es-query` `grammar.peggy`), rule for
//! rule: `OrQuery > AndQuery > NotQuery > SubQuery > NestedQuery > Expression`, and the same
//! ladder for the value lists after `field:`.
//!
//! The grammar is a PEG, but none of its backtracking can turn a failed branch into a successful
//! parse (every alternative starts with a distinct token, or, when it does not, the input left over
//! can only fail later), so one token of lookahead decides each choice and the parser never
//! backtracks. That makes it linear, and lets errors point at the token that broke the grammar.
//! Nesting of `(`, `{` and `not` is capped at [`MAX_NESTING`] so deep input gives an error, not a
//! stack overflow.

use super::ast::{Literal, Query, ValueExpr};
use super::error::{quoted, KqlError, KqlErrorKind};
use super::lexer::{is_space, is_special, Scanner};
use super::MAX_NESTING;
use crate::diag::Span;

type Result<T> = std::result::Result<T, KqlError>;

pub(crate) fn parse_query(src: &str) -> Result<Query> {
    let mut p = Parser {
        s: Scanner::new(src),
        depth: 0,
    };
    // `start = Space* OrQuery? Space*`; a missing OrQuery is Kibana's match-all, refused here.
    p.s.skip_spaces();
    if p.s.at_end() {
        let found = if src.is_empty() {
            "an empty query"
        } else {
            "only whitespace"
        };
        return Err(KqlError::new(
            KqlErrorKind::EmptyQuery,
            Span::new(0, src.len()),
            "a query",
            found,
        ));
    }
    p.expect_operand_start("a query")?;
    let (query, _) = p.or_query()?;
    p.s.skip_spaces();
    if !p.s.at_end() {
        let error = p.unexpected("'and', 'or' or end of query");
        if error.found == "')'" {
            return Err(error.with_hint("this ')' closes no '('"));
        }
        return Err(error);
    }
    Ok(query)
}

struct Parser<'a> {
    s: Scanner<'a>,
    depth: usize,
}

impl Parser<'_> {
    /// `OrQuery = AndQuery (Or AndQuery)*`. Returns the node and its extent in the source.
    fn or_query(&mut self) -> Result<(Query, Span)> {
        let (first, mut span) = self.and_query()?;
        let mut items = vec![first];
        while let Some((_, end)) = self.s.binary_operator("or") {
            self.s.pos = end;
            self.expect_operand_start("a query after 'or'")?;
            let (q, s) = self.and_query()?;
            items.push(q);
            span = span.to(s);
        }
        Ok((collapse(items, span, Query::Or), span))
    }

    /// `AndQuery = NotQuery (And NotQuery)*`.
    fn and_query(&mut self) -> Result<(Query, Span)> {
        let (first, mut span) = self.not_query()?;
        let mut items = vec![first];
        while let Some((_, end)) = self.s.binary_operator("and") {
            self.s.pos = end;
            self.expect_operand_start("a query after 'and'")?;
            let (q, s) = self.not_query()?;
            items.push(q);
            span = span.to(s);
        }
        Ok((collapse(items, span, Query::And), span))
    }

    /// `NotQuery = Not SubQuery / SubQuery`. Not `Not NotQuery`: Kibana rejects `not not a`.
    fn not_query(&mut self) -> Result<(Query, Span)> {
        let Some(end) = self.s.not_operator() else {
            return self.sub_query();
        };
        let start = self.s.pos;
        self.enter(Span::new(start, start + 3))?;
        self.s.pos = end;
        if self.s.not_operator().is_some() {
            return Err(self
                .unexpected("'(', a field or a value after 'not'")
                .with_hint("kibana does not accept 'not not'; write 'not (not …)'"));
        }
        self.expect_operand_start("'(', a field or a value after 'not'")?;
        let (inner, inner_span) = self.sub_query()?;
        self.depth -= 1;
        let span = Span::new(start, inner_span.end);
        Ok((Query::Not(Box::new(inner), span), span))
    }

    /// `SubQuery = '(' Space* OrQuery Space* ')' / NestedQuery`. The node keeps its own span;
    /// the returned extent includes the parentheses.
    fn sub_query(&mut self) -> Result<(Query, Span)> {
        if self.s.peek() != Some('(') {
            return self.expression();
        }
        let open = Span::new(self.s.pos, self.s.pos + 1);
        self.enter(open)?;
        self.s.pos += 1;
        self.s.skip_spaces();
        self.expect_operand_start("a query after '('")?;
        let (query, _) = self.or_query()?;
        let close = self.close(open, ')')?;
        Ok((query, open.to(close)))
    }

    /// `NestedQuery / FieldRangeExpression / FieldValueExpression / ValueExpression`: all start
    /// with a `Literal`; what follows it decides which one this is.
    fn expression(&mut self) -> Result<(Query, Span)> {
        let Some(first) = self.s.literal()? else {
            return Err(self.unexpected("a field, a value, 'not' or '('"));
        };
        let after_literal = self.s.pos;
        self.s.skip_spaces();
        if let Some((op, end)) = self.s.range_operator() {
            self.s.pos = end;
            self.s.skip_spaces();
            let expected = format!("a value after '{}'", op.symbol());
            let Some(value) = self.s.literal()? else {
                return Err(self.unexpected(expected));
            };
            if value.has_wildcard() {
                return Err(KqlError::new(
                    KqlErrorKind::WildcardInRange,
                    value.span,
                    format!("a value without wildcards after '{}'", op.symbol()),
                    quoted(&value.text()),
                )
                .with_hint("escape '*' as '\\*' to compare with a literal asterisk"));
            }
            let span = first.span.to(value.span);
            let query = Query::Range {
                field: first,
                op,
                value,
                span,
            };
            return Ok((query, span));
        }
        if self.s.peek() == Some(':') {
            self.s.pos += 1;
            self.s.skip_spaces();
            if self.s.peek() == Some('{') {
                return self.nested(first);
            }
            let (values, values_span) = self.list_of_values("a value after ':'")?;
            let span = first.span.to(values_span);
            let query = Query::Field {
                field: first,
                values,
                span,
            };
            return Ok((query, span));
        }
        // `ValueExpression`: free text. Leave the spaces for `Or`/`And` to read.
        self.s.pos = after_literal;
        let span = first.span;
        Ok((Query::FreeText { value: first, span }, span))
    }

    /// `field:{ OrQuery }`, cursor on `{`.
    fn nested(&mut self, path: Literal) -> Result<(Query, Span)> {
        let open = Span::new(self.s.pos, self.s.pos + 1);
        self.enter(open)?;
        self.s.pos += 1;
        self.s.skip_spaces();
        self.expect_operand_start("a query after '{'")?;
        let (query, _) = self.or_query()?;
        let close = self.close(open, '}')?;
        let span = path.span.to(close);
        let query = Query::Nested {
            path,
            query: Box::new(query),
            span,
        };
        Ok((query, span))
    }

    /// `ListOfValues = '(' Space* OrListOfValues Space* ')' / Value`.
    fn list_of_values(&mut self, expected: &str) -> Result<(ValueExpr, Span)> {
        if self.s.peek() == Some('(') {
            let open = Span::new(self.s.pos, self.s.pos + 1);
            self.enter(open)?;
            self.s.pos += 1;
            self.s.skip_spaces();
            self.expect_operand_start("a value after '('")?;
            let (values, _) = self.or_values()?;
            let close = self.close(open, ')')?;
            return Ok((values, open.to(close)));
        }
        match self.s.literal()? {
            Some(lit) => {
                let span = lit.span;
                Ok((ValueExpr::Value(lit), span))
            }
            None => Err(self.unexpected(expected)),
        }
    }

    /// `OrListOfValues = AndListOfValues (Or AndListOfValues)*`.
    fn or_values(&mut self) -> Result<(ValueExpr, Span)> {
        let (first, mut span) = self.and_values()?;
        let mut items = vec![first];
        while let Some((_, end)) = self.s.binary_operator("or") {
            self.s.pos = end;
            self.expect_operand_start("a value after 'or'")?;
            let (v, s) = self.and_values()?;
            items.push(v);
            span = span.to(s);
        }
        Ok((collapse(items, span, ValueExpr::Or), span))
    }

    /// `AndListOfValues = NotListOfValues (And NotListOfValues)*`.
    fn and_values(&mut self) -> Result<(ValueExpr, Span)> {
        let (first, mut span) = self.not_values()?;
        let mut items = vec![first];
        while let Some((_, end)) = self.s.binary_operator("and") {
            self.s.pos = end;
            self.expect_operand_start("a value after 'and'")?;
            let (v, s) = self.not_values()?;
            items.push(v);
            span = span.to(s);
        }
        Ok((collapse(items, span, ValueExpr::And), span))
    }

    /// `NotListOfValues = Not ListOfValues / ListOfValues`.
    fn not_values(&mut self) -> Result<(ValueExpr, Span)> {
        let Some(end) = self.s.not_operator() else {
            return self.list_of_values("a value");
        };
        let start = self.s.pos;
        self.enter(Span::new(start, start + 3))?;
        self.s.pos = end;
        if self.s.not_operator().is_some() {
            return Err(self
                .unexpected("'(' or a value after 'not'")
                .with_hint("kibana does not accept 'not not'; write 'not (not …)'"));
        }
        let (inner, inner_span) = self.list_of_values("'(' or a value after 'not'")?;
        self.depth -= 1;
        let span = Span::new(start, inner_span.end);
        Ok((ValueExpr::Not(Box::new(inner), span), span))
    }

    /// After the contents of `(`/`{`: optional spaces, then the closing delimiter.
    fn close(&mut self, open: Span, delimiter: char) -> Result<Span> {
        self.s.skip_spaces();
        if self.s.peek() == Some(delimiter) {
            let span = Span::new(self.s.pos, self.s.pos + 1);
            self.s.pos += 1;
            self.depth -= 1;
            return Ok(span);
        }
        if self.s.at_end() {
            let opening = if delimiter == ')' { '(' } else { '{' };
            return Err(KqlError::new(
                KqlErrorKind::Unclosed,
                open,
                format!("'{delimiter}' to close this '{opening}'"),
                "end of query",
            ));
        }
        Err(self.unexpected(format!("'and', 'or' or '{delimiter}'")))
    }

    /// Counts one level of nesting; errors past [`MAX_NESTING`].
    fn enter(&mut self, at: Span) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(KqlError::new(
                KqlErrorKind::TooDeep,
                at,
                format!("at most {MAX_NESTING} nested '(', '{{' or 'not'"),
                "more",
            ));
        }
        Ok(())
    }

    /// Before an operand (of the query ladder or of a value list): something that can start
    /// one. Checked up front so the message can say what came before (`a query after 'and'`).
    fn expect_operand_start(&self, expected: &str) -> Result<()> {
        if self.s.peek() == Some('(')
            || self.s.at_literal_start()
            || self.s.not_operator().is_some()
        {
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    /// An [`KqlErrorKind::Unexpected`] error at the next token.
    fn unexpected(&self, expected: impl Into<String>) -> KqlError {
        let (found, span) = self.found();
        let error = KqlError::new(KqlErrorKind::Unexpected, span, expected, found.clone());
        if found == "'not'" {
            // `message:cannot be` fails in Kibana too: `not ` ends an unquoted value anywhere.
            error.with_hint(
                "'not' followed by a space is always the operator, even inside a word; \
                 negate a clause with 'not field:value', or quote the value",
            )
        } else if found == "':'" {
            error.with_hint(
                "an unquoted value runs over spaces up to ' and ' or ' or '; \
                 join clauses with 'and'/'or', or quote values that hold ':'",
            )
        } else if found == "'{'" {
            error.with_hint("'{' starts a nested query and must follow 'field:'")
        } else {
            error
        }
    }

    /// The next token (after spaces) described for a message, with its span.
    fn found(&self) -> (String, Span) {
        let rest = self.s.rest();
        let skipped = rest.len() - rest.trim_start_matches(is_space).len();
        let start = self.s.pos + skipped;
        let rest = &rest[skipped..];
        let Some(c) = rest.chars().next() else {
            return ("end of query".to_string(), Span::new(start, start));
        };
        if is_special(c) {
            return (
                quoted(&c.to_string()),
                Span::new(start, start + c.len_utf8()),
            );
        }
        let word_len = rest
            .find(|c: char| is_space(c) || is_special(c))
            .unwrap_or(rest.len());
        let word = &rest[..word_len];
        let lower = word.to_ascii_lowercase();
        if ["and", "or", "not"].contains(&lower.as_str()) {
            return (format!("'{lower}'"), Span::new(start, start + word_len));
        }
        const MAX_CHARS: usize = 24;
        let shown: String = word.chars().take(MAX_CHARS).collect();
        let ellipsis = if word.chars().count() > MAX_CHARS {
            "…"
        } else {
            ""
        };
        (
            quoted(&format!("{shown}{ellipsis}")),
            Span::new(start, start + word_len),
        )
    }
}

/// One operand stays itself; two or more make an `Or`/`And` node.
fn collapse<T>(mut items: Vec<T>, span: Span, make: fn(Vec<T>, Span) -> T) -> T {
    if items.len() == 1 {
        if let Some(only) = items.pop() {
            return only;
        }
    }
    make(items, span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_capped_with_an_error() {
        let ok = format!("{}a{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert!(parse_query(&ok).is_ok());
        for deep in [
            format!(
                "{}a{}",
                "(".repeat(MAX_NESTING + 1),
                ")".repeat(MAX_NESTING + 1)
            ),
            "(".repeat(100_000),
            format!("a:{}", "(".repeat(100_000)),
            "not (".repeat(100_000),
            "a:{".repeat(100_000),
        ] {
            let e = parse_query(&deep).expect_err("too deep");
            assert_eq!(e.kind, KqlErrorKind::TooDeep, "{e}");
        }
    }

    #[test]
    fn spans_cover_what_each_node_was_parsed_from() {
        let q = "x:(a or b) and not \"c\" < 5 and n:{ m:v }";
        let Ok(Query::And(items, span)) = parse_query(q) else {
            panic!("expected an and");
        };
        assert_eq!(span, Span::new(0, q.len()));
        let text = |s: Span| &q[s.start..s.end];
        assert_eq!(text(items[0].span()), "x:(a or b)");
        assert_eq!(text(items[1].span()), "not \"c\" < 5");
        assert_eq!(text(items[2].span()), "n:{ m:v }");
        let Query::Field {
            field,
            values: ValueExpr::Or(vs, vspan),
            ..
        } = &items[0]
        else {
            panic!("expected a field");
        };
        assert_eq!(text(field.span), "x");
        assert_eq!(text(*vspan), "a or b");
        let ValueExpr::Value(b) = &vs[1] else {
            panic!("expected a value")
        };
        assert_eq!(text(b.span), "b");
        // Unquoted literal spans leave out the trimmed whitespace.
        let Ok(Query::Field {
            values: ValueExpr::Value(v),
            ..
        }) = parse_query("a:  b c  ")
        else {
            panic!("expected a field");
        };
        assert_eq!(v.span, Span::new(4, 7));
    }
}
