//! Raw Okta System Log `LogEvent` → the ECS document Elastic's Okta integration indexes
//! (data stream `okta.system`), as specified in `shared/docs/okta-ecs-mapping.md`.
//!
//! Design choice: we emulate the upstream Elasticsearch ingest pipeline step by step on a
//! collector-shaped document (`message`, `tags`, `@timestamp`, `_conf`) rather than building the
//! output field by field. Upstream quirks (first rename wins, the cleaner running before mapping,
//! failures that keep a partial document) then fall out of the same order instead of being
//! re-derived. `normalize` never panics and never drops an event: failures produce a document
//! with `event.kind: pipeline_error` and `error.message`, as Elasticsearch would index it.
//!
//! Idempotence contract: `detect(normalize(x, o)) == InputKind::Ecs` for every object `x`, and
//! `normalize` returns an `Ecs` input unchanged, so `normalize(normalize(x, o), o) ==
//! normalize(x, o)`. Use [`process`] with [`InputFormat::Okta`] to force mapping.

pub mod category;
mod config;
mod debug_data;
pub mod enrich;
mod normalize;
pub mod path;
mod target;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use category::{CategoryEntry, CategoryTable};
pub use config::NormalizeConfig;
pub use enrich::{Enrichment, EnrichmentConfig};

/// `ecs.version` written by every recent package version.
pub const ECS_VERSION: &str = "8.11.0";
/// `data_stream.dataset` / `event.dataset` of the integration.
pub const DATASET: &str = "okta.system";
/// Pipeline name used in `error.message`. Upstream's includes the package version
/// (`logs-okta.system-<version>`); rules never read it.
pub const PIPELINE_NAME: &str = "logs-okta.system";

#[derive(Debug, thiserror::Error)]
pub enum OktaError {
    #[error("cannot load the okta category table: {0}")]
    CategoryTable(String),
    #[error("cannot load enrichment data from {path}: {message}")]
    Enrichment { path: PathBuf, message: String },
    #[error("unknown input format {0:?}: expected auto, okta or ecs")]
    InputFormat(String),
}

/// A processor failure, rendered into `error.message` the way Elasticsearch's `on_failure`
/// template does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub processor: &'static str,
    pub tag: &'static str,
    pub pipeline: String,
    pub message: String,
}

impl Failure {
    pub(crate) fn new(processor: &'static str, tag: &'static str, message: String) -> Self {
        Failure {
            processor,
            tag,
            pipeline: PIPELINE_NAME.to_string(),
            message,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Processor '{}' with tag '{}' in pipeline '{}' failed with message '{}'",
            self.processor, self.tag, self.pipeline, self.message
        )
    }
}

/// How to normalize. Build with [`NormalizeOptions::new`] and adjust fields.
#[derive(Debug, Clone)]
pub struct NormalizeOptions {
    /// Processing time: `event.ingested` (whole seconds) and the `@timestamp` fallback when
    /// `published` cannot be parsed (the collector's read time upstream).
    pub now: DateTime<Utc>,
    /// Keep `event.original` (adds the collector tag `preserve_original_event`). Default false.
    pub preserve_original: bool,
    /// Non-flattened debugData mode (`_conf.remove_flattened_debug: true`). Default false; rules
    /// on `…debug_data.flattened.*` need the default.
    pub remove_flattened_debug: bool,
    /// `data_stream.namespace`. Default `"default"`.
    pub namespace: String,
    /// Collector tags after `preserve_original_event`. Default `["forwarded", "okta-system"]`,
    /// the integration's policy defaults.
    pub tags: Vec<String>,
    /// GeoIP/user-agent data; `None` leaves those fields absent.
    pub enrichment: Option<Arc<Enrichment>>,
    /// The event-type table of §6.2. Default: [`CategoryTable::builtin`].
    pub categories: Arc<CategoryTable>,
    /// Collector `okta_url` (newest package versions), turned into `host.name`. Default none.
    pub okta_url: Option<String>,
    /// `event.created`: when the record was read (e.g. the Kafka timestamp). Default none.
    pub created: Option<DateTime<Utc>>,
}

impl NormalizeOptions {
    pub fn new(now: DateTime<Utc>) -> Self {
        NormalizeOptions {
            now,
            preserve_original: false,
            remove_flattened_debug: false,
            namespace: "default".to_string(),
            tags: vec!["forwarded".to_string(), "okta-system".to_string()],
            enrichment: None,
            categories: builtin_categories(),
            okta_url: None,
            created: None,
        }
    }
}

/// The built-in table, parsed once per process (options are cheap to create per batch).
fn builtin_categories() -> Arc<CategoryTable> {
    static TABLE: std::sync::OnceLock<Arc<CategoryTable>> = std::sync::OnceLock::new();
    TABLE
        .get_or_init(|| Arc::new(CategoryTable::builtin()))
        .clone()
}

/// What an input document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A raw Okta `LogEvent`: has a top-level `eventType`, `uuid` or `published`.
    RawOkta,
    /// Anything else, in particular an already-normalized ECS document.
    Ecs,
}

/// Which input format the user declares (config / CLI `--input-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    /// Decide per document with [`detect`].
    #[default]
    Auto,
    /// Always map as a raw Okta event.
    Okta,
    /// Always pass through unchanged.
    Ecs,
}

impl FromStr for InputFormat {
    type Err = OktaError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(InputFormat::Auto),
            "okta" => Ok(InputFormat::Okta),
            "ecs" => Ok(InputFormat::Ecs),
            other => Err(OktaError::InputFormat(other.to_string())),
        }
    }
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InputFormat::Auto => "auto",
            InputFormat::Okta => "okta",
            InputFormat::Ecs => "ecs",
        })
    }
}

/// Raw Okta events carry `eventType`, `uuid` or `published` at the top level; the normalized
/// document never does (they move under `okta.*` / `@timestamp`).
pub fn detect(doc: &Map<String, Value>) -> InputKind {
    if ["eventType", "uuid", "published"]
        .iter()
        .any(|k| doc.contains_key(*k))
    {
        InputKind::RawOkta
    } else {
        InputKind::Ecs
    }
}

/// Normalizes a raw Okta event; returns an [`InputKind::Ecs`] input unchanged.
/// `event.original` is the compact JSON serialization of `raw`; use [`normalize_text`] to keep
/// the exact bytes received.
pub fn normalize(raw: Map<String, Value>, opts: &NormalizeOptions) -> Map<String, Value> {
    match detect(&raw) {
        InputKind::Ecs => raw,
        InputKind::RawOkta => normalize_raw(&raw, opts),
    }
}

/// Maps `raw` as an Okta event whatever [`detect`] says.
pub fn normalize_raw(raw: &Map<String, Value>, opts: &NormalizeOptions) -> Map<String, Value> {
    let text = serde_json::to_string(raw).unwrap_or_default();
    normalize_text(&text, opts)
}

/// Normalizes one LogEvent given as JSON text (a Kafka record value). The text becomes
/// `event.original` verbatim; text that is not JSON yields a `pipeline_error` document.
pub fn normalize_text(text: &str, opts: &NormalizeOptions) -> Map<String, Value> {
    normalize_collector_doc(normalize::envelope(text, opts), opts)
}

/// Runs the pipeline on a document shaped as the collector sends it (`message`, `tags`,
/// `@timestamp`, `_conf`, …), then adds the data-stream fields. Exposed for collector-level
/// edge cases such as a pre-set `event.original`.
pub fn normalize_collector_doc(
    doc: Map<String, Value>,
    opts: &NormalizeOptions,
) -> Map<String, Value> {
    normalize::run(doc, opts)
}

/// Applies the declared input format.
pub fn process(
    doc: Map<String, Value>,
    format: InputFormat,
    opts: &NormalizeOptions,
) -> Map<String, Value> {
    match format {
        InputFormat::Auto => normalize(doc, opts),
        InputFormat::Okta => normalize_raw(&doc, opts),
        InputFormat::Ecs => doc,
    }
}

/// The Elasticsearch `_id` upstream assigns: the Okta `uuid` (`okta.uuid`), making re-delivery
/// idempotent.
pub fn document_id(doc: &Map<String, Value>) -> Option<&str> {
    path::get_str(doc, "okta.uuid")
}

/// Whether the pipeline failed on this document (`event.kind: pipeline_error`).
pub fn is_pipeline_error(doc: &Map<String, Value>) -> bool {
    path::get_str(doc, "event.kind") == Some("pipeline_error")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn detect_keys_on_raw_okta_top_level_fields() {
        let cases = [
            (json!({"eventType": "x"}), InputKind::RawOkta),
            (json!({"uuid": null}), InputKind::RawOkta),
            (
                json!({"published": "2024-01-01T00:00:00Z"}),
                InputKind::RawOkta,
            ),
            (
                json!({"okta": {"event_type": "x"}, "event": {"action": "x"}}),
                InputKind::Ecs,
            ),
            (json!({}), InputKind::Ecs),
        ];
        for (doc, want) in cases {
            assert_eq!(detect(&obj(doc.clone())), want, "{doc}");
        }
    }

    #[test]
    fn options_can_be_shared_across_worker_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<NormalizeOptions>();
        assert_send_sync::<Enrichment>();
    }

    #[test]
    fn document_id_is_the_okta_uuid() {
        let opts = NormalizeOptions::new(Utc::now());
        let doc = normalize(obj(json!({"uuid": "abc", "eventType": "x"})), &opts);
        assert_eq!(document_id(&doc), Some("abc"));
        assert_eq!(path::get_str(&doc, "event.id"), Some("abc"));
    }
}
