//! Kibana Query Language: lexer and parser producing [`ast::Query`]. Meaning is not decided
//! here but in `engine::compile`, which knows field types.

pub mod ast;
