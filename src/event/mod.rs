//! Reading events: raw JSON bytes in, only the fields the rules need out.
//!
//! [`plan::FieldPlan`] says which dotted fields are wanted (built once for the whole rule set);
//! [`scan::extract`] reads one event and returns an [`scan::EventView`] of those fields.

pub mod plan;
pub mod scan;

pub use plan::{FieldPlan, SlotId};
pub use scan::{extract, EventView, Extracted, Kind, RawValue, MAX_DEPTH};
