//! KQL parser against real rules and generated input: every `kuery` query of the Okta
//! detection rules parses and round-trips; `parse` never panics on arbitrary text or on token
//! soup (which reaches deep parser states); and printed generated trees parse back to themselves.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rulestream::diag::Span;
use rulestream::kql::ast::{Literal, Piece, Query, RangeOp, ValueExpr};
use rulestream::kql::{parse, KqlErrorKind};

const RULES_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/detection-rules-okta"
);

/// `parse(print(q)) == q`, ignoring spans.
fn assert_round_trip(query: &Query, context: &str) {
    let printed = query.to_string();
    match parse(&printed) {
        Ok(again) => assert_eq!(
            again.without_spans(),
            query.without_spans(),
            "{context}: printed as {printed:?}"
        ),
        Err(e) => panic!("{context}: printed as {printed:?} fails: {e}"),
    }
}

#[test]
fn every_okta_kuery_rule_parses_and_round_trips() {
    let mut entries: Vec<_> = std::fs::read_dir(Path::new(RULES_DIR))
        .unwrap_or_else(|e| panic!("cannot read {RULES_DIR}: {e}"))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    entries.sort();
    let mut parsed = 0;
    let mut failures = Vec::new();
    for path in &entries {
        let text = std::fs::read_to_string(path).expect("readable rule file");
        let doc: toml::Value = toml::from_str(&text).expect("valid TOML");
        let rule = &doc["rule"];
        if rule.get("language").and_then(|l| l.as_str()) != Some("kuery") {
            continue;
        }
        let query = rule["query"].as_str().expect("query is a string");
        match parse(query) {
            Ok(ast) => {
                assert_round_trip(&ast, &path.display().to_string());
                parsed += 1;
            }
            Err(e) => failures.push(format!("{}:\n{}", path.display(), e.render(query))),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(parsed > 0, "no kuery rules found in {RULES_DIR}");
}

#[test]
fn okta_rule_idioms_parse_to_the_expected_shape() {
    // From the Okta rules: a value list mixing exists and a negated phrase.
    let q = parse(r#"okta.authentication_context.issuer.id: (* and not "Okta")"#).expect("valid");
    let Query::Field {
        values: ValueExpr::And(items, _),
        ..
    } = &q
    else {
        panic!("expected a field with an and-list, got {q:?}");
    };
    assert!(matches!(&items[0], ValueExpr::Value(l) if l.is_match_all()));
    assert!(matches!(&items[1], ValueExpr::Not(v, _)
        if matches!(&**v, ValueExpr::Value(l) if l.quoted && l.text() == "Okta")));
}

/// Pieces of KQL, valid and not, to build queries that get past the first token.
const TOKENS: &[&str] = &[
    "a",
    "b.c",
    "@timestamp",
    "okta*",
    "x y",
    " ",
    "  ",
    "\t",
    "\n",
    "\u{a0}",
    "(",
    ")",
    "{",
    "}",
    ":",
    ": ",
    "<",
    "<=",
    ">",
    ">=",
    "\"",
    "\"q r\"",
    "\\",
    "\\*",
    "\\t",
    "\\u00e9",
    "\\uD83D",
    "\\uDE00",
    "\\n",
    "\\and",
    "*",
    " and ",
    " or ",
    "not ",
    " AND ",
    " Or ",
    "NOT ",
    "and",
    "or",
    "not",
    "é",
    "😀",
    "\u{2003}",
    "now-1d",
    "5",
    "\\:",
    "\\(",
    "x:(",
    "a:{",
];

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        // Committed next to the other crates' seeds, not beside this file.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/kql_parser.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn parse_never_panics_on_arbitrary_text(input in any::<String>()) {
        check_outcome(&input)?;
    }

    #[test]
    fn parse_never_panics_on_token_soup_and_what_parses_round_trips(
        tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..40)
    ) {
        let input = tokens.concat();
        check_outcome(&input)?;
    }

    #[test]
    fn generated_valid_kql_text_parses_and_round_trips(input in valid_text_strategy()) {
        match parse(&input) {
            Ok(query) => assert_round_trip(&query, &format!("{input:?}")),
            Err(e) => prop_assert!(false, "{}", e.render(&input)),
        }
    }

    #[test]
    fn printed_generated_trees_parse_back_to_themselves(query in query_strategy()) {
        let printed = query.to_string();
        let again = parse(&printed)
            .map_err(|e| TestCaseError::fail(format!("{printed:?}: {e}")))?;
        prop_assert_eq!(again.without_spans(), query, "printed as {:?}", printed);
    }
}

/// On success: spans inside the input and a clean round trip. On failure: a span inside the
/// input on char boundaries, a one-line message, and a caret that renders.
fn check_outcome(input: &str) -> Result<(), TestCaseError> {
    let in_bounds = |s: Span| {
        s.start <= s.end
            && s.end <= input.len()
            && input.is_char_boundary(s.start)
            && input.is_char_boundary(s.end)
    };
    match parse(input) {
        Ok(query) => {
            let mut spans = Vec::new();
            collect_spans(&query, &mut spans);
            for span in spans {
                prop_assert!(in_bounds(span), "span {:?} in {:?}", span, input);
            }
            assert_round_trip(&query, &format!("{input:?}"));
        }
        Err(e) => {
            prop_assert!(in_bounds(e.span), "span {:?} for {:?}", e.span, input);
            let message = e.to_string();
            prop_assert!(!message.contains('\n'), "multi-line message {:?}", message);
            let _ = e.render(input);
            if input
                .trim_matches([' ', '\t', '\r', '\n', '\u{a0}'])
                .is_empty()
            {
                prop_assert_eq!(e.kind, KqlErrorKind::EmptyQuery);
            }
        }
    }
    Ok(())
}

/// Every span in the tree: nodes, value lists and literals.
fn collect_spans(query: &Query, out: &mut Vec<Span>) {
    out.push(query.span());
    match query {
        Query::Or(items, _) | Query::And(items, _) => {
            items.iter().for_each(|q| collect_spans(q, out))
        }
        Query::Not(inner, _) => collect_spans(inner, out),
        Query::Field { field, values, .. } => {
            out.push(field.span);
            collect_value_spans(values, out);
        }
        Query::Range { field, value, .. } => out.extend([field.span, value.span]),
        Query::Nested { path, query, .. } => {
            out.push(path.span);
            collect_spans(query, out);
        }
        Query::FreeText { value, .. } => out.push(value.span),
    }
}

fn collect_value_spans(values: &ValueExpr, out: &mut Vec<Span>) {
    match values {
        ValueExpr::Or(items, span) | ValueExpr::And(items, span) => {
            out.push(*span);
            items.iter().for_each(|v| collect_value_spans(v, out));
        }
        ValueExpr::Not(inner, span) => {
            out.push(*span);
            collect_value_spans(inner, out);
        }
        ValueExpr::Value(lit) => out.push(lit.span),
    }
}

/// Text fragments for literals: keywords, whitespace and specials that the printer must escape.
const FRAGMENTS: &[&str] = &[
    "a",
    "b7",
    "or",
    "AND",
    "not",
    "Not",
    " ",
    "\t",
    "\n",
    "\r",
    "\u{a0}",
    "\u{2003}",
    "\u{feff}",
    "(",
    ")",
    ":",
    "<",
    ">=",
    "\"",
    "\\",
    "*",
    "{",
    "}",
    "é",
    "😀",
    "@timestamp",
    "x.y",
    "-",
];

/// What JavaScript's `trim` removes, among the characters of [`FRAGMENTS`].
fn js_trimmed(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | '\r' | '\u{a0}' | '\u{2003}' | '\u{feff}'
    )
}

#[derive(Debug, Clone)]
enum Fragment {
    Text(&'static str),
    Wildcard,
}

fn literal(pieces: Vec<Piece>, quoted: bool) -> Literal {
    Literal {
        pieces,
        quoted,
        span: Span::default(),
    }
}

/// Unquoted literals as the parser builds them: adjacent text merged, no empty text, and no
/// whitespace at either end (Kibana trims it).
fn unquoted_strategy() -> impl Strategy<Value = Literal> {
    let fragment = prop_oneof![
        4 => prop::sample::select(FRAGMENTS).prop_map(Fragment::Text),
        1 => Just(Fragment::Wildcard),
    ];
    prop::collection::vec(fragment, 0..6).prop_map(|fragments| {
        let mut pieces: Vec<Piece> = Vec::new();
        for fragment in fragments {
            match (fragment, pieces.last_mut()) {
                (Fragment::Wildcard, _) => pieces.push(Piece::Wildcard),
                (Fragment::Text(t), Some(Piece::Text(last))) => last.push_str(t),
                (Fragment::Text(t), _) => pieces.push(Piece::Text(t.to_string())),
            }
        }
        if let Some(Piece::Text(first)) = pieces.first_mut() {
            *first = first.trim_start_matches(js_trimmed).to_string();
        }
        if let Some(Piece::Text(last)) = pieces.last_mut() {
            *last = last.trim_end_matches(js_trimmed).to_string();
        }
        pieces.retain(|p| !matches!(p, Piece::Text(t) if t.is_empty()));
        literal(pieces, false)
    })
}

fn quoted_strategy() -> impl Strategy<Value = Literal> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..5).prop_map(|texts| {
        let text = texts.concat();
        let pieces = if text.is_empty() {
            vec![]
        } else {
            vec![Piece::Text(text)]
        };
        literal(pieces, true)
    })
}

fn literal_strategy() -> impl Strategy<Value = Literal> {
    prop_oneof![unquoted_strategy(), quoted_strategy()]
}

fn values_strategy() -> impl Strategy<Value = ValueExpr> {
    let none = Span::default();
    literal_strategy()
        .prop_map(ValueExpr::Value)
        .prop_recursive(3, 12, 3, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 2..4)
                    .prop_map(move |v| ValueExpr::Or(v, none)),
                prop::collection::vec(inner.clone(), 2..4)
                    .prop_map(move |v| ValueExpr::And(v, none)),
                inner.prop_map(move |v| ValueExpr::Not(Box::new(v), none)),
            ]
        })
}

fn query_strategy() -> impl Strategy<Value = Query> {
    let none = Span::default();
    let op = prop::sample::select(&[RangeOp::Lt, RangeOp::Lte, RangeOp::Gt, RangeOp::Gte][..]);
    let leaf = prop_oneof![
        (literal_strategy(), values_strategy()).prop_map(move |(field, values)| Query::Field {
            field,
            values,
            span: none,
        }),
        (
            literal_strategy(),
            op,
            literal_strategy().prop_filter("no wildcard in ranges", |l| !l.has_wildcard()),
        )
            .prop_map(move |(field, op, value)| Query::Range {
                field,
                op,
                value,
                span: none,
            }),
        literal_strategy().prop_map(move |value| Query::FreeText { value, span: none }),
    ];
    leaf.prop_recursive(4, 24, 3, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(move |q| Query::Or(q, none)),
            prop::collection::vec(inner.clone(), 2..4).prop_map(move |q| Query::And(q, none)),
            inner
                .clone()
                .prop_map(move |q| Query::Not(Box::new(q), none)),
            (literal_strategy(), inner).prop_map(move |(path, q)| Query::Nested {
                path,
                query: Box::new(q),
                span: none,
            }),
        ]
    })
}

/// KQL source text that Kibana accepts, written with varied spacing and keyword case, so that
/// the round trip is tested on many spellings and not only on the printer's own.
fn valid_text_strategy() -> impl Strategy<Value = String> {
    let field = prop::sample::select(&["a", "b.c", "@timestamp", "okta.*", "\"q f\"", "x y"][..]);
    let value = prop::sample::select(
        &[
            "v", "b c", "\"q r\"", "x*", "\\(y\\)", "now-1d", "*", "\\and", "é😀", "\"*\"",
        ][..],
    );
    let plain = prop::sample::select(&["v", "b c", "\"q r\"", "5", "now-1d", "\\*"][..]);
    let colon = prop::sample::select(&[":", ": ", " : ", ":\n  "][..]);
    let range = prop::sample::select(&["<", "<=", ">", " >= "][..]);
    let or = prop::sample::select(&[" or ", " OR ", "\n  or\t", "  Or  "][..]);
    let and = prop::sample::select(&[" and ", " AND ", "\nand ", " aNd\u{a0}"][..]);
    let not = prop::sample::select(&["not ", "NOT  ", "not\n"][..]);
    let values = value
        .clone()
        .prop_map(String::from)
        .prop_recursive(3, 10, 3, {
            let (or, and, not) = (or.clone(), and.clone(), not.clone());
            move |inner| {
                prop_oneof![
                    (inner.clone(), or.clone(), inner.clone())
                        .prop_map(|(a, o, b)| format!("{a}{o}{b}")),
                    (inner.clone(), and.clone(), inner.clone())
                        .prop_map(|(a, o, b)| format!("{a}{o}{b}")),
                    (not.clone(), inner.clone()).prop_map(|(n, v)| format!("{n}({v})")),
                    inner.prop_map(|v| format!("( {v} )")),
                ]
            }
        });
    let leaf = prop_oneof![
        (field.clone(), colon.clone(), value).prop_map(|(f, c, v)| format!("{f}{c}{v}")),
        (field.clone(), colon.clone(), values).prop_map(|(f, c, v)| format!("{f}{c}({v})")),
        (field.clone(), range, plain.clone()).prop_map(|(f, r, v)| format!("{f} {r} {v}")),
        plain.prop_map(String::from),
    ];
    leaf.prop_recursive(4, 24, 3, move |inner| {
        prop_oneof![
            (inner.clone(), or.clone(), inner.clone()).prop_map(|(a, o, b)| format!("{a}{o}{b}")),
            (inner.clone(), and.clone(), inner.clone()).prop_map(|(a, o, b)| format!("{a}{o}{b}")),
            (not.clone(), inner.clone()).prop_map(|(n, q)| format!("{n}({q})")),
            inner.clone().prop_map(|q| format!("(\t{q} )")),
            (field.clone(), colon.clone(), inner).prop_map(|(f, c, q)| format!("{f}{c}{{ {q} }}")),
        ]
    })
}
