//! Elastic detection rules (`elastic/detection-rules` TOML format) → [`Rule`] definitions.
//!
//! [`load_dirs`] reads whole folders (e.g. a clone's `rules/integrations/okta`) and reports every
//! bad file with `path:line:col` instead of stopping at the first; [`Rule`] is the typed rule the
//! engine compiles and the alert builder copies into `kibana.alert.rule.*`.

mod load;
mod model;
mod normalize;
mod sections;
mod table;
mod value;
mod version_lock;

pub use load::{load_dirs, parse_rule, LoadReport, RuleLoadError};
pub use model::*;
pub use normalize::{cleanup_whitespace, nested_normalize};
pub use value::toml_to_json;
pub use version_lock::{read_lock, VersionLock};
