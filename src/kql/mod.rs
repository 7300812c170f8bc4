//! Kibana Query Language: parser producing [`ast::Query`], and a printer back to KQL. Meaning
//! is not decided here but in `engine::compile`, which knows field types.
//!
//! The grammar is Kibana's own (`kbn-es-query/src/kuery/grammar/grammar.peggy`), not the
//! simplified one in elastic/detection-rules' Python `kql` package, because Kibana is what runs
//! the rules. The parts that surprise people, all kept on purpose:
//! - an unquoted value runs over spaces: `message: quick brown fox` is one value; it ends only
//!   at a special character (`\():<>"*{}`), at ` or `/` and ` between spaces, or at `not `
//!   (even inside a word: `a:cannot be` is a syntax error);
//! - an operator needs a space on both sides, so `a:b and` (no trailing space) is the value
//!   `b and`, while `a:b and ` is an error;
//! - `not not a` is an error (`NotQuery = Not SubQuery`); write `not (not a)`;
//! - unquoted text is trimmed (JavaScript `trim`), quoted text is kept as written;
//! - an empty query is Kibana's match-all; we return [`KqlErrorKind::EmptyQuery`] instead;
//! - a range bound with a wildcard (`a < 5*`) is refused ([`KqlErrorKind::WildcardInRange`]),
//!   although Kibana's grammar accepts it and sends `5*` to Elasticsearch as a plain bound.
//!
//! The tree prints back as KQL (`Display`), and `parse(&q.to_string())` gives `q` again up to
//! spans (compare with [`ast::Query::without_spans`]).

pub mod ast;
mod display;
mod error;
mod lexer;
mod parser;

pub use error::{KqlError, KqlErrorKind};

/// How deep `(`, `{` and `not` may nest. Real rules use a handful of levels; the cap keeps
/// hostile input from overflowing the stack of the recursive parser.
pub const MAX_NESTING: usize = 64;

/// Parses one KQL query. Spans in the tree and in errors are byte offsets into `input`.
///
/// ```
/// use rulestream::kql::{parse, ast::Query};
///
/// let query = parse("event.action: (user.session.start or \"user.account.lock\") and not x:*")
///     .expect("valid KQL");
/// assert!(matches!(query, Query::And(ref items, _) if items.len() == 2));
/// assert_eq!(
///     query.to_string(),
///     "event.action:(user.session.start or \"user.account.lock\") and not x:*"
/// );
///
/// let error = parse("event.action:").unwrap_err();
/// assert_eq!(
///     error.render("event.action:"),
///     "event.action:\n             ^ expected a value after ':' but found end of query"
/// );
/// ```
pub fn parse(input: &str) -> Result<ast::Query, KqlError> {
    parser::parse_query(input)
}

#[cfg(test)]
mod tests;
