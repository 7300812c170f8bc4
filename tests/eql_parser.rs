//! EQL parser: grammar cases, error positions, printer round trip, never-panics properties, and
//! the EQL rules of the Okta rule corpus.

use proptest::prelude::*;
use rulestream::eql::ast::*;
use rulestream::eql::{self, EqlErrorKind};
use rulestream::event::FieldPlan;

fn cond(q: &str) -> Expr {
    match eql::parse(q) {
        Ok(Query {
            body: QueryBody::Event(e),
            ..
        }) => e.condition.without_spans(),
        other => panic!("{q}: {other:?}"),
    }
}

/// Parses, prints, re-parses: the trees must be equal (spans aside).
fn round_trip(q: &str) -> String {
    let a = eql::parse(q).unwrap_or_else(|e| panic!("{q}: {}", e.render(q)));
    let printed = a.to_string();
    let b = eql::parse(&printed).unwrap_or_else(|e| panic!("{printed}: {}", e.render(&printed)));
    assert_eq!(
        a.without_spans(),
        b.without_spans(),
        "{q} printed as {printed}"
    );
    printed
}

#[test]
fn precedence_follows_elasticsearch_grammar() {
    // (input, fully parenthesised printing of the expected grouping)
    let cases = [
        ("a or b and c", "a or b and c"),
        ("not a and b", "not a and b"),
        ("not (a and b)", "not (a and b)"),
        ("(a or b) and c", "(a or b) and c"),
        ("a + b * c == 7", "a + b * c == 7"),
        ("(a + b) * c == 7", "(a + b) * c == 7"),
        ("a - (b - c) > 0", "a - (b - c) > 0"),
        ("-a * b < 1", "-a * b < 1"),
        ("a in (1, 2) == true", "a in (1, 2) == true"),
        ("a not in~ (\"x\")", "a not in~ (\"x\")"),
        ("a : (\"x*\", \"y?\")", "a: (\"x*\", \"y?\")"),
        (
            "a like~ \"x*\" and b regex \"[a-z]+\"",
            "a like~ \"x*\" and b regex \"[a-z]+\"",
        ),
        ("startsWith~(a, \"x\")", "startsWith~(a, \"x\")"),
    ];
    for (input, printed) in cases {
        let q = format!("any where {input}");
        assert_eq!(round_trip(&q), format!("any where {printed}"), "{input}");
    }
    // The tree shapes behind a few of them.
    assert!(
        matches!(cond("any where a or b and c").kind, ExprKind::Or(_, r) if matches!(r.kind, ExprKind::And(..)))
    );
    assert!(
        matches!(cond("any where not a and b").kind, ExprKind::And(l, _) if matches!(l.kind, ExprKind::Not(_)))
    );
    // A predicate binds to a primary: `a + b in (1)` is `a + (b in (1))`.
    assert!(matches!(cond("any where a + b in (1)").kind,
        ExprKind::Arith { right, .. } if matches!(right.kind, ExprKind::In { .. })));
}

#[test]
fn literals_strings_and_fields() {
    assert_eq!(
        cond(r#"any where a == "x\"y\\z\n\u{41}""#),
        cond(r#"any where a == "x\"y\\z\nA""#)
    );
    // Four closing quotes: the shortest `"""` closes, the fourth belongs to the value.
    match cond("any where a == \"\"\"C:\\path\\\"x\"\"\"\"").kind {
        ExprKind::Compare { right, .. } => {
            assert_eq!(
                right.kind,
                ExprKind::Str(StrLit {
                    value: r#"C:\path\"x""#.into(),
                    raw: true
                })
            )
        }
        other => panic!("{other:?}"),
    }
    match cond("any where ?`a b`.c.@d == 1.5e3").kind {
        ExprKind::Compare { left, right, .. } => {
            let ExprKind::Field(f) = left.kind else {
                panic!()
            };
            assert!(f.optional);
            assert_eq!(f.dotted(), "a b.c.@d");
            assert_eq!(right.kind, ExprKind::Float(1500.0));
        }
        other => panic!("{other:?}"),
    }
    match cond("any where a[0].b == 1").kind {
        ExprKind::Compare { left, .. } => {
            assert!(matches!(left.kind, ExprKind::Field(ref f) if f.has_index()))
        }
        other => panic!("{other:?}"),
    }
    for q in [
        "any where `with` == 1",
        "process where true",
        "\"network\" where a == null",
        "any where a == -1 and b != +2.5",
        "any where concat(a, \"-\", toString(b)) : \"x*\"",
        "any where x == \"\"\"a\"b\"\"\"",
        "any where /* c /* nested */ */ a == 1 // end",
        "any where `a``b` == 1 | head 5 | tail 2",
    ] {
        round_trip(q);
    }
}

#[test]
fn sequences_and_samples() {
    let q = "sequence by user.name, host.id with maxspan=10m \
             [any where a == 1] by x with runs=3 \
             ![process where b == 2] by y \
             [any where true] by z until [any where c] by w";
    round_trip(q);
    let Ok(Query {
        body: QueryBody::Sequence(s),
        ..
    }) = eql::parse(q)
    else {
        panic!()
    };
    assert_eq!(s.by.len(), 2);
    let maxspan = s.maxspan.map(|m| m.duration());
    assert_eq!(maxspan, Some(std::time::Duration::from_secs(600)));
    assert_eq!(s.steps.len(), 3);
    assert_eq!(s.steps[0].runs, Some(3));
    assert!(s.steps[1].missing && !s.steps[0].missing);
    assert!(s.until.is_some());
    round_trip("sequence [any where a] [any where b]");
    round_trip("sample by host.id [any where a] [any where b] by c");
    for unit in ["ms", "s", "m", "h", "d"] {
        round_trip(&format!(
            "sequence with maxspan=5{unit} [any where a] [any where b]"
        ));
    }
}

#[test]
fn errors_point_at_the_offending_token() {
    // (query, error start byte, kind, text the message must contain)
    let cases: &[(&str, usize, EqlErrorKind, &str)] = &[
        ("any where", 9, EqlErrorKind::Unexpected, "end of query"),
        (
            "any where a ==",
            14,
            EqlErrorKind::Unexpected,
            "a field, value",
        ),
        ("any where a = 1", 12, EqlErrorKind::Unexpected, "'=='"),
        ("any where (a == 1", 17, EqlErrorKind::Unexpected, "')'"),
        (
            "any where a == 'x'",
            15,
            EqlErrorKind::Invalid,
            "double quotes",
        ),
        (
            "any where a == ?\"x\"",
            15,
            EqlErrorKind::Invalid,
            "triple double quotes",
        ),
        (
            "any where a == \"x",
            15,
            EqlErrorKind::UnterminatedString,
            "closing quote",
        ),
        (
            "any where a == \"\\q\"",
            16,
            EqlErrorKind::InvalidEscape,
            "escape",
        ),
        (
            "any where a == 1 b",
            17,
            EqlErrorKind::Unexpected,
            "identifier 'b'",
        ),
        ("any where a < b < c", 16, EqlErrorKind::Unexpected, "'<'"),
        ("any where a # 1", 12, EqlErrorKind::BadToken, "'#'"),
        (
            "any where a.and == 1",
            12,
            EqlErrorKind::Unexpected,
            "backticks",
        ),
        (
            "sequence [any where a]",
            0,
            EqlErrorKind::Invalid,
            "at least 2 steps",
        ),
        (
            "sequence with maxspan=10 [any where a] [any where b]",
            22,
            EqlErrorKind::Invalid,
            "[10s]",
        ),
        (
            "sequence with maxspan=10y [any where a] [any where b]",
            24,
            EqlErrorKind::Invalid,
            "ms, s, m, h or d",
        ),
        (
            "sequence with maxspan=1m by a [any where a] [any where b]",
            25,
            EqlErrorKind::Invalid,
            "before [with]",
        ),
        (
            "sequence [any where a] with runs=0 [any where b]",
            33,
            EqlErrorKind::Invalid,
            "1 to 100",
        ),
        (
            "join [any where a] [any where b]",
            0,
            EqlErrorKind::Invalid,
            "join",
        ),
        (
            "any where a\n  and ",
            18,
            EqlErrorKind::Unexpected,
            "end of query",
        ),
    ];
    for (q, at, kind, text) in cases {
        let err = eql::parse(q).expect_err(q);
        assert_eq!((err.span.start, err.kind), (*at, *kind), "{q}: {err}");
        let rendered = err.render(q);
        assert!(rendered.contains(text), "{q}: {rendered}");
    }
    let q = "any where a\n  and ";
    let err = eql::parse(q).expect_err(q);
    assert_eq!(err.line_col(q).to_string(), "2:7");
    assert_eq!(err.render(q), format!("at 2:7:\n  and \n      ^ {err}"));
}

#[test]
fn nesting_is_capped_without_overflowing_the_stack() {
    for open in ["(", "not ", "-", "length("] {
        let q = format!("any where {}a", open.repeat(10_000));
        let err = eql::parse(&q).expect_err("too deep");
        assert_eq!(err.kind, EqlErrorKind::TooDeep, "{open}");
    }
    let ok = format!("any where {}a{}", "(".repeat(60), ")".repeat(60));
    assert!(eql::parse(&ok).is_ok());
}

fn corpus_eql_queries() -> Vec<(String, String)> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/detection-rules-okta"
    );
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("rule corpus directory") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("rule file");
        let doc: toml::Value = toml::from_str(&text).expect("rule TOML");
        let rule = &doc["rule"];
        if rule.get("language").and_then(|l| l.as_str()) == Some("eql") {
            let query = rule["query"].as_str().expect("query").to_owned();
            out.push((path.display().to_string(), query));
        }
    }
    out
}

#[test]
fn every_eql_rule_in_the_okta_corpus_parses_and_compiles() {
    let queries = corpus_eql_queries();
    assert_eq!(queries.len(), 5, "the corpus has 5 EQL rules");
    for (path, q) in queries {
        let ast = eql::parse(&q).unwrap_or_else(|e| panic!("{path}:\n{}", e.render(&q)));
        round_trip(&q);
        let mut plan = FieldPlan::new();
        let compiled = eql::compile_query(&ast, &mut plan)
            .unwrap_or_else(|e| panic!("{path}:\n{}", e.render(&q)));
        let eql::CompiledQuery::Sequence(seq) = compiled else {
            panic!("{path}: not a sequence")
        };
        let expanded: u32 = seq.steps.iter().map(|s| s.runs).sum();
        assert!(
            expanded >= 2,
            "{path}: a sequence has at least two steps once runs expand"
        );
        assert_eq!(seq.by.len(), 1, "{path}");
        assert!(seq.maxspan.is_some(), "{path}");
    }
}

const TOKENS: &[&str] = &[
    "any",
    "where",
    "sequence",
    "sample",
    "by",
    "with",
    "maxspan",
    "=",
    "runs",
    "until",
    "[",
    "]",
    "![",
    "(",
    ")",
    "and",
    "or",
    "not",
    "in",
    "in~",
    "like",
    "like~",
    "regex",
    "regex~",
    ":",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "%",
    ",",
    ".",
    "?",
    "|",
    "a",
    "b.c",
    "`x y`",
    "\"s\"",
    "\"\"\"r\"\"\"",
    "1",
    "2.5",
    "10m",
    "null",
    "true",
    "false",
    "startsWith~",
    "concat",
    "process",
    "\"",
    "\\",
    "/*",
    "*/",
    "//",
    "\n",
    "é",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics_on_arbitrary_text(s in "\\PC{0,80}") {
        let _ = eql::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_token_soup(toks in proptest::collection::vec(0..TOKENS.len(), 0..40)) {
        let q: Vec<&str> = toks.iter().map(|&i| TOKENS[i]).collect();
        let q = q.join(" ");
        if let Ok(ast) = eql::parse(&q) {
            // Whatever parses also prints back to the same tree.
            let printed = ast.to_string();
            let again = eql::parse(&printed);
            prop_assert!(again.is_ok(), "{} printed as {}", q, printed);
            prop_assert_eq!(again.map(|a| a.without_spans()).ok(), Some(ast.without_spans()));
            let mut plan = FieldPlan::new();
            let _ = eql::compile_query(&ast, &mut plan);
        }
    }

    #[test]
    fn conditions_after_any_where_round_trip(toks in proptest::collection::vec(0..TOKENS.len(), 1..25)) {
        let body: Vec<&str> = toks.iter().map(|&i| TOKENS[i]).collect();
        let q = format!("any where {}", body.join(" "));
        if let Ok(ast) = eql::parse(&q) {
            let printed = ast.to_string();
            let again = eql::parse(&printed).map(|a| a.without_spans());
            prop_assert_eq!(again.ok(), Some(ast.without_spans()), "{}", printed);
        }
    }
}

#[test]
fn long_operator_chains_do_not_overflow_the_stack() {
    // Left-deep trees: every later pass (print, compile, evaluate) recurses over them.
    for op in [" and ", " or ", " + ", " * "] {
        let q = format!("any where {}a", format!("a{op}").repeat(100_000));
        match eql::parse(&q) {
            Ok(ast) => {
                let _ = ast.to_string();
                let _ = eql::compile_query(&ast, &mut FieldPlan::new());
            }
            Err(e) => assert_eq!(e.kind, EqlErrorKind::TooDeep, "{op}"),
        }
    }
    // Up to the limit, every pass works on a test thread's small stack, even under the deepest
    // allowed nesting.
    let chain = format!("{}a == 1", "a == 1 or ".repeat(500));
    let nested = format!("{}{chain}{}", "(".repeat(60), ")".repeat(60));
    let arith = format!("{}a == 126", "a + ".repeat(125));
    for cond in [chain, nested, arith] {
        let q = format!("any where {cond}");
        let ast = eql::parse(&q).unwrap_or_else(|e| panic!("{}", e.render(&q)));
        assert_eq!(
            eql::parse(&ast.to_string()).map(|a| a.without_spans()),
            Ok(ast.without_spans())
        );
        let mut plan = FieldPlan::new();
        let eql::CompiledQuery::Event(expr) =
            eql::compile_query(&ast, &mut plan).expect("compiles")
        else {
            panic!("event query")
        };
        let mut out = rulestream::event::Extracted::new();
        let view = rulestream::event::extract(&plan, br#"{"a":1}"#, &mut out).expect("event");
        assert!(expr.eval(&view));
    }
}
