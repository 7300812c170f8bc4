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
//! * [`exact`]: the exact pass, the same matcher fed in event-time order once the allowed
//!   lateness has passed, so that out-of-order arrivals find every in-order sequence.
//! * [`emit`]: a completed sequence becomes its building-block alerts and shell alert.

pub mod emit;
pub mod exact;
pub mod index;
pub mod spec;
pub mod state;

pub use exact::{ExactPass, RawEvent};
pub use index::{EqlHits, EqlIndex, EqlQuery};
pub use spec::SequenceSpec;
pub use state::{Completed, Ordinal, SeqInput, SequenceState, StoredEvent};
