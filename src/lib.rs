//! rulestream: Elastic detection rules evaluated on a stream of Okta System Log events.
//!
//! The crate is a library first so that the binary, the integration tests, the benches and the
//! fuzz targets all reach the same engine. Data flows
//! `rules` (TOML → rule definitions) → `kql` (query text → AST) → `engine` (AST → compiled,
//! indexed rule set) → `event` (raw JSON bytes → only the fields rules read) → `alert`
//! (rule + matched event → Elastic Security alert document) → `pipeline` (Kafka in and out).

pub mod alert;
pub mod cli;
pub mod config;
pub mod diag;
pub mod engine;
pub mod eql;
pub mod event;
pub mod kql;
pub mod metrics;
pub mod okta;
pub mod pipeline;
pub mod rules;
pub mod schema;
