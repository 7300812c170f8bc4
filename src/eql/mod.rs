//! Event Query Language (Elastic's EQL): parser to [`ast::Query`], printer back to EQL, and
//! compilation of single-event conditions into [`compile::EqlExpr`] tests over the event reader's
//! [`crate::event::FieldPlan`] slots.
//!
//! Elasticsearch is the authority for both grammar and meaning (its `EqlBase.g4` and the
//! query translation in `x-pack/plugin/eql`); the Python `eql` package serves as a test oracle
//! only where it agrees (see `tests/eql_oracle.rs` and `testdata/eql/oracle_divergences.toml`).
//! Sequences are parsed here and their steps compiled ([`compile::compile_query`]), but their
//! evaluation over time belongs to the engine.

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
