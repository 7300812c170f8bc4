//! Compiling an EQL condition into a test over the event reader's plan slots, and evaluating it
//! on one event with Elasticsearch's meaning.
//!
//! Elasticsearch runs an EQL condition in one of two ways, and the results differ on missing
//! and multi-valued fields, so we compile to the same two shapes:
//! - **query pushdown** (`x-pack/plugin/eql` → QL `ExpressionTranslators`): a comparison of a
//!   field with constants (`==`, `<`, `in`, `:`, `like`, `regex`, `startsWith`, `endsWith`,
//!   `stringContains`, `cidrMatch`) becomes a Lucene query, which matches when **any** value of
//!   the field matches and never matches a missing field; `!=`, `not in` and `not` become
//!   `must_not`, so `field != "x"` matches a missing field and fails when any value is `"x"`.
//!   `field == null` / `!= null` are `must_not exists` / `exists`. → `Node::Any`, `Node::Exists`
//! - **script** (anything else: arithmetic, functions of fields, field-vs-field): Painless reads
//!   doc values, `doc[f].get(0)`, i.e. the smallest value of the field, and nulls propagate
//!   through three-valued logic; the document matches only when the script returns `true`.
//!   → `Node::Field` and the generic operators.
//!
//! Literals are converted once here (lowercased for `~`/`:`, wildcards and regexes compiled,
//! CIDRs turned into ranges), so evaluating a test allocates nothing unless a script-style
//! function builds a string (`concat`, `substring`…).

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::Duration;

use regex::Regex;

use super::ast::{self, ArithOp, CmpOp, Expr, ExprKind, MatchOp};
use super::error::{EqlError, EqlErrorKind};
use super::functions::{self, Func};
use super::value::Val;
use crate::diag::Span;
use crate::engine::dates;
use crate::engine::predicate::{cidr_range, ip_to_u128, Interval};
use crate::event::{EventView, FieldPlan, SlotId};
use crate::schema::{field_type, FieldType};

/// A compiled single-event condition (including the `category where` part).
#[derive(Debug, Clone)]
pub struct EqlExpr {
    pub(crate) node: Node,
}

impl EqlExpr {
    /// True when the event matches.
    pub fn eval(&self, view: &EventView<'_>) -> bool {
        self.node.matches(view)
    }
}

/// A field read from the event, with its mapping type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldSlot {
    pub slot: SlotId,
    pub ty: FieldType,
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Const(Val<'static>),
    /// A field's script value (smallest doc value, or null).
    Field(FieldSlot),
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
    /// Pushdown: some value of the field passes the test; false when there is none.
    Any(FieldSlot, ValueTest),
    /// Pushdown `exists` (`!= null`) or its negation (`== null`).
    Exists(FieldSlot, bool),
    /// Script `IsNull` (`true`) / `IsNotNull` (`false`): never null itself.
    IsNull(Box<Node>, bool),
    Cmp(CmpOp, Box<Node>, Box<Node>),
    Arith(ArithOp, Box<Node>, Box<Node>),
    Neg(Box<Node>),
    /// Script `in`: `expr in (list)`; `insensitive` compares strings case-insensitively.
    In {
        expr: Box<Node>,
        list: Vec<Node>,
        insensitive: bool,
    },
    Match(Box<Node>, Matcher),
    Call(Func, Vec<Node>),
}

/// A test on one field value, with literals already converted.
#[derive(Debug, Clone)]
pub(crate) enum ValueTest {
    Cmp(CmpOp, Val<'static>),
    /// Equality with any of these (lowercased when `insensitive`).
    In(Vec<Val<'static>>, bool),
    Match(Matcher),
    /// IP in any of these ranges (CIDR blocks or single addresses).
    Ip(Vec<Interval<u128>>),
    IpCmp(CmpOp, u128),
    Date(CmpOp, i64),
}

/// Compiled string patterns: one regex for `:`/`like`/`regex` lists and the string functions.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    pub regex: Regex,
}

impl Matcher {
    pub fn is_match(&self, s: &str) -> bool {
        self.regex.is_match(s)
    }
}

/// Turns EQL wildcard patterns (`*` any run, `?` one character) into one anchored regex.
pub(crate) fn wildcard_matcher(patterns: &[&str], insensitive: bool) -> Result<Matcher, String> {
    let mut re = String::from(if insensitive { "(?is)^(?:" } else { "(?s)^(?:" });
    for (i, p) in patterns.iter().enumerate() {
        if i > 0 {
            re.push('|');
        }
        for c in p.chars() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
            }
        }
    }
    re.push_str(")$");
    Regex::new(&re)
        .map(|regex| Matcher { regex })
        .map_err(|e| e.to_string())
}

/// Elasticsearch's `regex` is a Lucene `RegexpQuery`, which matches the whole value. The
/// `regex` crate's syntax covers the common subset (`.`, classes, `*+?{m,n}`, `|`, groups);
/// Lucene's extra operators (`@`, `&`, `~`, `<1-5>`, `#`) are not supported — see the report.
pub(crate) fn regex_matcher(patterns: &[&str], insensitive: bool) -> Result<Matcher, String> {
    let mut re = String::from(if insensitive { "(?is)^(?:" } else { "(?s)^(?:" });
    for (i, p) in patterns.iter().enumerate() {
        if i > 0 {
            re.push('|');
        }
        re.push_str("(?:");
        re.push_str(p);
        re.push(')');
    }
    re.push_str(")$");
    Regex::new(&re)
        .map(|regex| Matcher { regex })
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Public compile entry points.

/// Compiles `category where condition`: the category (unless `any`) is a case-sensitive match
/// on `event.category`, Elasticsearch's default `event_category_field`.
pub fn compile_event_query(q: &ast::EventQuery, plan: &mut FieldPlan) -> Result<EqlExpr, EqlError> {
    let cond = compile_condition(&q.condition, plan)?;
    let node = match &q.category {
        ast::Category::Any => cond.node,
        ast::Category::Named { name, .. } => {
            let slot = field_slot("event.category", plan);
            let test = Node::Any(
                slot,
                ValueTest::Cmp(CmpOp::Eq, Val::Str(name.clone().into())),
            );
            Node::And(vec![test, cond.node])
        }
    };
    Ok(EqlExpr { node })
}

/// Compiles a condition (the part after `where`).
pub fn compile_condition(expr: &Expr, plan: &mut FieldPlan) -> Result<EqlExpr, EqlError> {
    let node = Compiler { plan }.node(expr)?;
    Ok(EqlExpr { node })
}

/// What a sequence engine needs from `sequence …`: each step's test and join keys.
#[derive(Debug, Clone)]
pub struct CompiledSequence {
    /// Sequence-level `by` keys (apply to every step, before the step's own keys).
    pub by: Vec<SlotId>,
    pub maxspan: Option<Duration>,
    pub steps: Vec<CompiledStep>,
    pub until: Option<CompiledStep>,
}

#[derive(Debug, Clone)]
pub struct CompiledStep {
    pub condition: EqlExpr,
    /// The step's own `by` keys (after the sequence-level ones).
    pub by: Vec<SlotId>,
    /// `with runs=N`: the step repeats N times (1 when absent).
    pub runs: u32,
    /// `![…]`: the step must not occur.
    pub missing: bool,
}

/// A whole compiled statement.
#[derive(Debug, Clone)]
pub enum CompiledQuery {
    Event(EqlExpr),
    Sequence(CompiledSequence),
}

/// Compiles a parsed statement: an event query, or a sequence's steps and keys. Pipes and
/// `sample` are reported as unsupported; join keys must be plain fields, and every step must
/// have as many keys as the others (Elasticsearch's verifier rule).
pub fn compile_query(q: &ast::Query, plan: &mut FieldPlan) -> Result<CompiledQuery, EqlError> {
    if let Some(pipe) = q.pipes.first() {
        return Err(EqlError::new(
            EqlErrorKind::Unsupported,
            pipe.span,
            "a query without pipes",
            format!("'| {}'", pipe.name),
        ));
    }
    match &q.body {
        ast::QueryBody::Event(e) => Ok(CompiledQuery::Event(compile_event_query(e, plan)?)),
        ast::QueryBody::Sample(s) => Err(EqlError::new(
            EqlErrorKind::Unsupported,
            s.span,
            "an event query or a sequence",
            "a sample query",
        )),
        ast::QueryBody::Sequence(s) => {
            let by = join_keys(&s.by, plan)?;
            let mut step = |st: &ast::SequenceStep| -> Result<CompiledStep, EqlError> {
                Ok(CompiledStep {
                    condition: compile_event_query(&st.query, plan)?,
                    by: join_keys(&st.by, plan)?,
                    runs: st.runs.unwrap_or(1),
                    missing: st.missing,
                })
            };
            let steps = s
                .steps
                .iter()
                .map(&mut step)
                .collect::<Result<Vec<_>, _>>()?;
            let until = s.until.as_deref().map(&mut step).transpose()?;
            let want = s.steps.first().map_or(0, |st| st.by.len());
            for st in s.steps.iter().chain(s.until.as_deref()) {
                if st.by.len() != want {
                    return Err(EqlError::new(
                        EqlErrorKind::Invalid,
                        st.span,
                        format!("{want} join key(s) like the first step"),
                        format!("{}", st.by.len()),
                    ));
                }
            }
            Ok(CompiledQuery::Sequence(CompiledSequence {
                by,
                maxspan: s.maxspan.map(|m| m.duration()),
                steps,
                until,
            }))
        }
    }
}

fn join_keys(keys: &[Expr], plan: &mut FieldPlan) -> Result<Vec<SlotId>, EqlError> {
    keys.iter()
        .map(|k| match &k.kind {
            ExprKind::Field(f) if !f.has_index() => Ok(plan.field(&f.dotted())),
            _ => Err(invalid(k.span, "a field name as join key", k.to_string())),
        })
        .collect()
}

fn field_slot(path: &str, plan: &mut FieldPlan) -> FieldSlot {
    let path = crate::schema::resolve_alias(path).unwrap_or(path); // `signal.*` field aliases
    let ty = field_type(path);
    // A flattened root holds its leaves below it; a leaf path is read like a keyword.
    let slot = if ty == FieldType::Flattened && crate::schema::flattened_root(path) == Some(path) {
        plan.leaves_below(path)
    } else {
        plan.field(path)
    };
    FieldSlot { slot, ty }
}

fn invalid(span: Span, expected: impl Into<String>, found: impl Into<String>) -> EqlError {
    EqlError::new(EqlErrorKind::Invalid, span, expected, found)
}

pub(crate) struct Compiler<'p> {
    pub plan: &'p mut FieldPlan,
}

impl Compiler<'_> {
    pub fn node(&mut self, e: &Expr) -> Result<Node, EqlError> {
        Ok(match &e.kind {
            ExprKind::Null => Node::Const(Val::Null),
            ExprKind::Bool(b) => Node::Const(Val::Bool(*b)),
            ExprKind::Int(n) => Node::Const(match i64::try_from(*n) {
                Ok(i) => Val::Int(i),
                Err(_) => Val::Float(*n as f64),
            }),
            ExprKind::Float(f) => Node::Const(Val::Float(*f)),
            ExprKind::Str(s) => Node::Const(Val::Str(Cow::Owned(s.value.clone()))),
            ExprKind::Field(f) => {
                if f.has_index() {
                    return Err(
                        invalid(e.span, "a field without array index", e.to_string())
                            .with_hint("Elasticsearch EQL does not support array indexes"),
                    );
                }
                Node::Field(field_slot(&f.dotted(), self.plan))
            }
            ExprKind::Not(inner) => Node::Not(Box::new(self.node(inner)?)),
            ExprKind::And(..) => Node::And(self.chain(e, true)?),
            ExprKind::Or(..) => Node::Or(self.chain(e, false)?),
            ExprKind::Compare { op, left, right } => self.compare(*op, left, right)?,
            ExprKind::Arith { op, left, right } => fold(Node::Arith(
                *op,
                Box::new(self.node(left)?),
                Box::new(self.node(right)?),
            )),
            ExprKind::Neg(inner) => fold(Node::Neg(Box::new(self.node(inner)?))),
            ExprKind::Plus(inner) => self.node(inner)?,
            ExprKind::In {
                expr,
                list,
                negated,
                insensitive,
            } => {
                let node = self.in_list(expr, list, *insensitive)?;
                if *negated {
                    Node::Not(Box::new(node))
                } else {
                    node
                }
            }
            ExprKind::Match {
                expr, op, patterns, ..
            } => self.matching(e.span, expr, *op, patterns)?,
            ExprKind::Call {
                name,
                insensitive,
                args,
            } => functions::compile_call(self, e.span, name, *insensitive, args)?,
        })
    }

    /// The operands of a left-deep `and` (or `or`) chain, compiled into one flat list: walking
    /// the chain in a loop keeps recursion (and the compiled tree) shallow for long chains.
    fn chain(&mut self, e: &Expr, and: bool) -> Result<Vec<Node>, EqlError> {
        let mut rights = Vec::new();
        let mut cur = e;
        while let (ExprKind::And(l, r), true) | (ExprKind::Or(l, r), false) = (&cur.kind, and) {
            rights.push(&**r);
            cur = l;
        }
        let mut nodes = Vec::with_capacity(rights.len() + 1);
        nodes.push(self.node(cur)?);
        for r in rights.into_iter().rev() {
            nodes.push(self.node(r)?);
        }
        Ok(nodes)
    }

    /// The pushdown target of an expression: a plain field.
    pub fn as_field(&mut self, e: &Expr) -> Option<FieldSlot> {
        match &e.kind {
            ExprKind::Field(f) if !f.has_index() => Some(field_slot(&f.dotted(), self.plan)),
            _ => None,
        }
    }

    /// An expression that folds to a constant (`"x"`, `-1`, `1 + 2`).
    pub fn as_const(&mut self, e: &Expr) -> Result<Option<Val<'static>>, EqlError> {
        if matches!(e.kind, ExprKind::Field(_)) {
            return Ok(None);
        }
        Ok(match self.node(e)? {
            Node::Const(v) => Some(v),
            _ => None,
        })
    }

    fn compare(&mut self, op: CmpOp, left: &Expr, right: &Expr) -> Result<Node, EqlError> {
        let (field, constant, op) = match (self.as_field(left), self.as_field(right)) {
            (Some(f), None) => (f, self.as_const(right)?, op),
            (None, Some(f)) => (f, self.as_const(left)?, flip(op)),
            _ => (
                FieldSlot {
                    slot: 0,
                    ty: FieldType::Dynamic,
                },
                None,
                op,
            ),
        };
        let Some(value) = constant else {
            // Elasticsearch's optimizer turns `x == null` / `x != null` into `IsNull(x)` /
            // `IsNotNull(x)` for any expression, not only fields (`ReplaceNullChecks`).
            if matches!(op, CmpOp::Eq | CmpOp::Ne) {
                let (l, r) = (self.node(left)?, self.node(right)?);
                let other = match (l, r) {
                    (Node::Const(Val::Null), x) | (x, Node::Const(Val::Null)) => Some(x),
                    (l, r) => return Ok(fold(Node::Cmp(op, Box::new(l), Box::new(r)))),
                };
                if let Some(x) = other {
                    return Ok(fold(Node::IsNull(Box::new(x), op == CmpOp::Eq)));
                }
            }
            return Ok(fold(Node::Cmp(
                op,
                Box::new(self.node(left)?),
                Box::new(self.node(right)?),
            )));
        };
        if value.is_null() {
            return Ok(match op {
                CmpOp::Eq => Node::Exists(field, false),
                CmpOp::Ne => Node::Exists(field, true),
                // Elasticsearch folds `x < null` to null: matches nothing.
                _ => Node::Const(Val::Null),
            });
        }
        let test = typed_test(
            field.ty,
            op,
            value,
            if matches!(left.kind, ExprKind::Field(_)) {
                right.span
            } else {
                left.span
            },
        )?;
        Ok(match op {
            CmpOp::Ne => Node::Not(Box::new(Node::Any(field, ne_to_eq(test)))),
            _ => Node::Any(field, test),
        })
    }

    fn in_list(&mut self, expr: &Expr, list: &[Expr], insensitive: bool) -> Result<Node, EqlError> {
        let mut consts = Vec::with_capacity(list.len());
        for item in list {
            match self.as_const(item)? {
                Some(v) => consts.push(v),
                None => {
                    consts.clear();
                    break;
                }
            }
        }
        let field = self.as_field(expr);
        if let (Some(field), true) = (field, consts.len() == list.len()) {
            if matches!(field.ty, FieldType::Ip | FieldType::Date) && !insensitive {
                // Typed fields: an `in` is an `or` of typed equalities.
                let mut tests = Vec::new();
                for (v, item) in consts.into_iter().zip(list) {
                    if !v.is_null() {
                        tests.push(Node::Any(
                            field,
                            typed_test(field.ty, CmpOp::Eq, v, item.span)?,
                        ));
                    }
                }
                return Ok(Node::Or(tests));
            }
            let values = consts
                .into_iter()
                .filter(|v| !v.is_null())
                .map(|v| match v {
                    Val::Str(s) if insensitive => Val::Str(Cow::Owned(s.to_lowercase())),
                    v => v,
                })
                .collect();
            return Ok(Node::Any(field, ValueTest::In(values, insensitive)));
        }
        Ok(Node::In {
            expr: Box::new(self.node(expr)?),
            list: list
                .iter()
                .map(|i| self.node(i))
                .collect::<Result<_, _>>()?,
            insensitive,
        })
    }

    fn matching(
        &mut self,
        span: Span,
        expr: &Expr,
        op: MatchOp,
        patterns: &[Expr],
    ) -> Result<Node, EqlError> {
        let mut texts = Vec::with_capacity(patterns.len());
        for p in patterns {
            match &p.kind {
                ExprKind::Str(s) => texts.push(s.value.as_str()),
                _ => {
                    return Err(invalid(
                        p.span,
                        format!("a string pattern after '{}'", op.symbol()),
                        p.to_string(),
                    ))
                }
            }
        }
        let matcher = match op {
            MatchOp::Regex | MatchOp::RegexInsensitive => regex_matcher(&texts, op.insensitive()),
            _ => wildcard_matcher(&texts, op.insensitive()),
        }
        .map_err(|msg| invalid(span, "a valid pattern", msg))?;
        Ok(match self.as_field(expr) {
            Some(field) => Node::Any(field, ValueTest::Match(matcher)),
            None => Node::Match(Box::new(self.node(expr)?), matcher),
        })
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        other => other,
    }
}

fn ne_to_eq(test: ValueTest) -> ValueTest {
    match test {
        ValueTest::Cmp(CmpOp::Ne, v) => ValueTest::Cmp(CmpOp::Eq, v),
        ValueTest::IpCmp(CmpOp::Ne, v) => ValueTest::IpCmp(CmpOp::Eq, v),
        ValueTest::Date(CmpOp::Ne, v) => ValueTest::Date(CmpOp::Eq, v),
        other => other,
    }
}

/// The test for `field op constant`, with the constant converted for the field's type.
fn typed_test(
    ty: FieldType,
    op: CmpOp,
    value: Val<'static>,
    span: Span,
) -> Result<ValueTest, EqlError> {
    match ty {
        FieldType::Ip => {
            let Val::Str(text) = &value else {
                return Err(invalid(
                    span,
                    "an IP address string for an ip field",
                    format!("{value:?}"),
                ));
            };
            let eq = matches!(op, CmpOp::Eq | CmpOp::Ne);
            // A term query on an ip field accepts a CIDR block (`source.ip == "10.0.0.0/8"`).
            if let Some(range) = parse_cidr(text).filter(|_| eq) {
                return Ok(ValueTest::Ip(vec![range]));
            }
            let ip: IpAddr = text
                .parse()
                .map_err(|_| invalid(span, "an IP address", format!("'{text}'")))?;
            Ok(ValueTest::IpCmp(op, ip_to_u128(ip)))
        }
        FieldType::Date => {
            let ms = match &value {
                Val::Str(s) => dates::parse_event_date(s),
                Val::Int(i) => Some(*i),
                _ => None,
            }
            .ok_or_else(|| invalid(span, "a date", format!("{value:?}")))?;
            Ok(ValueTest::Date(op, ms))
        }
        _ => Ok(ValueTest::Cmp(op, value)),
    }
}

/// `a.b.c.d/n` (or a single address, as a /32 or /128) as an address range.
pub(crate) fn parse_cidr(text: &str) -> Option<Interval<u128>> {
    match text.split_once('/') {
        Some((addr, prefix)) => cidr_range(addr.parse().ok()?, prefix.parse().ok()?),
        None => Some(Interval::point(ip_to_u128(text.parse().ok()?))),
    }
}

/// Folds operators whose operands are all constants.
fn fold(node: Node) -> Node {
    let all_const = match &node {
        Node::Arith(_, l, r) | Node::Cmp(_, l, r) => {
            matches!(**l, Node::Const(_)) && matches!(**r, Node::Const(_))
        }
        Node::Neg(x) | Node::IsNull(x, _) => matches!(**x, Node::Const(_)),
        Node::Call(_, args) => args.iter().all(|a| matches!(a, Node::Const(_))),
        _ => false,
    };
    if !all_const {
        return node;
    }
    // No event is read when every operand is a constant.
    let empty = crate::event::Extracted::new();
    let plan = FieldPlan::new();
    let mut scratch = empty;
    match crate::event::extract(&plan, b"{}", &mut scratch) {
        Ok(view) => Node::Const(node.eval(&view).into_owned()),
        Err(_) => node,
    }
}

pub(crate) fn fold_node(node: Node) -> Node {
    fold(node)
}
