//! The compiled rule set and its evaluation on raw event bytes.
//!
//! `compile` gives KQL its Elasticsearch meaning; `predicate` holds the typed value tests;
//! `ruleset` indexes rules by the literal values they require so that an event only evaluates
//! rules that could match it.

pub mod compile;
pub mod dates;
pub mod features;
pub mod feedback;
pub mod index_pattern;
pub mod matcher;
pub mod predicate;
pub mod ruleset;
pub mod sequence;
pub mod stateful;
pub mod text;
pub mod wildcard;

/// Where an event came from. Used for the alert's ancestor index/id when the event itself
/// carries no `data_stream.*` / `event.id`, and for the index the rule's patterns are tested on.
#[derive(Debug, Clone, Default)]
pub struct EventOrigin<'a> {
    pub topic: Option<&'a str>,
    pub partition: i32,
    pub offset: i64,
    /// Index name to assume for events without `data_stream.*` fields (config / `--index`).
    pub default_index: Option<&'a str>,
}

/// One alert ready to be written: its deterministic id (also the Kafka key) and JSON bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertOut {
    pub id: String,
    pub rule_id: String,
    pub doc: Vec<u8>,
}

impl AlertOut {
    /// Serializes a built alert of `rule_id` (the one place alert documents become bytes).
    pub fn from_alert(rule_id: &str, alert: crate::alert::Alert) -> Result<AlertOut, EventError> {
        let doc = serde_json::to_vec(&alert.doc).map_err(|e| EventError::NotJson(e.to_string()))?;
        Ok(AlertOut {
            id: alert.id,
            rule_id: rule_id.to_string(),
            doc,
        })
    }
}

/// Why an input record could not be evaluated (it goes to the dead-letter path).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("not valid UTF-8 at byte {0}")]
    NotUtf8(usize),
    #[error("not valid JSON: {0}")]
    NotJson(String),
    #[error("JSON is not an object")]
    NotObject,
    #[error("JSON nested deeper than {0} levels")]
    TooDeep(usize),
}

impl EventError {
    /// A short, bounded label for metrics and dead-letter headers.
    pub fn reason(&self) -> &'static str {
        match self {
            EventError::NotUtf8(_) => "not_utf8",
            EventError::NotJson(_) => "not_json",
            EventError::NotObject => "not_object",
            EventError::TooDeep(_) => "too_deep",
        }
    }
}

/// A KQL query that cannot run: a syntax error or a compile (type) error, with its position.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    Parse(crate::kql::KqlError),
    #[error("{0}")]
    Compile(compile::CompileError),
}

impl QueryError {
    pub fn span(&self) -> crate::diag::Span {
        match self {
            QueryError::Parse(e) => e.span(),
            QueryError::Compile(e) => e.span,
        }
    }

    /// Valid KQL that rulestream does not evaluate yet (as opposed to a broken query).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, QueryError::Compile(e) if e.unsupported)
    }

    /// The message with the query line and a caret under the problem.
    pub fn render(&self, query: &str) -> String {
        crate::diag::render_caret(query, self.span(), &self.to_string())
    }
}

/// Parses and compiles one KQL query into `plan`.
pub fn compile_kql(
    query: &str,
    plan: &mut crate::event::FieldPlan,
) -> Result<compile::Expr, QueryError> {
    let ast = crate::kql::parse(query).map_err(QueryError::Parse)?;
    compile::compile(&ast, plan).map_err(QueryError::Compile)
}
