//! EQL rules on the stream: single-event EQL queries and sequences (design and the decisions
//! that follow Elasticsearch: `docs/eql.md`).
//!
//! * [`index`]: every EQL condition (event query, sequence step, `until`) indexed by anchor and
//!   evaluated on the event reader's view in the engine's single pass; it yields, per event,
//!   the single-event rules matched and, per sequence rule, the stages matched with their join
//!   keys ([`SeqInput`]).
//! * [`state`]: per rule and partition, the in-flight sequences (Elasticsearch's
//!   `SequenceMatcher`, one event at a time), kept in the stateful runtime's `RuleState` so they
//!   share its watermark, lateness, limits and snapshots.
//! * [`emit`]: a completed sequence becomes its building-block alerts and shell alert.

pub mod emit;
pub mod index;
pub mod spec;
pub mod state;

pub use index::{EqlHits, EqlIndex, EqlQuery};
pub use spec::SequenceSpec;
pub use state::{Completed, Ordinal, SeqInput, SequenceState, StoredEvent};
