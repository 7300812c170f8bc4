//! Event Query Language (Elastic's EQL): parser to [`ast::Query`], printer back to EQL, and
//! compilation of single-event conditions into [`compile::EqlExpr`] tests over the event reader's
//! [`crate::event::FieldPlan`] slots.
//!
//! Elasticsearch is the authority for both grammar and meaning (its `EqlBase.g4` and the
//! query translation in `x-pack/plugin/eql`); the Python `eql` package serves as a test oracle
//! only where it agrees (see `tests/eql_oracle.rs` and `testdata/eql/oracle_divergences.toml`).
//! Sequences are parsed here and their steps compiled ([`compile::compile_query`]), but their
//! evaluation over time belongs to the engine.
//!
//! Known differences from Elasticsearch, kept small on purpose:
//! - `regex` uses the `regex` crate's syntax, anchored at both ends like Lucene's `RegexpQuery`;
//!   Lucene's extra operators (`@`, `&`, `~`, `<1-5>`, `#`) are not supported, and a few escapes
//!   mean something else (`\d` is a digit class here, a literal `d` in Lucene).
//! - Case-insensitive matching folds with Unicode simple lowercasing (`char::to_lowercase`,
//!   the regex crate's `(?i)`), which can differ from Lucene's on rare characters.
//! - Comparisons Elasticsearch's verifier rejects for type reasons (a keyword field with a
//!   number, `:` on a number field) evaluate to false here instead of failing to compile; only
//!   malformed IP and date literals on `ip`/`date` fields are rejected.
//! - In script expressions (functions of fields, arithmetic), `ip` and `date` fields are read as
//!   their text, where Elasticsearch's doc values are typed.
//! - `sample`, `join` and pipes (`| head`, `| tail`) parse but do not compile (`join` is
//!   rejected by Elasticsearch's parser too).

mod anchor;
pub mod ast;
pub mod compile;
mod display;
mod error;
mod eval;
mod functions;
mod lexer;
mod parser;
mod value;

pub use compile::{
    compile_condition, compile_event_query, compile_query, CompiledQuery, CompiledSequence,
    CompiledStep, EqlExpr,
};
pub use error::{EqlError, EqlErrorKind};

/// How deep parentheses, `not`, signs and calls may nest. Real rules use a handful of levels;
/// the cap keeps hostile input from overflowing the stack of the recursive parser.
pub const MAX_NESTING: usize = 64;

/// Parses one EQL statement. Spans in the tree and in errors are byte offsets into `input`.
pub fn parse(input: &str) -> Result<ast::Query, EqlError> {
    parser::parse_query(input)
}
