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

use super::ast::{Literal, Query, RangeOp, ValueExpr};
use super::error::{KqlError, KqlErrorKind};
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
        return Err(p.unexpected("'and', 'or' or end of query"));
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
            let expected = format!("a value after '{}'", op_text(op));
            let Some(value) = self.s.literal()? else {
                return Err(self.unexpected(expected));
            };
            if value.has_wildcard() {
                return Err(KqlError::new(
                    KqlErrorKind::WildcardInRange,
                    value.span,
                    format!("a value without wildcards after '{}'", op_text(op)),
                    format!("'{}'", value.text()),
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
            error.with_hint("'not' followed by a space is an operator even inside a word; quote the value or write '\\u006eot'")
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
            return (format!("'{c}'"), Span::new(start, start + c.len_utf8()));
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
            format!("'{shown}{ellipsis}'"),
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

fn op_text(op: RangeOp) -> &'static str {
    match op {
        RangeOp::Lt => "<",
        RangeOp::Lte => "<=",
        RangeOp::Gt => ">",
        RangeOp::Gte => ">=",
    }
}

#[cfg(test)]
mod tests {
    use super::super::ast::Piece;
    use super::*;
    use crate::diag::line_col;

    /// A compact, readable form of the tree: `(or (is [a] [b]) (text "x y"))`. Unquoted literals
    /// are in brackets with wildcards as `*` and literal asterisks as `\*`; quoted ones in quotes.
    fn sexp(q: &Query) -> String {
        match q {
            Query::Or(items, _) => list("or", items.iter().map(sexp)),
            Query::And(items, _) => list("and", items.iter().map(sexp)),
            Query::Not(inner, _) => format!("(not {})", sexp(inner)),
            Query::Field { field, values, .. } => {
                format!("(is {} {})", lit(field), values_sexp(values))
            }
            Query::Range {
                field, op, value, ..
            } => format!("(range {} {} {})", lit(field), op_text(*op), lit(value)),
            Query::Nested { path, query, .. } => format!("(nested {} {})", lit(path), sexp(query)),
            Query::FreeText { value, .. } => format!("(text {})", lit(value)),
        }
    }

    fn values_sexp(v: &ValueExpr) -> String {
        match v {
            ValueExpr::Or(items, _) => list("or", items.iter().map(values_sexp)),
            ValueExpr::And(items, _) => list("and", items.iter().map(values_sexp)),
            ValueExpr::Not(inner, _) => format!("(not {})", values_sexp(inner)),
            ValueExpr::Value(l) => lit(l),
        }
    }

    fn list(op: &str, items: impl Iterator<Item = String>) -> String {
        let items: Vec<String> = items.collect();
        format!("({op} {})", items.join(" "))
    }

    fn lit(l: &Literal) -> String {
        if l.quoted {
            return format!("\"{}\"", l.text().escape_debug());
        }
        let mut out = String::from("[");
        for p in &l.pieces {
            match p {
                Piece::Wildcard => out.push('*'),
                Piece::Text(t) => out.push_str(&t.escape_debug().to_string().replace('*', "\\*")),
            }
        }
        out.push(']');
        out
    }

    fn parses_to(cases: &[(&str, &str)]) {
        for (query, want) in cases {
            match parse_query(query) {
                Ok(q) => {
                    assert_eq!(sexp(&q), *want, "query {query:?}");
                    // Every accepted test query also round-trips through the printer.
                    let printed = q.to_string();
                    match parse_query(&printed) {
                        Ok(again) => assert_eq!(
                            again.without_spans(),
                            q.without_spans(),
                            "query {query:?} printed as {printed:?}"
                        ),
                        Err(e) => panic!("{query:?} printed as {printed:?}: {e}"),
                    }
                }
                Err(e) => panic!("query {query:?} failed: {}", e.render(query)),
            }
        }
    }

    /// (query, kind, 1-based column of the error, text the message must contain)
    fn fails_with(cases: &[(&str, KqlErrorKind, usize, &str)]) {
        for (query, kind, column, message) in cases {
            let Err(e) = parse_query(query) else {
                panic!("query {query:?} parsed but should fail");
            };
            assert_eq!(e.kind, *kind, "query {query:?}: {e}");
            assert_eq!(
                line_col(query, e.span.start).column,
                *column,
                "query {query:?}: {e}"
            );
            assert!(
                e.to_string().contains(message),
                "query {query:?}: message {:?} lacks {message:?}",
                e.to_string()
            );
        }
    }

    #[test]
    fn boolean_operators_have_kibana_precedence_and_any_case() {
        // Cases from kuery/ast/ast.test.ts.
        parses_to(&[
            ("foo and bar", "(and (text [foo]) (text [bar]))"),
            ("foo or bar", "(or (text [foo]) (text [bar]))"),
            ("foo AND bar", "(and (text [foo]) (text [bar]))"),
            ("foo Or bar", "(or (text [foo]) (text [bar]))"),
            (
                "foo and bar and baz",
                "(and (text [foo]) (text [bar]) (text [baz]))",
            ),
            (
                "foo or bar and baz or qux",
                "(or (text [foo]) (and (text [bar]) (text [baz])) (text [qux]))",
            ),
            (
                "(foo or bar) and baz",
                "(and (or (text [foo]) (text [bar])) (text [baz]))",
            ),
            ("not (foo or bar)", "(not (or (text [foo]) (text [bar])))"),
            ("NOT foo and bar", "(and (not (text [foo])) (text [bar]))"),
            ("not a or b", "(or (not (text [a])) (text [b]))"),
            ("not (not a)", "(not (not (text [a])))"),
            // Parentheses are not flattened: Kibana keeps `or(or(a, b), c)`.
            (
                "(a or b) or c",
                "(or (or (text [a]) (text [b])) (text [c]))",
            ),
            ("((((((((((foo))))))))))", "(text [foo])"),
            // nbsp is whitespace for operators (ast.test.ts "nbsp should be recognised").
            ("foo and\u{a0}bar", "(and (text [foo]) (text [bar]))"),
            ("  foo \n", "(text [foo])"),
            ("a\tand\nb", "(and (text [a]) (text [b]))"),
        ]);
    }

    #[test]
    fn unquoted_values_run_over_spaces_until_a_keyword() {
        parses_to(&[
            ("foo bar", "(text [foo bar])"),
            ("foo:bar baz", "(is [foo] [bar baz])"),
            (
                "message: quick  brown fox",
                "(is [message] [quick  brown fox])",
            ),
            ("a:b or c", "(or (is [a] [b]) (text [c]))"),
            ("a:b   or c", "(or (is [a] [b]) (text [c]))"),
            // An operator needs whitespace on both sides; otherwise it is text.
            ("a:b or", "(is [a] [b or])"),
            ("a:b and", "(is [a] [b and])"),
            ("a:(b and)", "(is [a] [b and])"),
            ("and b", "(text [and b])"),
            ("or", "(text [or])"),
            ("not", "(text [not])"),
            ("nota:b", "(is [nota] [b])"),
            ("a:b or or c", "(or (is [a] [b]) (text [or c]))"),
            (
                "a:orange and b:android",
                "(and (is [a] [orange]) (is [b] [android]))",
            ),
            ("a:b\u{a0}c", "(is [a] [b\\u{a0}c])"),
            // Field names may hold spaces too.
            ("foo bar: baz", "(is [foo bar] [baz])"),
        ]);
    }

    #[test]
    fn field_values_lists_ranges_and_nested_queries() {
        parses_to(&[
            ("foo:bar", "(is [foo] [bar])"),
            ("foo : bar", "(is [foo] [bar])"),
            ("foo:\"bar baz\"", "(is [foo] \"bar baz\")"),
            ("\"a.b\":c", "(is \"a.b\" [c])"),
            ("\"a\" : c", "(is \"a\" [c])"),
            ("foo:*", "(is [foo] [*])"),
            ("foo: *", "(is [foo] [*])"),
            ("foo:ba*", "(is [foo] [ba*])"),
            ("machine*:osx", "(is [machine*] [osx])"),
            ("okta.*:x", "(is [okta.*] [x])"),
            ("foo:(bar or baz)", "(is [foo] (or [bar] [baz]))"),
            ("foo:(bar)", "(is [foo] [bar])"),
            (
                "foo:((bar or baz) and not qux)",
                "(is [foo] (and (or [bar] [baz]) (not [qux])))",
            ),
            (
                "a:(b or c and not d)",
                "(is [a] (or [b] (and [c] (not [d]))))",
            ),
            ("a:(not (not b))", "(is [a] (not (not [b])))"),
            (
                "a:(* and not \"Okta\")",
                "(is [a] (and [*] (not \"Okta\")))",
            ),
            ("a:( b  or  \"c\" )", "(is [a] (or [b] \"c\"))"),
            (
                "bytes > 1000 and bytes < 8000",
                "(and (range [bytes] > [1000]) (range [bytes] < [8000]))",
            ),
            (
                "bytes >= 1000 and bytes <= 8000",
                "(and (range [bytes] >= [1000]) (range [bytes] <= [8000]))",
            ),
            ("bytes>=1000", "(range [bytes] >= [1000])"),
            ("a < = 5", "(range [a] < [= 5])"),
            ("\"a b\" < \"c\"", "(range \"a b\" < \"c\")"),
            (
                "@timestamp < \"2024-01-01T00:00:00Z\"",
                "(range [@timestamp] < \"2024-01-01T00:00:00Z\")",
            ),
            ("@timestamp >= now-1d", "(range [@timestamp] >= [now-1d])"),
            (
                "@timestamp > 2024-01-01",
                "(range [@timestamp] > [2024-01-01])",
            ),
            ("n:{ c: foo }", "(nested [n] (is [c] [foo]))"),
            (
                "n : { c:foo or c:bar }",
                "(nested [n] (or (is [c] [foo]) (is [c] [bar])))",
            ),
            (
                "a:{ b:{ c:foo } }",
                "(nested [a] (nested [b] (is [c] [foo])))",
            ),
            (
                "r:200 and ( n:{ c:foo } or n:{ c:bar } )",
                "(and (is [r] [200]) (or (nested [n] (is [c] [foo])) (nested [n] (is [c] [bar]))))",
            ),
            ("not n:{ a:b }", "(not (nested [n] (is [a] [b])))"),
            ("n:{ a < 5 }", "(nested [n] (range [a] < [5]))"),
            ("foo", "(text [foo])"),
            ("\"foo bar\"", "(text \"foo bar\")"),
            ("\"a\" or b*", "(or (text \"a\") (text [b*]))"),
            ("true", "(text [true])"),
        ]);
    }

    #[test]
    fn escapes_follow_kibana_quoted_and_unquoted_rules() {
        parses_to(&[
            // Unquoted: specials, whitespace, unicode and keywords (ast.test.ts fromLiteralExpression).
            (r#"a:\\\(\)\:\<\>\"\*\{\}"#, r#"(is [a] [\\():<>\"\*{}])"#),
            (r"a:\\u00A0", r"(is [a] [\\u00A0])"),
            (r"a:\u00e9t\u00C9", "(is [a] [étÉ])"),
            (r"a:x\ty", r"(is [a] [x\ty])"),
            (r"a:b \and c", "(is [a] [b and c])"),
            (r"a:b \OR c", "(is [a] [b OR c])"),
            (r"a:\NOT b", "(is [a] [NOT b])"),
            // `\n` is tried before the keyword escape: `\not` is a newline and "ot".
            (r"a:x\not", r"(is [a] [x\not])"),
            (r"a:x\*y*", r"(is [a] [x\*y*])"),
            (r"\*:x", r"(is [\*] [x])"),
            // Escaped whitespace at either end is trimmed like plain whitespace.
            (r"a:\tb\n", "(is [a] [b])"),
            (r"a:\t", "(is [a] [])"),
            (r"a:\t*", "(is [a] [*])"),
            ("a:b\u{2003}", "(is [a] [b])"),
            // Surrogate pairs combine as in JavaScript; a lone one becomes U+FFFD.
            (r"a:\uD83D\uDE00", "(is [a] [😀])"),
            (r"a:\uD83Dx", "(is [a] [\u{fffd}x])"),
            // Quoted: \" \\ \t \r \n \uXXXX; any other backslash is kept; `*` is text.
            (r#"a:"x\"y""#, r#"(is [a] "x\"y")"#),
            (r#"a:"\\""#, r#"(is [a] "\\")"#),
            (r#"a:"\():<>\"*""#, r#"(is [a] "\\():<>\"*")"#),
            (r#"a:"\t\r\n\u0041""#, r#"(is [a] "\t\r\nA")"#),
            (r#"a:"\x""#, r#"(is [a] "\\x")"#),
            ("a:\"two\nlines\"", r#"(is [a] "two\nlines")"#),
            (r#"a:"*""#, r#"(is [a] "*")"#),
            (r#"a:"""#, r#"(is [a] "")"#),
            (r#"a:" b ""#, r#"(is [a] " b ")"#),
        ]);
    }

    #[test]
    fn rejects_what_kibana_rejects_with_the_offending_column() {
        use KqlErrorKind::*;
        fails_with(&[
            (
                "",
                EmptyQuery,
                1,
                "expected a query but found an empty query",
            ),
            ("  \n ", EmptyQuery, 1, "found only whitespace"),
            (
                "a:",
                Unexpected,
                3,
                "expected a value after ':' but found end of query",
            ),
            (
                "a: ",
                Unexpected,
                4,
                "expected a value after ':' but found end of query",
            ),
            (
                "a: )",
                Unexpected,
                4,
                "expected a value after ':' but found ')'",
            ),
            (
                "(a:b",
                Unclosed,
                1,
                "expected ')' to close this '(' but found end of query",
            ),
            (
                "x and (a:b or (c",
                Unclosed,
                15,
                "expected ')' to close this '('",
            ),
            (
                "a:b)",
                Unexpected,
                4,
                "expected 'and', 'or' or end of query but found ')'",
            ),
            (
                "a:(",
                Unexpected,
                4,
                "expected a value after '(' but found end of query",
            ),
            ("a:(b", Unclosed, 3, "expected ')' to close this '('"),
            (
                "a:(b c:d)",
                Unexpected,
                7,
                "expected 'and', 'or' or ')' but found ':'",
            ),
            (
                "a:()",
                Unexpected,
                4,
                "expected a value after '(' but found ')'",
            ),
            (
                "()",
                Unexpected,
                2,
                "expected a query after '(' but found ')'",
            ),
            (
                "a:b and ",
                Unexpected,
                9,
                "expected a query after 'and' but found end of query",
            ),
            (
                "a:b or )",
                Unexpected,
                8,
                "expected a query after 'or' but found ')'",
            ),
            (
                "a:(b or )",
                Unexpected,
                9,
                "expected a value after 'or' but found ')'",
            ),
            (
                "a:\"b",
                UnterminatedString,
                3,
                "expected a closing '\"' for this string",
            ),
            ("a:b or \"c", UnterminatedString, 8, "closing '\"'"),
            (r#"a:"b\""#, UnterminatedString, 3, "closing '\"'"),
            (
                r"a:b\x",
                InvalidEscape,
                4,
                r"expected an escape sequence after '\' but found '\x'",
            ),
            (r"a:b\ c", InvalidEscape, 4, r"found '\ '"),
            (r"a:b\", InvalidEscape, 4, r"found '\' at end of query"),
            (r"a:\u12", InvalidEscape, 3, r"found '\u'"),
            (
                "a < 5*",
                WildcardInRange,
                5,
                "expected a value without wildcards after '<' but found '5*'",
            ),
            ("a >= *", WildcardInRange, 6, "wildcards"),
            (
                "a <",
                Unexpected,
                4,
                "expected a value after '<' but found end of query",
            ),
            (
                "a <> 5",
                Unexpected,
                4,
                "expected a value after '<' but found '>'",
            ),
            (
                "a:{",
                Unexpected,
                4,
                "expected a query after '{' but found end of query",
            ),
            ("a:{ b:c", Unclosed, 3, "expected '}' to close this '{'"),
            (
                "a:{}",
                Unexpected,
                4,
                "expected a query after '{' but found '}'",
            ),
            (
                "a:(b:{c:d})",
                Unexpected,
                5,
                "expected 'and', 'or' or ')' but found ':'",
            ),
            ("{a}", Unexpected, 1, "'{' starts a nested query"),
            ("not not a", Unexpected, 5, "'not not'"),
            ("a:(not not b)", Unexpected, 8, "'not not'"),
            ("not ", Unexpected, 5, "after 'not' but found end of query"),
            ("foo not bar", Unexpected, 5, "found 'not'"),
            ("message:cannot be", Unexpected, 12, "found 'not'"),
            ("a:b c:d", Unexpected, 6, "but found ':'"),
            (
                "a:\"b\" c",
                Unexpected,
                7,
                "expected 'and', 'or' or end of query but found 'c'",
            ),
            (
                "@timestamp < 2024-01-01T00:00:00Z",
                Unexpected,
                27,
                "found ':'",
            ),
            ("a:b}", Unexpected, 4, "found '}'"),
        ]);
    }

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
