//! Grammar conformance tables: queries, the tree Kibana's grammar gives them (written as
//! s-expressions), and the errors with their columns. Cases marked `ast.test.ts` come from
//! Kibana's own tests (`kbn-es-query/src/kuery/ast/ast.test.ts`); the rest follow
//! `grammar.peggy` rule by rule. Every accepted query is also round-tripped through the printer.

use super::ast::{Literal, Piece, Query, ValueExpr};
use super::{parse as parse_query, KqlErrorKind};
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
        } => format!("(range {} {} {})", lit(field), op.symbol(), lit(value)),
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
#[rustfmt::skip]
fn rejects_what_kibana_rejects_with_the_offending_column() {
    use KqlErrorKind::*;
    fails_with(&[
        ("", EmptyQuery, 1, "expected a query but found an empty query"),
        ("  \n ", EmptyQuery, 1, "found only whitespace"),
        ("a:", Unexpected, 3, "expected a value after ':' but found end of query"),
        ("a: ", Unexpected, 4, "expected a value after ':' but found end of query"),
        ("a: )", Unexpected, 4, "expected a value after ':' but found ')'"),
        ("(a:b", Unclosed, 1, "expected ')' to close this '(' but found end of query"),
        ("x and (a:b or (c", Unclosed, 15, "expected ')' to close this '('"),
        ("a:b)", Unexpected, 4, "or end of query but found ')' (this ')' closes no '(')"),
        ("a:(", Unexpected, 4, "expected a value after '(' but found end of query"),
        ("a:(b", Unclosed, 3, "expected ')' to close this '('"),
        ("a:(b c:d)", Unexpected, 7, "expected 'and', 'or' or ')' but found ':'"),
        ("a:()", Unexpected, 4, "expected a value after '(' but found ')'"),
        ("()", Unexpected, 2, "expected a query after '(' but found ')'"),
        ("a:b and ", Unexpected, 9, "expected a query after 'and' but found end of query"),
        ("a:b or )", Unexpected, 8, "expected a query after 'or' but found ')'"),
        ("a:(b or )", Unexpected, 9, "expected a value after 'or' but found ')'"),
        ("a:\"b", UnterminatedString, 3, "expected a closing '\"' for this string"),
        ("a:b or \"c", UnterminatedString, 8, "closing '\"'"),
        (r#"a:"b\""#, UnterminatedString, 3, "closing '\"'"),
        (r"a:b\x", InvalidEscape, 4, r"expected an escape sequence after '\' but found '\x'"),
        (r"a:b\ c", InvalidEscape, 4, r"found '\ '"),
        (r"a:b\", InvalidEscape, 4, r"found '\' at end of query"),
        (r"a:\u12", InvalidEscape, 3, r"found '\u'"),
        ("a < 5*", WildcardInRange, 5, "expected a value without wildcards after '<' but found '5*'"),
        ("a >= *", WildcardInRange, 6, "wildcards"),
        ("a <", Unexpected, 4, "expected a value after '<' but found end of query"),
        ("a <> 5", Unexpected, 4, "expected a value after '<' but found '>'"),
        ("a:{", Unexpected, 4, "expected a query after '{' but found end of query"),
        ("a:{ b:c", Unclosed, 3, "expected '}' to close this '{'"),
        ("a:{}", Unexpected, 4, "expected a query after '{' but found '}'"),
        ("a:(b:{c:d})", Unexpected, 5, "expected 'and', 'or' or ')' but found ':'"),
        ("{a}", Unexpected, 1, "'{' starts a nested query"),
        ("not not a", Unexpected, 5, "'not not'"),
        ("a:(not not b)", Unexpected, 8, "'not not'"),
        ("not ", Unexpected, 5, "after 'not' but found end of query"),
        ("foo not bar", Unexpected, 5, "found 'not'"),
        ("message:cannot be", Unexpected, 12, "found 'not'"),
        ("a:b c:d", Unexpected, 6, "but found ':'"),
        ("a:\"b\" c", Unexpected, 7, "expected 'and', 'or' or end of query but found 'c'"),
        ("@timestamp < 2024-01-01T00:00:00Z", Unexpected, 27, "found ':'"),
        ("a:b}", Unexpected, 4, "found '}'"),
        // kuery_syntax_error.test.ts: same positions as Kibana's carets.
        ("response:", Unexpected, 10, "found end of query"),
        ("response:200 or ", Unexpected, 17, "found end of query"),
        ("response:(200 or )", Unexpected, 18, "found ')'"),
        ("response:200 and not ", Unexpected, 22, "found end of query"),
        ("response:(200 and not )", Unexpected, 23, "found ')'"),
        ("foo:\"ba ", UnterminatedString, 5, "closing '\"'"),
        ("foo:\"ba \"r\"", Unexpected, 10, "found 'r'"),
        ("foo:ba:r", Unexpected, 7, "found ':'"),
        ("foo > ", Unexpected, 7, "found end of query"),
        ("< 1000", Unexpected, 1, "found '<'"),
    ]);
}
