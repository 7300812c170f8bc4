//! KQL syntax tree → [`Expr`], a boolean tree of typed field tests over plan slots.
//!
//! This is where KQL gets its Elasticsearch meaning. Kibana turns `field: value` into a `match`
//! (or `match_phrase` for quoted values, `query_string` for wildcards) and
//! `field: (a or b)` into a bool query of one clause per value, so a value list is expanded
//! here into field-level `or`/`and`/`not`, and each value becomes a [`Test`] chosen by the
//! field's mapping type ([`crate::schema`]). Whatever Elasticsearch would reject (a wildcard on
//! a number, `true` spelled `yes` on a boolean, a query on a non-indexed field, a nested query
//! on a field that is not `nested`) is a compile error here, so `check` reports it up front.

use std::net::IpAddr;

use super::dates;
use super::predicate::{
    cidr_range, ip_to_u128, DynamicTest, Indexable, Interval, KeywordTest, Test, TextTest,
};
use super::text;
use super::wildcard::Wildcard;
use crate::diag::Span;
use crate::event::{EventView, FieldPlan, SlotId};
use crate::kql::ast::{Literal, Piece, Query, RangeOp, ValueExpr};
use crate::schema::{self, FieldType};

/// A compiled query clause tree.
#[derive(Debug, Clone)]
pub enum Expr {
    Const(bool),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// Any value of `slot` passes `test`. `constant` names a `data_stream.*` part that the
    /// event's data stream supplies when the document itself lacks the field (these are
    /// `constant_keyword` fields: every document of the data stream has the value).
    Field {
        slot: SlotId,
        test: Test,
        constant: Option<DataStreamPart>,
    },
    /// A wildcard field name (`okta.*: x`) or free text (`x`, no field): every leaf of the event
    /// whose path matches is tested according to its own type.
    Leaves {
        path: Option<Wildcard>,
        tests: Box<TestsByType>,
    },
}

/// Which part of a data stream name `type-dataset-namespace` a field is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataStreamPart {
    Type,
    Dataset,
    Namespace,
}

/// Why a query cannot run. `unsupported` marks valid KQL that rulestream does not evaluate yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    pub span: Span,
    pub message: String,
    pub unsupported: bool,
}

impl CompileError {
    fn invalid(span: Span, message: impl Into<String>) -> Self {
        CompileError {
            span,
            message: message.into(),
            unsupported: false,
        }
    }
    fn unsupported(span: Span, message: impl Into<String>) -> Self {
        CompileError {
            span,
            message: message.into(),
            unsupported: true,
        }
    }
}

/// What a clause evaluates against, besides the extracted fields.
pub struct EvalContext<'v, 'a> {
    pub view: &'v EventView<'a>,
    /// The event's data stream name (`logs-okta.system-default`), when known.
    pub data_stream: Option<&'v str>,
}

impl Expr {
    pub fn eval(&self, ctx: &EvalContext<'_, '_>) -> bool {
        match self {
            Expr::Const(b) => *b,
            Expr::And(items) => items.iter().all(|e| e.eval(ctx)),
            Expr::Or(items) => items.iter().any(|e| e.eval(ctx)),
            Expr::Not(inner) => !inner.eval(ctx),
            Expr::Field {
                slot,
                test,
                constant,
            } => {
                let values = ctx.view.values(*slot);
                if values.is_empty() {
                    if let (Some(part), Some(ds)) = (constant, ctx.data_stream) {
                        return data_stream_part(ds, *part)
                            .is_some_and(|v| constant_matches(test, v));
                    }
                }
                test.any(ctx.view, values)
            }
            Expr::Leaves { path, tests } => ctx.view.leaves().iter().any(|(leaf_path, value)| {
                path.as_ref().is_none_or(|p| p.matches(leaf_path))
                    && tests
                        .for_path(leaf_path)
                        .any(ctx.view, std::slice::from_ref(value))
            }),
        }
    }
}

/// The test for a literal compiled for every mapping type a leaf may have.
#[derive(Debug, Clone)]
pub struct TestsByType {
    keyword: Test,
    unlimited_keyword: Test,
    long: Test,
    double: Test,
    boolean: Test,
    date: Test,
    ip: Test,
    text: Test,
    dynamic: Test,
}

impl TestsByType {
    fn for_path(&self, path: &str) -> &Test {
        match schema::field_type(path) {
            FieldType::Keyword { .. } => &self.keyword,
            FieldType::ConstantKeyword | FieldType::Flattened => &self.unlimited_keyword,
            FieldType::Long => &self.long,
            FieldType::Double => &self.double,
            FieldType::Boolean => &self.boolean,
            FieldType::Date => &self.date,
            FieldType::Ip => &self.ip,
            FieldType::Text | FieldType::TextOf(_) => &self.text,
            FieldType::GeoPoint | FieldType::NotIndexed => &Test::Never,
            FieldType::Dynamic => &self.dynamic,
        }
    }
}

/// Compiles a parsed query, registering the fields it reads in `plan`.
pub fn compile(query: &Query, plan: &mut FieldPlan) -> Result<Expr, CompileError> {
    Ok(match query {
        Query::Or(items, _) => Expr::Or(items.iter().map(|q| compile(q, plan)).collect::<Result<_, _>>()?),
        Query::And(items, _) => Expr::And(items.iter().map(|q| compile(q, plan)).collect::<Result<_, _>>()?),
        Query::Not(inner, _) => Expr::Not(Box::new(compile(inner, plan)?)),
        Query::Field { field, values, .. } => compile_values(field, values, plan)?,
        Query::Range { field, op, value, .. } => {
            let clause = Clause::Range(*op, value);
            field_clause(field, &clause, plan)?
        }
        Query::Nested { path, span, .. } => {
            return Err(CompileError::invalid(
                *span,
                format!(
                    "`{}` is not a nested field: Elasticsearch rejects nested queries on fields \
                     that are not mapped as `nested` (none of the Okta or ECS fields rules use are)",
                    path.text()
                ),
            ))
        }
        Query::FreeText { value, .. } => {
            plan.want_all_leaves();
            Expr::Leaves { path: None, tests: Box::new(tests_by_type(&Clause::Value(value))) }
        }
    })
}

/// One comparison on a field: `field: value` or `field <op> value`.
enum Clause<'q> {
    Value(&'q Literal),
    Range(RangeOp, &'q Literal),
}

impl Clause<'_> {
    fn literal(&self) -> &Literal {
        match self {
            Clause::Value(l) | Clause::Range(_, l) => l,
        }
    }
}

fn compile_values(
    field: &Literal,
    values: &ValueExpr,
    plan: &mut FieldPlan,
) -> Result<Expr, CompileError> {
    Ok(match values {
        ValueExpr::Or(items, _) => Expr::Or(
            items
                .iter()
                .map(|v| compile_values(field, v, plan))
                .collect::<Result<_, _>>()?,
        ),
        ValueExpr::And(items, _) => Expr::And(
            items
                .iter()
                .map(|v| compile_values(field, v, plan))
                .collect::<Result<_, _>>()?,
        ),
        ValueExpr::Not(inner, _) => Expr::Not(Box::new(compile_values(field, inner, plan)?)),
        ValueExpr::Value(literal) => field_clause(field, &Clause::Value(literal), plan)?,
    })
}

fn field_clause(
    field: &Literal,
    clause: &Clause<'_>,
    plan: &mut FieldPlan,
) -> Result<Expr, CompileError> {
    if field.has_wildcard() {
        let pattern = wildcard_of(field, false);
        plan.want_all_leaves();
        return Ok(Expr::Leaves {
            path: Some(pattern),
            tests: Box::new(tests_by_type(clause)),
        });
    }
    // A field alias (`signal.rule.id`) is answered from its target field, as Elasticsearch does.
    let path = field.text();
    let path = schema::resolve_alias(&path).map_or(path, str::to_string);
    let field_type = schema::field_type(&path);
    let slot = match field_type {
        FieldType::TextOf(parent) => plan.field(parent),
        FieldType::Flattened if schema::flattened_root(&path) == Some(path.as_str()) => {
            plan.leaves_below(&path)
        }
        _ => plan.field(&path),
    };
    let test = build_test(field_type, clause).map_err(|message| {
        let span = if field_type == FieldType::NotIndexed {
            field.span
        } else {
            clause.literal().span
        };
        // Messages starting with UNSUPPORTED are valid KQL that rulestream does not run yet.
        match message.strip_prefix(UNSUPPORTED) {
            Some(m) => CompileError::unsupported(span, format!("{m} (field `{path}`)")),
            None => CompileError::invalid(span, format!("{message} (field `{path}`)")),
        }
    })?;
    let constant = match (field_type, path.as_str()) {
        (FieldType::ConstantKeyword, "data_stream.type") => Some(DataStreamPart::Type),
        (FieldType::ConstantKeyword, "data_stream.dataset") => Some(DataStreamPart::Dataset),
        (FieldType::ConstantKeyword, "data_stream.namespace") => Some(DataStreamPart::Namespace),
        _ => None,
    };
    Ok(Expr::Field {
        slot,
        test,
        constant,
    })
}

/// Marks a `build_test` rejection as "valid but not supported by rulestream".
const UNSUPPORTED: &str = "unsupported: ";

fn tests_by_type(clause: &Clause<'_>) -> TestsByType {
    // Kibana's multi-field expansion and free text are lenient: a value that does not fit a
    // field's type just does not match there.
    let t = |ft: FieldType| build_test(ft, clause).unwrap_or(Test::Never);
    TestsByType {
        keyword: t(FieldType::Keyword {
            ignore_above: Some(schema::DEFAULT_IGNORE_ABOVE),
        }),
        unlimited_keyword: t(FieldType::Keyword { ignore_above: None }),
        long: t(FieldType::Long),
        double: t(FieldType::Double),
        boolean: t(FieldType::Boolean),
        date: t(FieldType::Date),
        ip: t(FieldType::Ip),
        text: t(FieldType::Text),
        dynamic: t(FieldType::Dynamic),
    }
}

/// The test for one clause on a field of type `ft`, or why Elasticsearch would reject it.
fn build_test(ft: FieldType, clause: &Clause<'_>) -> Result<Test, String> {
    let lit = clause.literal();
    if ft == FieldType::NotIndexed {
        return Err("cannot search on a field that is not indexed".into());
    }
    if let Clause::Value(l) = clause {
        if l.is_match_all() {
            return Ok(Test::Exists(match ft {
                FieldType::Keyword { ignore_above } => Indexable::Keyword { ignore_above },
                FieldType::Long | FieldType::Double => Indexable::Number,
                FieldType::Boolean => Indexable::Boolean,
                FieldType::Date => Indexable::Date,
                FieldType::Ip => Indexable::Ip,
                _ => Indexable::Any,
            }));
        }
    }
    let wildcard = !lit.quoted && lit.has_wildcard();
    if wildcard && matches!(clause, Clause::Range(..)) {
        return Err("range queries do not support wildcards".into());
    }
    let text = plain_text(lit);
    match ft {
        FieldType::Keyword { ignore_above } => Ok(Test::Keyword {
            test: keyword_test(clause, lit),
            ignore_above,
        }),
        FieldType::ConstantKeyword | FieldType::Flattened => Ok(Test::Keyword {
            test: keyword_test(clause, lit),
            ignore_above: None,
        }),
        FieldType::Long | FieldType::Double => {
            if wildcard {
                return Err(format!(
                    "wildcard `{}` cannot be used on a numeric field",
                    lit.text()
                ));
            }
            let n: f64 = text
                .trim()
                .parse()
                .ok()
                .filter(|n: &f64| n.is_finite())
                .ok_or_else(|| format!("`{text}` is not a number"))?;
            let integral = ft == FieldType::Long;
            Ok(match clause {
                // Elasticsearch answers a `long` term query with a fraction with match-none.
                Clause::Value(_) if integral && n.fract() != 0.0 => Test::Never,
                Clause::Value(_) => Test::Number {
                    interval: Interval::point(n),
                    integral,
                },
                Clause::Range(op, _) => Test::Number {
                    interval: range_interval(*op, n, n),
                    integral,
                },
            })
        }
        FieldType::Boolean => {
            if wildcard {
                return Err(format!(
                    "wildcard `{}` cannot be used on a boolean field",
                    lit.text()
                ));
            }
            let b = match text.as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(format!("`{text}` is not a boolean: expected true or false")),
            };
            Ok(Test::Boolean(match clause {
                Clause::Value(_) => Interval::point(b),
                Clause::Range(op, _) => range_interval(*op, b, b),
            }))
        }
        FieldType::Date => {
            if wildcard {
                return Err(format!(
                    "wildcard `{}` cannot be used on a date field",
                    lit.text()
                ));
            }
            date_test(clause, &text)
        }
        FieldType::Ip => {
            if wildcard {
                return Err(format!(
                    "wildcard `{}` cannot be used on an ip field",
                    lit.text()
                ));
            }
            ip_test(clause, &text)
        }
        FieldType::GeoPoint => Err("geo_point fields only support `field:*`".into()),
        FieldType::Text | FieldType::TextOf(_) => match clause {
            Clause::Range(..) => Err(format!("{UNSUPPORTED}range queries on text fields")),
            Clause::Value(_) if wildcard => {
                Ok(Test::Text(TextTest::Wildcard(wildcard_of(lit, true))))
            }
            Clause::Value(l) if l.quoted => Ok(Test::Text(TextTest::Phrase(text::tokens(&text)))),
            Clause::Value(_) => Ok(Test::Text(TextTest::AnyToken(text::tokens(&text)))),
        },
        FieldType::NotIndexed => Err("cannot search on a field that is not indexed".into()),
        FieldType::Dynamic => {
            let number = if wildcard {
                None
            } else {
                text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
            };
            let boolean = match (wildcard, text.as_str()) {
                (false, "true") => Some(true),
                (false, "false") => Some(false),
                _ => None,
            };
            Ok(Test::Dynamic(Box::new(DynamicTest {
                exists: false,
                keyword: Some(keyword_test(clause, lit)),
                number: number.map(|n| match clause {
                    Clause::Value(_) => Interval::point(n),
                    Clause::Range(op, _) => range_interval(*op, n, n),
                }),
                boolean: boolean.map(|b| match clause {
                    Clause::Value(_) => Interval::point(b),
                    Clause::Range(op, _) => range_interval(*op, b, b),
                }),
            })))
        }
    }
}

fn keyword_test(clause: &Clause<'_>, lit: &Literal) -> KeywordTest {
    match clause {
        Clause::Value(_) if !lit.quoted && lit.has_wildcard() => {
            KeywordTest::Wildcard(wildcard_of(lit, false))
        }
        Clause::Value(_) => KeywordTest::Eq(plain_text(lit).into()),
        Clause::Range(op, _) => {
            let t: Box<str> = plain_text(lit).into();
            KeywordTest::Range(range_interval(*op, t.clone(), t))
        }
    }
}

/// `lower` is used for `>`/`>=`, `upper` for `<`/`<=` (they differ for rounded dates).
fn range_interval<T>(op: RangeOp, lower: T, upper: T) -> Interval<T> {
    match op {
        RangeOp::Gt => Interval {
            lower: Some((lower, false)),
            upper: None,
        },
        RangeOp::Gte => Interval {
            lower: Some((lower, true)),
            upper: None,
        },
        RangeOp::Lt => Interval {
            lower: None,
            upper: Some((upper, false)),
        },
        RangeOp::Lte => Interval {
            lower: None,
            upper: Some((upper, true)),
        },
    }
}

fn date_test(clause: &Clause<'_>, text: &str) -> Result<Test, String> {
    if text.contains("now") {
        // Relative dates would need the evaluation time; a stream has no single "now" per
        // rule run, so this is left out rather than approximated.
        return Err(format!(
            "{UNSUPPORTED}relative date `{text}` (a stream has no rule-run time)"
        ));
    }
    let parse = |up: bool| {
        dates::parse_query_date(text, 0, up)
            .ok_or_else(|| format!("`{text}` is not a date in a format Elasticsearch accepts"))
    };
    // Elasticsearch rounds a bound with missing parts: `gt`/`lte` up to its end, `gte`/`lt`
    // down to its start; a term query covers the whole period.
    Ok(Test::Date(match clause {
        Clause::Value(_) => Interval {
            lower: Some((parse(false)?, true)),
            upper: Some((parse(true)?, true)),
        },
        Clause::Range(RangeOp::Gt, _) => Interval {
            lower: Some((parse(true)?, false)),
            upper: None,
        },
        Clause::Range(RangeOp::Gte, _) => Interval {
            lower: Some((parse(false)?, true)),
            upper: None,
        },
        Clause::Range(RangeOp::Lt, _) => Interval {
            lower: None,
            upper: Some((parse(false)?, false)),
        },
        Clause::Range(RangeOp::Lte, _) => Interval {
            lower: None,
            upper: Some((parse(true)?, true)),
        },
    }))
}

fn ip_test(clause: &Clause<'_>, text: &str) -> Result<Test, String> {
    let bad = || format!("`{text}` is not an IP address or CIDR block");
    if let Some((addr, prefix)) = text.split_once('/') {
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        return match clause {
            Clause::Value(_) => Ok(Test::Ip(cidr_range(addr, prefix).ok_or_else(bad)?)),
            Clause::Range(..) => {
                Err("range bounds must be single addresses, not CIDR blocks".into())
            }
        };
    }
    let n = ip_to_u128(text.parse::<IpAddr>().map_err(|_| bad())?);
    Ok(Test::Ip(match clause {
        Clause::Value(_) => Interval::point(n),
        Clause::Range(op, _) => range_interval(*op, n, n),
    }))
}

/// The literal's text with escapes resolved and wildcards taken literally.
fn plain_text(lit: &Literal) -> String {
    lit.text()
}

/// Compiles an unquoted literal's pieces into a wildcard pattern.
fn wildcard_of(lit: &Literal, lowercase: bool) -> Wildcard {
    let mut parts = vec![String::new()];
    for piece in &lit.pieces {
        match piece {
            Piece::Text(t) if lowercase => parts
                .last_mut()
                .map_or((), |p| p.push_str(&t.to_lowercase())),
            Piece::Text(t) => parts.last_mut().map_or((), |p| p.push_str(t)),
            Piece::Wildcard => parts.push(String::new()),
        }
    }
    let starts = matches!(lit.pieces.first(), Some(Piece::Wildcard));
    let ends = matches!(lit.pieces.last(), Some(Piece::Wildcard));
    Wildcard::new(parts, starts, ends)
}

/// A value a `constant_keyword` field has through the data stream name.
fn constant_matches(test: &Test, value: &str) -> bool {
    match test {
        Test::Exists(_) => true,
        Test::Keyword { test, .. } => test.matches(value),
        _ => false,
    }
}

/// Splits `type-dataset-namespace` (the dataset may itself contain `-`? No: Fleet forbids `-`
/// in datasets and namespaces, so the first and last `-` delimit the parts).
fn data_stream_part(name: &str, part: DataStreamPart) -> Option<&str> {
    let (ty, rest) = name.split_once('-')?;
    let (dataset, namespace) = rest.rsplit_once('-')?;
    Some(match part {
        DataStreamPart::Type => ty,
        DataStreamPart::Dataset => dataset,
        DataStreamPart::Namespace => namespace,
    })
}
