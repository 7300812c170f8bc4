//! Recursive-descent parser for Elasticsearch's EQL grammar (`EqlBase.g4` in
//! elastic/elasticsearch, `x-pack/plugin/eql/src/main/antlr`), one function per grammar level:
//!
//! ```text
//! expression  = or
//! or          = and ("or" and)*
//! and         = not ("and" not)*
//! not         = "not" not | value                     -- `not a and b` is `(not a) and b`
//! value       = operator [cmp operator]               -- no chaining: `a < b < c` is an error
//! operator    = additive; additive = mul (("+"|"-") mul)*; mul = unary (("*"|"/"|"%") unary)*
//! unary       = ("-"|"+") unary | primary [predicate] -- predicates bind to a primary only
//! predicate   = ["not"] ("in"|"in~") "(" expr, … ")" | (":"|"like"|"like~"|"regex"|"regex~")
//!               (constant | "(" constant, … ")")
//! primary     = constant | name["~"] "(" args ")" | ["?"] field | "(" expression ")"
//! ```
//!
//! Nesting (parentheses, `not`, unary signs, calls) is capped at [`super::MAX_NESTING`] so that
//! hostile rule text gets an error instead of overflowing the stack.

use super::ast::*;
use super::error::{EqlError, EqlErrorKind};
use super::lexer::{tokenize, Tok};
use super::MAX_NESTING;
use crate::diag::Span;

pub(crate) fn parse_query(input: &str) -> Result<Query, EqlError> {
    let toks = tokenize(input)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        chain: 0,
        arith: 0,
    };
    let q = p.statement()?;
    Ok(q)
}

struct Parser {
    toks: Vec<(Tok, Span)>,
    pos: usize,
    /// Open parentheses, `not`s, signs and calls (capped at [`MAX_NESTING`]).
    depth: usize,
    /// Binary operators on the current path of the tree (capped at [`MAX_CHAIN`]): `a or b or …`
    /// builds a left-deep tree whose depth is its length, and every later pass (printing,
    /// compiling, evaluating, dropping) recurses over it.
    chain: usize,
    /// Arithmetic operators on the current path (capped at [`MAX_ARITH`]); compiling and
    /// evaluating arithmetic recurses with larger frames than `and`/`or`, which are flattened.
    arith: usize,
}

/// How many arithmetic operators a path through the tree may hold.
const MAX_ARITH: usize = 128;

/// How many binary operators a path through the tree may hold.
const MAX_CHAIN: usize = 512;

type PResult<T> = Result<T, EqlError>;

impl Parser {
    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).map_or(&Tok::Eof, |(t, _)| t)
    }

    fn peek_at(&self, n: usize) -> &Tok {
        self.toks.get(self.pos + n).map_or(&Tok::Eof, |(t, _)| t)
    }

    fn span(&self) -> Span {
        self.toks
            .get(self.pos)
            .or_else(|| self.toks.last())
            .map_or(Span::default(), |(_, s)| *s)
    }

    /// End of the previous token (for spans that end there).
    fn prev_end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.toks.get(i))
            .map_or(0, |(_, s)| s.end)
    }

    fn bump(&mut self) -> (Tok, Span) {
        let item = self
            .toks
            .get(self.pos)
            .cloned()
            .unwrap_or((Tok::Eof, self.span()));
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        item
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }

    fn unexpected(&self, expected: impl Into<String>) -> EqlError {
        EqlError::new(
            EqlErrorKind::Unexpected,
            self.span(),
            expected,
            self.peek().describe(),
        )
    }

    fn expect(&mut self, t: &Tok, expected: &str) -> PResult<Span> {
        if self.peek() == t {
            Ok(self.bump().1)
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(EqlError::new(
                EqlErrorKind::TooDeep,
                self.span(),
                format!("at most {MAX_NESTING} levels of nesting"),
                "deeper nesting",
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Counts one more arithmetic operator on the current path; errors past [`MAX_ARITH`].
    fn link_arith(&mut self) -> PResult<()> {
        self.arith += 1;
        if self.arith > MAX_ARITH {
            return Err(EqlError::new(
                EqlErrorKind::TooDeep,
                self.span(),
                format!("at most {MAX_ARITH} chained arithmetic operators"),
                "a longer chain",
            ));
        }
        Ok(())
    }

    /// Counts one more binary operator on the current path; errors past [`MAX_CHAIN`].
    fn link(&mut self) -> PResult<()> {
        self.chain += 1;
        if self.chain > MAX_CHAIN {
            return Err(EqlError::new(
                EqlErrorKind::TooDeep,
                self.span(),
                format!("at most {MAX_CHAIN} chained operators"),
                "a longer chain",
            )
            .with_hint("use 'in (…)' for long lists of alternatives"));
        }
        Ok(())
    }

    // ---- statements ----

    fn statement(&mut self) -> PResult<Query> {
        let start = self.span().start;
        let body = match self.peek() {
            Tok::Sequence => QueryBody::Sequence(self.sequence()?),
            Tok::Sample => QueryBody::Sample(self.sample()?),
            Tok::Join => {
                return Err(EqlError::new(
                    EqlErrorKind::Invalid,
                    self.span(),
                    "an event query, 'sequence' or 'sample'",
                    "'join'",
                )
                .with_hint("Elasticsearch does not support join queries"))
            }
            Tok::Eof => return Err(self.unexpected("an EQL query such as 'any where …'")),
            _ => QueryBody::Event(self.event_filter()?),
        };
        let mut pipes = Vec::new();
        while self.peek() == &Tok::Pipe {
            pipes.push(self.pipe()?);
        }
        if self.peek() != &Tok::Eof {
            let expected = match &body {
                QueryBody::Event(_) => "an operator, '|' or end of query",
                _ => "a step '[…]', 'until', '|' or end of query",
            };
            return Err(self.unexpected(expected));
        }
        Ok(Query {
            body,
            pipes,
            span: Span::new(start, self.prev_end().max(start)),
        })
    }

    fn pipe(&mut self) -> PResult<Pipe> {
        let start = self.bump().1.start;
        let name = match self.bump() {
            (Tok::Ident(n), _) => n,
            (t, s) => {
                return Err(EqlError::new(
                    EqlErrorKind::Unexpected,
                    s,
                    "a pipe name after '|' (head, tail)",
                    t.describe(),
                ))
            }
        };
        let mut args = Vec::new();
        if !matches!(self.peek(), Tok::Pipe | Tok::Eof) {
            args.push(self.expression()?);
            while self.eat(&Tok::Comma) {
                args.push(self.expression()?);
            }
        }
        Ok(Pipe {
            name,
            args,
            span: Span::new(start, self.prev_end()),
        })
    }

    fn event_filter(&mut self) -> PResult<EventQuery> {
        let start = self.span().start;
        let category = match self.bump() {
            (Tok::Any, _) => Category::Any,
            (Tok::Ident(name), _) => Category::Named {
                name,
                quoted: false,
            },
            (Tok::Str { value, .. }, _) => Category::Named {
                name: value,
                quoted: true,
            },
            (t, s) => {
                return Err(EqlError::new(
                    EqlErrorKind::Unexpected,
                    s,
                    "an event category ('any', a name or a string) before 'where'",
                    t.describe(),
                ))
            }
        };
        self.expect(&Tok::Where, "'where' after the event category")?;
        let condition = self.expression()?;
        Ok(EventQuery {
            category,
            condition,
            span: Span::new(start, self.prev_end()),
        })
    }

    fn join_keys(&mut self) -> PResult<Vec<Expr>> {
        let mut keys = Vec::new();
        if self.eat(&Tok::By) {
            keys.push(self.expression()?);
            while self.eat(&Tok::Comma) {
                keys.push(self.expression()?);
            }
        }
        Ok(keys)
    }

    fn sequence(&mut self) -> PResult<Sequence> {
        let start = self.bump().1.start;
        let by = self.join_keys()?;
        let mut maxspan = None;
        if self.peek() == &Tok::With {
            maxspan = Some(self.maxspan()?);
            if by.is_empty() && self.peek() == &Tok::By {
                let at = self.span();
                return Err(EqlError::new(
                    EqlErrorKind::Invalid,
                    at,
                    "sequence steps after 'with maxspan=…'",
                    "'by'",
                )
                .with_hint("write the sequence's [by] before [with], not after"));
            }
        }
        let mut steps = Vec::new();
        while matches!(self.peek(), Tok::LBracket | Tok::MissingOpen) {
            steps.push(self.sequence_step()?);
        }
        let mut until = None;
        if self.peek() == &Tok::Until {
            self.bump();
            if !matches!(self.peek(), Tok::LBracket) {
                return Err(self.unexpected("'[' starting the 'until' query"));
            }
            until = Some(Box::new(self.sequence_step()?));
        }
        // Elasticsearch expands `with runs=N` into N steps before requiring at least two, so
        // `sequence [a] with runs=5 until [b]` is valid.
        let expanded: u32 = steps.iter().map(|s| s.runs.unwrap_or(1)).sum();
        if expanded < 2 {
            let err = if steps.is_empty() {
                self.unexpected("a sequence step '[category where …]'")
            } else {
                EqlError::new(
                    EqlErrorKind::Invalid,
                    Span::new(start, self.prev_end()),
                    "at least 2 steps in a sequence",
                    "1 step",
                )
            };
            return Err(err);
        }
        Ok(Sequence {
            by,
            maxspan,
            steps,
            until,
            span: Span::new(start, self.prev_end()),
        })
    }

    /// `with maxspan=10m`. Elasticsearch requires a unit ("No time unit specified").
    fn maxspan(&mut self) -> PResult<TimeSpan> {
        self.bump();
        self.expect(&Tok::Maxspan, "'maxspan' after 'with'")?;
        self.expect(&Tok::Assign, "'=' after 'maxspan'")?;
        let (tok, num_span) = self.bump();
        let value = match tok {
            // Elasticsearch: "A positive maxspan value is required".
            Tok::Int(0) => {
                return Err(EqlError::new(
                    EqlErrorKind::Invalid,
                    num_span,
                    "a positive maxspan",
                    "0",
                ))
            }
            Tok::Int(n) => n,
            t => {
                return Err(EqlError::new(
                    EqlErrorKind::Unexpected,
                    num_span,
                    "a whole number for maxspan, e.g. 'maxspan=10m'",
                    t.describe(),
                ))
            }
        };
        let unit = match self.peek().clone() {
            Tok::Ident(u) => {
                let s = self.bump().1;
                TimeUnit::from_suffix(&u).ok_or_else(|| {
                    EqlError::new(
                        EqlErrorKind::Invalid,
                        s,
                        "a time unit: ms, s, m, h or d",
                        format!("'{u}'"),
                    )
                })?
            }
            _ => {
                return Err(EqlError::new(
                    EqlErrorKind::Invalid,
                    num_span,
                    "a time unit after the number",
                    "none",
                )
                .with_hint(format!("did you mean [s] as in [{value}s]?")))
            }
        };
        Ok(TimeSpan {
            value,
            unit,
            span: Span::new(num_span.start, self.prev_end()),
        })
    }

    fn subquery(&mut self) -> PResult<(EventQuery, bool, Span)> {
        let (open, open_span) = self.bump();
        let missing = open == Tok::MissingOpen;
        let query = self.event_filter()?;
        if self.peek() != &Tok::RBracket {
            return Err(self.unexpected("an operator or ']' closing the step"));
        }
        self.bump();
        Ok((query, missing, open_span))
    }

    fn sequence_step(&mut self) -> PResult<SequenceStep> {
        let (query, missing, open) = self.subquery()?;
        let by = self.join_keys()?;
        let mut runs = None;
        if self.peek() == &Tok::With && matches!(self.peek_at(1), Tok::Ident(k) if k == "runs") {
            self.bump();
            self.bump();
            self.expect(&Tok::Assign, "'=' after 'runs'")?;
            let (tok, s) = self.bump();
            // Elasticsearch: "A positive runs value greater than 0 and at most 100 is required".
            runs = Some(match tok {
                Tok::Int(n @ 1..=100) => n as u32,
                t => {
                    return Err(EqlError::new(
                        EqlErrorKind::Invalid,
                        s,
                        "a whole number of runs from 1 to 100",
                        t.describe(),
                    ))
                }
            });
        } else if self.peek() == &Tok::With {
            self.bump();
            return Err(self.unexpected("'runs' after 'with' on a sequence step"));
        }
        Ok(SequenceStep {
            query,
            by,
            runs,
            missing,
            span: Span::new(open.start, self.prev_end()),
        })
    }

    fn sample(&mut self) -> PResult<Sample> {
        let start = self.bump().1.start;
        let by = self.join_keys()?;
        let mut steps = Vec::new();
        while matches!(self.peek(), Tok::LBracket) {
            let (query, _, open) = self.subquery()?;
            let by = self.join_keys()?;
            steps.push(SampleStep {
                query,
                by,
                span: Span::new(open.start, self.prev_end()),
            });
        }
        if steps.is_empty() {
            return Err(self.unexpected("a sample step '[category where …]'"));
        }
        Ok(Sample {
            by,
            steps,
            span: Span::new(start, self.prev_end()),
        })
    }

    // ---- expressions ----

    pub(crate) fn expression(&mut self) -> PResult<Expr> {
        let mut left = self.and()?;
        let start = self.chain;
        while self.eat(&Tok::Or) {
            self.link()?;
            let right = self.and()?;
            let span = left.span.to(right.span);
            left = Expr::new(ExprKind::Or(Box::new(left), Box::new(right)), span);
        }
        self.chain = start;
        Ok(left)
    }

    fn and(&mut self) -> PResult<Expr> {
        let mut left = self.not()?;
        let start = self.chain;
        while self.eat(&Tok::And) {
            self.link()?;
            let right = self.not()?;
            let span = left.span.to(right.span);
            left = Expr::new(ExprKind::And(Box::new(left), Box::new(right)), span);
        }
        self.chain = start;
        Ok(left)
    }

    fn not(&mut self) -> PResult<Expr> {
        if self.peek() == &Tok::Not {
            let start = self.bump().1;
            self.enter()?;
            let inner = self.not()?;
            self.leave();
            let span = start.to(inner.span);
            return Ok(Expr::new(ExprKind::Not(Box::new(inner)), span));
        }
        self.value()
    }

    fn value(&mut self) -> PResult<Expr> {
        let left = self.additive()?;
        let op = match self.peek() {
            Tok::EqEq => CmpOp::Eq,
            Tok::Ne => CmpOp::Ne,
            Tok::Lt => CmpOp::Lt,
            Tok::Le => CmpOp::Le,
            Tok::Gt => CmpOp::Gt,
            Tok::Ge => CmpOp::Ge,
            Tok::Assign => {
                return Err(self
                    .unexpected("a comparison operator")
                    .with_hint("use '==' to compare"))
            }
            _ => return Ok(left),
        };
        self.bump();
        let right = self.additive()?;
        let span = left.span.to(right.span);
        Ok(Expr::new(
            ExprKind::Compare {
                op,
                left: Box::new(left),
                right: Box::new(right),
            },
            span,
        ))
    }

    fn additive(&mut self) -> PResult<Expr> {
        self.arith_level(
            |t| match t {
                Tok::Plus => Some(ArithOp::Add),
                Tok::Minus => Some(ArithOp::Sub),
                _ => None,
            },
            Self::multiplicative,
        )
    }

    fn multiplicative(&mut self) -> PResult<Expr> {
        self.arith_level(
            |t| match t {
                Tok::Star => Some(ArithOp::Mul),
                Tok::Slash => Some(ArithOp::Div),
                Tok::Percent => Some(ArithOp::Mod),
                _ => None,
            },
            Self::unary,
        )
    }

    /// One left-associative arithmetic precedence level: operands from `operand`, operators
    /// recognised by `op_of`; chains count toward the arithmetic chain limit.
    fn arith_level(
        &mut self,
        op_of: fn(&Tok) -> Option<ArithOp>,
        operand: fn(&mut Self) -> PResult<Expr>,
    ) -> PResult<Expr> {
        let mut left = operand(self)?;
        let start = self.arith;
        loop {
            let Some(op) = op_of(self.peek()) else {
                self.arith = start;
                return Ok(left);
            };
            self.bump();
            self.link_arith()?;
            let right = operand(self)?;
            let span = left.span.to(right.span);
            left = Expr::new(
                ExprKind::Arith {
                    op,
                    left: Box::new(left),
                    right: Box::new(right),
                },
                span,
            );
        }
    }

    fn unary(&mut self) -> PResult<Expr> {
        let neg = match self.peek() {
            Tok::Minus => true,
            Tok::Plus => false,
            _ => {
                let primary = self.primary()?;
                return self.predicate(primary);
            }
        };
        let start = self.bump().1;
        self.enter()?;
        let inner = self.unary()?;
        self.leave();
        let span = start.to(inner.span);
        let kind = if neg {
            ExprKind::Neg(Box::new(inner))
        } else {
            ExprKind::Plus(Box::new(inner))
        };
        Ok(Expr::new(kind, span))
    }

    fn predicate(&mut self, expr: Expr) -> PResult<Expr> {
        let negated = self.peek() == &Tok::Not && matches!(self.peek_at(1), Tok::In | Tok::InI);
        if negated {
            self.bump();
        }
        match self.peek() {
            Tok::In | Tok::InI => {
                let insensitive = self.bump().0 == Tok::InI;
                self.expect(&Tok::LParen, "'(' starting the list after 'in'")?;
                self.enter()?;
                let mut list = vec![self.expression()?];
                while self.eat(&Tok::Comma) {
                    list.push(self.expression()?);
                }
                self.leave();
                self.expect(&Tok::RParen, "',' or ')' closing the 'in' list")?;
                let span = Span::new(expr.span.start, self.prev_end());
                Ok(Expr::new(
                    ExprKind::In {
                        expr: Box::new(expr),
                        list,
                        negated,
                        insensitive,
                    },
                    span,
                ))
            }
            Tok::Colon | Tok::Like | Tok::LikeI | Tok::Regex | Tok::RegexI => {
                let op = match self.bump().0 {
                    Tok::Colon => MatchOp::Seq,
                    Tok::Like => MatchOp::Like,
                    Tok::LikeI => MatchOp::LikeInsensitive,
                    Tok::Regex => MatchOp::Regex,
                    _ => MatchOp::RegexInsensitive,
                };
                let list = self.eat(&Tok::LParen);
                let mut patterns = vec![self.constant(op)?];
                if list {
                    while self.eat(&Tok::Comma) {
                        patterns.push(self.constant(op)?);
                    }
                    self.expect(&Tok::RParen, "',' or ')' closing the pattern list")?;
                }
                let span = Span::new(expr.span.start, self.prev_end());
                Ok(Expr::new(
                    ExprKind::Match {
                        expr: Box::new(expr),
                        op,
                        patterns,
                        list,
                    },
                    span,
                ))
            }
            _ => Ok(expr),
        }
    }

    /// A constant (what the grammar allows after `:`, `like`, `regex`).
    fn constant(&mut self, op: MatchOp) -> PResult<Expr> {
        let (tok, span) = self.bump();
        let kind = match tok {
            Tok::Str { value, raw } => ExprKind::Str(StrLit { value, raw }),
            Tok::Int(n) => ExprKind::Int(n),
            Tok::Float(f) => ExprKind::Float(f),
            Tok::True => ExprKind::Bool(true),
            Tok::False => ExprKind::Bool(false),
            Tok::Null => ExprKind::Null,
            t => {
                return Err(EqlError::new(
                    EqlErrorKind::Unexpected,
                    span,
                    format!("a constant pattern after '{}'", op.symbol()),
                    t.describe(),
                ))
            }
        };
        Ok(Expr::new(kind, span))
    }

    fn primary(&mut self) -> PResult<Expr> {
        let span = self.span();
        let kind = match self.peek().clone() {
            Tok::Null => ExprKind::Null,
            Tok::True => ExprKind::Bool(true),
            Tok::False => ExprKind::Bool(false),
            Tok::Int(n) => ExprKind::Int(n),
            Tok::Float(f) => ExprKind::Float(f),
            Tok::Str { value, raw } => ExprKind::Str(StrLit { value, raw }),
            Tok::LParen => {
                self.bump();
                self.enter()?;
                let inner = self.expression()?;
                self.leave();
                self.expect(&Tok::RParen, "an operator or ')'")?;
                // Parentheses are not kept: the tree's shape already says how it groups.
                return Ok(Expr::new(
                    inner.kind,
                    Span::new(span.start, self.prev_end()),
                ));
            }
            Tok::Ident(name) | Tok::TildeIdent(name) if self.peek_at(1) == &Tok::LParen => {
                let insensitive = matches!(self.peek(), Tok::TildeIdent(_));
                return self.call(name, insensitive);
            }
            Tok::TildeIdent(name) => {
                return Err(EqlError::new(
                    EqlErrorKind::Unexpected,
                    span,
                    "a field or value",
                    format!("'{name}~'"),
                )
                .with_hint("'~' may only follow a function name, 'in', 'like' or 'regex'"))
            }
            Tok::Ident(_) | Tok::QuotedIdent(_) | Tok::Question => return self.field(),
            _ => return Err(self.unexpected("a field, value, function call or '('")),
        };
        self.bump();
        Ok(Expr::new(kind, span))
    }

    fn call(&mut self, name: String, insensitive: bool) -> PResult<Expr> {
        let start = self.bump().1.start;
        self.bump();
        self.enter()?;
        let mut args = Vec::new();
        if self.peek() != &Tok::RParen {
            args.push(self.expression()?);
            while self.eat(&Tok::Comma) {
                args.push(self.expression()?);
            }
        }
        self.leave();
        self.expect(&Tok::RParen, "',' or ')' closing the function arguments")?;
        Ok(Expr::new(
            ExprKind::Call {
                name,
                insensitive,
                args,
            },
            Span::new(start, self.prev_end()),
        ))
    }

    /// `qualifiedName: OPTIONAL? identifier (DOT identifier | LB INTEGER_VALUE+ RB)*`.
    fn field(&mut self) -> PResult<Expr> {
        let start = self.span().start;
        let optional = self.eat(&Tok::Question);
        let mut segments = vec![self.identifier()?];
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.bump();
                    segments.push(self.identifier()?);
                }
                // `[` starts an index only before a number: `sequence by a [any where …]`.
                Tok::LBracket if matches!(self.peek_at(1), Tok::Int(_)) => {
                    self.bump();
                    let mut any = false;
                    while let Tok::Int(n) = *self.peek() {
                        self.bump();
                        segments.push(PathSegment::Index(n));
                        any = true;
                    }
                    if !any {
                        return Err(self.unexpected("an array index such as [0]"));
                    }
                    self.expect(&Tok::RBracket, "']' closing the array index")?;
                }
                _ => break,
            }
        }
        Ok(Expr::new(
            ExprKind::Field(FieldRef { optional, segments }),
            Span::new(start, self.prev_end()),
        ))
    }

    fn identifier(&mut self) -> PResult<PathSegment> {
        match self.peek().clone() {
            Tok::Ident(name) => {
                self.bump();
                Ok(PathSegment::Name {
                    name,
                    backticked: false,
                })
            }
            Tok::QuotedIdent(name) => {
                self.bump();
                Ok(PathSegment::Name {
                    name,
                    backticked: true,
                })
            }
            t if !t.text().is_empty() && t.text().chars().all(|c| c.is_ascii_alphabetic()) => {
                Err(self.unexpected("a field name").with_hint(format!(
                    "'{}' is a keyword; write it in backticks: `{}`",
                    t.text(),
                    t.text()
                )))
            }
            _ => Err(self.unexpected("a field name")),
        }
    }
}
