//! The rule set: loaded rules compiled together into one [`QuerySet`], with what each rule
//! needs at match time (index patterns, alert template), and per-worker [`Evaluator`]s.
//!
//! Flow per event: (raw Okta JSON is normalized to ECS first) → one pass of the event reader
//! over the fields any rule reads → the anchor index picks candidate rules → each candidate's
//! index patterns and query are tested → only for matches is the whole event parsed and an
//! alert built.

mod eql;

use std::sync::Arc;

use eql::{add_eql_rules, compile_eql_rule, is_eql, stored_event};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::compile::{compile, CompileError};
use super::feedback::{self, FedAlert, FeedbackPlan};
use super::index_pattern::IndexPatterns;
use super::matcher::{QuerySet, Scratch};
use super::sequence::{EqlHits, EqlIndex};
use super::stateful::{
    RuleKind, RuleRef, RuleSpec, Runtime, StateError, StatefulSettings, StatefulStats,
    ThresholdInput, ThresholdValues,
};
use super::{AlertOut, EventError, EventOrigin};
use crate::alert::{ancestor_for, AlertContext, Ancestor, RuleTemplate};
use crate::event::{EventView, FieldPlan, SlotId};
use crate::kql;
use crate::okta::{self, InputFormat, NormalizeOptions};
use crate::rules::{Language, Rule, RuleType};

/// How the engine treats input and writes alerts.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub alert: AlertContext,
    /// `auto` normalizes raw Okta events and passes ECS documents through.
    pub input_format: InputFormat,
    /// Options for normalizing raw Okta events (enrichment, namespace); `now` is set per event.
    pub normalize: NormalizeOptions,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            alert: AlertContext::default(),
            input_format: InputFormat::Auto,
            normalize: NormalizeOptions::new(Utc::now()),
        }
    }
}

/// What became of one loaded rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOutcome {
    /// Compiled; it runs.
    Ok,
    /// Valid, but of a kind rulestream does not run yet (the reason says which).
    Unsupported(String),
    /// The rule's query is broken: where and why.
    Error {
        line: usize,
        column: usize,
        message: String,
    },
}

#[derive(Debug, Clone)]
pub struct RuleStatus {
    pub rule: Arc<Rule>,
    pub outcome: RuleOutcome,
}

struct CompiledRule {
    rule: Arc<Rule>,
    indices: IndexPatterns,
    template: RuleTemplate,
    /// Threshold / new_terms / suppression: what the stateful runtime needs; `None` for a
    /// plain query rule (one alert per match, no state).
    spec: Option<RuleSpec>,
    /// Threshold rules without suppression read their few fields from the event reader, so
    /// their matches (often many: broad queries) need no JSON parse.
    view: Option<ViewSlots>,
}

/// Slots of the fields a threshold rule reads.
struct ViewSlots {
    /// `timestamp_override` (if any), then `@timestamp`.
    time: Vec<SlotId>,
    group: Vec<SlotId>,
    card: Option<SlotId>,
}

impl ViewSlots {
    fn new(spec: &RuleSpec, plan: &mut FieldPlan) -> Option<ViewSlots> {
        let RuleKind::Threshold(th) = &spec.kind else {
            return None;
        };
        if spec.suppression.is_some() {
            return None;
        }
        let mut time: Vec<SlotId> = spec.time_field.iter().map(|f| plan.field(f)).collect();
        time.push(plan.field("@timestamp"));
        Some(ViewSlots {
            time,
            group: th.fields.iter().map(|f| plan.field(f)).collect(),
            card: th.cardinality.as_ref().map(|(f, _)| plan.field(f)),
        })
    }

    /// The rule's inputs from `view`; values as `stateful::field_terms` gives them.
    fn read(&self, view: &EventView<'_>) -> ThresholdInput {
        let terms = |slot: SlotId| {
            let mut v: Vec<String> = view
                .values(slot)
                .iter()
                .filter(|r| r.kind != crate::event::Kind::Object)
                .map(|r| view.text(r).to_string())
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let time_ms = self.time.iter().find_map(|slot| {
            let first = view.values(*slot).first()?;
            let text = Value::String(view.text(first).to_string());
            crate::alert::parse_json_date(&text).map(|t| t.timestamp_millis())
        });
        ThresholdInput {
            time_ms,
            values: ThresholdValues {
                lists: self.group.iter().map(|s| terms(*s)).collect(),
                card: self.card.map(terms).unwrap_or_default(),
            },
        }
    }
}

/// All runnable rules, compiled together. Shared by all workers (`Arc<Engine>`).
pub struct Engine {
    queries: QuerySet,
    rules: Vec<CompiledRule>,
    data_stream: [SlotId; 3],
    raw_okta_markers: [SlotId; 3],
    settings: EngineSettings,
    stateful: StatefulSettings,
    /// Whether any rule keeps state (else evaluators skip the per-event offset bookkeeping).
    has_stateful: bool,
    /// The EQL rules' conditions (their rules follow the KQL rules in `rules`).
    eql: EqlIndex,
    /// Rules that read alerts (`.alerts-security.*`); `None` when none does (no feedback work).
    feedback: Option<FeedbackPlan>,
}

impl Engine {
    /// Compiles every KQL query, threshold and new_terms rule and every EQL rule; the others
    /// are reported as unsupported. Broken rules are reported and left out; they never stop the others.
    /// Stateful rules get [`StatefulSettings::default`] (in memory, learning on).
    pub fn new(rules: Vec<Rule>, settings: EngineSettings) -> (Engine, Vec<RuleStatus>) {
        Engine::with_stateful(rules, settings, StatefulSettings::default())
    }

    /// [`Engine::new`] with the settings of threshold / new_terms rules and suppression.
    pub fn with_stateful(
        rules: Vec<Rule>,
        settings: EngineSettings,
        stateful: StatefulSettings,
    ) -> (Engine, Vec<RuleStatus>) {
        let (mut plan, data_stream, raw_okta_markers) = base_plan();
        let preferred = plan.field("event.action");
        let mut exprs = Vec::new();
        let mut compiled = Vec::new();
        let mut statuses = Vec::new();
        let mut eql_rules = Vec::new();
        for rule in rules {
            let rule = Arc::new(rule);
            if is_eql(&rule) {
                let outcome = match compile_eql_rule(&rule, &mut plan) {
                    Ok(query) => {
                        eql_rules.push((Arc::clone(&rule), query));
                        RuleOutcome::Ok
                    }
                    Err(outcome) => outcome,
                };
                statuses.push(RuleStatus { rule, outcome });
                continue;
            }
            let outcome = match compile_rule(&rule, &mut plan) {
                Ok((expr, spec)) => {
                    exprs.push(expr);
                    let view = spec.as_ref().and_then(|s| ViewSlots::new(s, &mut plan));
                    compiled.push(CompiledRule {
                        view,
                        indices: IndexPatterns::new(&rule.index),
                        template: RuleTemplate::new(&rule, &settings.alert),
                        rule: Arc::clone(&rule),
                        spec,
                    });
                    RuleOutcome::Ok
                }
                Err(outcome) => outcome,
            };
            statuses.push(RuleStatus { rule, outcome });
        }
        let eql = add_eql_rules(eql_rules, &mut compiled, &mut plan, &settings, preferred);
        let queries = QuerySet::new(plan, exprs, Some(preferred));
        let has_stateful = compiled.iter().any(|r| r.spec.is_some());
        let feedback = FeedbackPlan::new(
            compiled.iter().map(|r| feedback::RuleInfo {
                patterns: &r.indices,
                template: &r.template,
                stateful: r.spec.is_some(),
            }),
            &settings.alert.space_id,
        );
        (
            Engine {
                queries,
                rules: compiled,
                data_stream,
                raw_okta_markers,
                settings,
                stateful,
                has_stateful,
                eql,
                feedback,
            },
            statuses,
        )
    }

    /// An engine for one bare KQL query (no rule, no index patterns), for `rulestream filter`:
    /// the same reading, normalization and semantics as rules get.
    pub fn for_query(query: &str, settings: EngineSettings) -> Result<Engine, super::QueryError> {
        let (mut plan, data_stream, raw_okta_markers) = base_plan();
        let expr = super::compile_kql(query, &mut plan)?;
        let queries = QuerySet::new(plan, vec![expr], None);
        Ok(Engine {
            queries,
            rules: Vec::new(),
            data_stream,
            raw_okta_markers,
            settings,
            stateful: StatefulSettings::default(),
            has_stateful: false,
            eql: EqlIndex::default(),
            feedback: None,
        })
    }

    /// Number of rules that run.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Rules evaluated on every event because their query pins no `event.action`-like value.
    pub fn unanchored_rule_count(&self) -> usize {
        self.queries.unanchored_count()
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// Whether any rule keeps state (threshold, new_terms, suppression, EQL sequences).
    pub fn has_stateful_rules(&self) -> bool {
        self.has_stateful
    }

    /// How many rules read alerts (their patterns reach `.alerts-security.alerts-<space>`):
    /// with none, alerts are never fed back (see [`super::feedback`]).
    pub fn alert_reader_count(&self) -> usize {
        self.feedback.as_ref().map_or(0, FeedbackPlan::reader_count)
    }

    /// A per-worker evaluator with its own buffers. When the state directory cannot be opened
    /// the evaluator keeps state in memory only (logged); use [`Engine::try_evaluator`] to
    /// fail instead.
    pub fn evaluator(self: &Arc<Self>) -> Evaluator {
        self.try_evaluator().unwrap_or_else(|error| {
            tracing::error!(%error, "Stateful rules keep their state in memory only.");
            let settings = StatefulSettings {
                state_dir: None,
                ..self.stateful.clone()
            };
            self.evaluator_with(Runtime::new(settings).expect("no state directory to open"))
        })
    }

    /// A per-worker evaluator; fails when the state directory cannot be opened.
    pub fn try_evaluator(self: &Arc<Self>) -> Result<Evaluator, StateError> {
        Ok(self.evaluator_with(Runtime::new(self.stateful.clone())?))
    }

    fn evaluator_with(self: &Arc<Self>, runtime: Runtime) -> Evaluator {
        Evaluator {
            engine: Arc::clone(self),
            scratch: Scratch::new(),
            matched: Vec::new(),
            normalized: Vec::new(),
            normalize: self.settings.normalize.clone(),
            index: String::new(),
            runtime,
            threshold_inputs: Vec::new(),
            eql_hits: EqlHits::default(),
            eql_candidates: Vec::new(),
            part: None,
        }
    }
}

/// The fields every engine reads whatever its rules: the data stream (for index patterns) and
/// the top-level keys that only raw Okta System Log events have (to detect them).
fn base_plan() -> (FieldPlan, [SlotId; 3], [SlotId; 3]) {
    let mut plan = FieldPlan::new();
    let data_stream = [
        "data_stream.type",
        "data_stream.dataset",
        "data_stream.namespace",
    ]
    .map(|f| plan.field(f));
    let raw_okta_markers = ["eventType", "published", "uuid"].map(|f| plan.field(f));
    (plan, data_stream, raw_okta_markers)
}

/// The rule's compiled query and stateful part, or why it does not run.
fn compile_rule(
    rule: &Rule,
    plan: &mut FieldPlan,
) -> Result<(super::compile::Expr, Option<RuleSpec>), RuleOutcome> {
    if let Some(why) = super::features::unsupported_setting(rule) {
        return Err(RuleOutcome::Unsupported(why));
    }
    match (&rule.rule_type, &rule.language) {
        (RuleType::Query | RuleType::Threshold | RuleType::NewTerms, Language::Kuery) => {}
        (RuleType::Query | RuleType::Threshold | RuleType::NewTerms, language) => {
            return Err(RuleOutcome::Unsupported(format!(
                "query language {language} (only kuery runs)"
            )))
        }
        (other, _) => {
            return Err(RuleOutcome::Unsupported(format!(
                "{other} rules do not run yet"
            )))
        }
    }
    let spec = RuleSpec::from_rule(rule).map_err(RuleOutcome::Unsupported)?;
    let Some(query) = rule.query.as_deref() else {
        return Err(error_at(rule, 0, "query rule has no `query`".into()));
    };
    let ast = kql::parse(query).map_err(|e| error_at(rule, e.span().start, e.to_string()))?;
    let expr = compile(&ast, plan).map_err(|e: CompileError| {
        if e.unsupported {
            RuleOutcome::Unsupported(e.message)
        } else {
            error_at(rule, e.span.start, e.message)
        }
    })?;
    Ok((expr, spec))
}

fn error_at(rule: &Rule, offset_in_query: usize, message: String) -> RuleOutcome {
    let (line, column) = rule.query_position(offset_in_query);
    RuleOutcome::Error {
        line,
        column,
        message,
    }
}

/// Evaluates events for one worker thread.
pub struct Evaluator {
    engine: Arc<Engine>,
    scratch: Scratch,
    matched: Vec<usize>,
    normalized: Vec<u8>,
    /// This worker's copy of the normalization options (only `now` changes per event).
    normalize: NormalizeOptions,
    /// The current event's index name (reused buffer).
    index: String,
    /// State of this evaluator's partitions for threshold / new_terms / suppression.
    runtime: Runtime,
    /// Matches of threshold rules with their inputs read from the event (no parse needed).
    threshold_inputs: Vec<(usize, ThresholdInput)>,
    /// What the current event matched of the EQL rules.
    eql_hits: EqlHits,
    eql_candidates: Vec<u32>,
    /// The current event's index name for EQL rules' index patterns (reused buffer).

    /// Stateful partition slot of the current input event, for the alerts fed back from it.
    part: Option<usize>,
}

impl Evaluator {
    /// Re-emits suppressed alerts that absorbed events since they were last sent (see
    /// [`Runtime::flush`]); call at the end of input, on a timer and at shutdown.
    pub fn flush(&mut self, now: DateTime<Utc>, out: &mut Vec<AlertOut>) -> Result<(), EventError> {
        self.runtime.flush(now, out)
    }

    /// The stateful runtime: snapshots, checkpoints, counters.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub fn runtime_mut(&mut self) -> &mut Runtime {
        &mut self.runtime
    }

    /// Counters of late, replayed, evicted … events of stateful rules.
    pub fn stateful_stats(&self) -> &StatefulStats {
        self.runtime.stats()
    }

    /// Whether the event matches any query (for `filter`); nothing is built.
    pub fn matches(&mut self, raw: &[u8], origin: &EventOrigin<'_>) -> Result<bool, EventError> {
        self.read(raw, origin, Utc::now(), None)?;
        Ok(!self.matched.is_empty())
    }

    /// Evaluates one event and appends an alert per matching rule to `out`.
    pub fn evaluate(
        &mut self,
        raw: &[u8],
        origin: &EventOrigin<'_>,
        out: &mut Vec<AlertOut>,
    ) -> Result<(), EventError> {
        self.evaluate_at(raw, origin, Utc::now(), out)
    }

    /// [`Evaluator::evaluate`] with the processing time given (tests, replays): it is the
    /// alert-creation time and, for raw Okta input, `event.ingested`.
    pub fn evaluate_at(
        &mut self,
        raw: &[u8],
        origin: &EventOrigin<'_>,
        now: DateTime<Utc>,
        out: &mut Vec<AlertOut>,
    ) -> Result<(), EventError> {
        let first = out.len();
        self.read(raw, origin, now, Some(out))?;
        // Alerts on alerts: only when some rule reads alerts and this event alerted.
        if self.engine.feedback.is_some() && out.len() > first {
            let engine = Arc::clone(&self.engine);
            if let Some(plan) = &engine.feedback {
                let part = self.part;
                feedback::offer(plan, first, part, out, |doc, fed, out| {
                    self.run(doc, origin, now, true, Some(out), Some(fed))
                        .map(|_| ())
                });
            }
        }
        Ok(())
    }

    /// Reads (normalizing raw Okta input first), matches, and builds alerts into `out` if given.
    fn read(
        &mut self,
        raw: &[u8],
        origin: &EventOrigin<'_>,
        now: DateTime<Utc>,
        out: Option<&mut Vec<AlertOut>>,
    ) -> Result<(), EventError> {
        let format = self.engine.settings.input_format;
        match self.run(raw, origin, now, format != InputFormat::Okta, out, None)? {
            Reading::Done(()) => Ok(()),
            Reading::RawOkta(out) => {
                let mut buf = std::mem::take(&mut self.normalized);
                self.normalize.now = now;
                let result = normalize_into(raw, &self.normalize, &mut buf)
                    .and_then(|()| self.run(&buf, origin, now, true, out, None).map(|_| ()));
                self.normalized = buf;
                result
            }
        }
    }

    /// One pass over `input`. With `as_ecs` false, or when the event turns out to be raw Okta
    /// under `auto`, stops after reading and asks for normalization instead. `fed`: the input
    /// is an alert fed back from the current event (only rules reading alerts see it).
    fn run<'o>(
        &mut self,
        input: &[u8],
        origin: &EventOrigin<'_>,
        now: DateTime<Utc>,
        as_ecs: bool,
        out: Option<&'o mut Vec<AlertOut>>,
        fed: Option<&FedAlert>,
    ) -> Result<Reading<'o>, EventError> {
        let engine = &*self.engine;
        let auto = engine.settings.input_format == InputFormat::Auto;
        let matched = &mut self.matched;
        matched.clear();
        let inputs = &mut self.threshold_inputs;
        inputs.clear();
        let building = out.is_some();
        // The event's index name, computed on the first candidate rule (KQL or EQL) only.
        let index = std::cell::RefCell::new(EventIndex {
            known: None,
            buf: &mut self.index,
        });
        let eql_hits = &mut self.eql_hits;
        eql_hits.clear();
        let eql_candidates = &mut self.eql_candidates;
        // Sequences waiting for a missing-event decision are decided by event time.
        let tick_after = if building {
            self.runtime.sequence_tick_after()
        } else {
            None
        };
        let proceed = engine.queries.run(
            input,
            // An alert's `data_stream.*` are its source's, not a data stream it is in.
            origin.default_index.filter(|_| fed.is_none()),
            &mut self.scratch,
            |view| {
                let pass = fed.is_some() || (as_ecs && !(auto && engine.is_raw_okta(view)));
                if pass && !engine.eql.is_empty() {
                    let admit =
                        |r: usize| engine.admits(r, view, origin, fed, &mut index.borrow_mut());
                    engine
                        .eql
                        .run(view, admit, tick_after, eql_candidates, eql_hits);
                }
                pass
            },
            |i, view| {
                if engine.rules.get(i).is_none() {
                    return true;
                }
                engine.admits(i, view, origin, fed, &mut index.borrow_mut())
            },
            |i, view| match engine.rules.get(i).and_then(|r| r.view.as_ref()) {
                Some(slots) if building => inputs.push((i, slots.read(view))),
                _ => matched.push(i),
            },
        )?;
        if !proceed {
            return Ok(Reading::RawOkta(out));
        }
        // Single-event EQL rules alert like query rules.
        matched.extend_from_slice(&self.eql_hits.events);
        let Some(out) = out else {
            return Ok(Reading::Done(()));
        };
        // Every event moves its partition's offset (replays are recognized by it), matched
        // or not; `None` = a replayed event, which stateful rules skip.
        let part = match fed {
            // A fed-back alert belongs to its event's partition slot and offset (no `begin`).
            Some(fed) => fed.part,
            None if engine.has_stateful => self.runtime.begin(origin),
            None => None,
        };
        if fed.is_none() {
            self.part = part;
        }
        if let Some(part) = part {
            for (i, input) in self.threshold_inputs.drain(..) {
                let rule = &engine.rules[i];
                if let Some(spec) = &rule.spec {
                    let r = RuleRef {
                        rule: &rule.rule,
                        spec,
                        template: &rule.template,
                    };
                    self.runtime.on_threshold_match(part, r, input, now, out)?;
                }
            }
            // One copy of the event for every sequence rule that keeps it.
            let shared = std::cell::OnceCell::new();
            for (i, seq_input) in self.eql_hits.sequences.drain(..) {
                let Some(rule) = engine.rules.get(i) else {
                    continue;
                };
                if let Some(spec) = &rule.spec {
                    let r = RuleRef {
                        rule: &rule.rule,
                        spec,
                        template: &rule.template,
                    };
                    let parent = fed.map(|f| &f.ancestor);
                    let stored = || {
                        shared
                            .get_or_init(|| stored_event(input, origin, parent))
                            .clone()
                    };
                    let finish =
                        |events: &[_], batch: &mut [_]| engine.rebase_fed_events(events, batch);
                    self.runtime
                        .on_sequence(part, r, seq_input, stored, finish, now, out)?;
                }
            }
        }
        if !matched.is_empty() {
            let parent = fed.map(|f| &f.ancestor);
            engine.build_alerts(
                input,
                origin,
                parent,
                matched,
                now,
                out,
                &mut self.runtime,
                part,
            )?;
        }
        Ok(Reading::Done(()))
    }
}

/// The index of the event being read: computed on the first rule that needs it, into the
/// evaluator's reused buffer (`known`: `None` not yet, `Some(false)` unknown).
struct EventIndex<'b> {
    known: Option<bool>,
    buf: &'b mut String,
}

/// The outcome of one reading pass: done, or the event is raw Okta and must be normalized
/// first (the output buffer is handed back for the second pass).
enum Reading<'o> {
    Done(()),
    RawOkta(Option<&'o mut Vec<AlertOut>>),
}

impl Engine {
    /// A raw Okta System Log event has top-level `eventType`, `published` or `uuid`; ECS
    /// documents have none of them.
    fn is_raw_okta(&self, view: &EventView<'_>) -> bool {
        self.raw_okta_markers
            .iter()
            .any(|slot| !view.values(*slot).is_empty())
    }

    /// Whether rule `i` sees the event: a fed-back alert is seen by the rules reading alerts;
    /// any other event by the rules whose index patterns admit its index (computed once).
    fn admits(
        &self,
        i: usize,
        view: &EventView<'_>,
        origin: &EventOrigin<'_>,
        fed: Option<&FedAlert>,
        index: &mut EventIndex<'_>,
    ) -> bool {
        if let Some(fed) = fed {
            return self.feedback.as_ref().is_some_and(|p| p.admits(i, fed));
        }
        let known = *index
            .known
            .get_or_insert_with(|| self.event_index(view, origin.default_index, index.buf));
        self.rules
            .get(i)
            .is_some_and(|rule| rule.indices.admits(known.then_some(index.buf.as_str())))
    }

    /// Writes the index an event is taken to be in (see [`super::index_pattern`]) into `buf`;
    /// false when it is unknown.
    fn event_index(
        &self,
        view: &EventView<'_>,
        default_index: Option<&str>,
        buf: &mut String,
    ) -> bool {
        let part = |slot: SlotId| view.values(slot).first().map(|v| view.text(v));
        buf.clear();
        match (
            part(self.data_stream[0]),
            part(self.data_stream[1]),
            default_index,
        ) {
            (Some(ty), Some(dataset), _) => {
                let namespace = part(self.data_stream[2]).unwrap_or("default");
                for piece in [ty, "-", dataset, "-", namespace] {
                    buf.push_str(piece);
                }
                true
            }
            (_, _, Some(default)) => {
                buf.push_str(default);
                true
            }
            _ => false,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn build_alerts(
        &self,
        input: &[u8],
        origin: &EventOrigin<'_>,
        parent: Option<&Ancestor>,
        matched: &[usize],
        now: DateTime<Utc>,
        out: &mut Vec<AlertOut>,
        runtime: &mut Runtime,
        part: Option<usize>,
    ) -> Result<(), EventError> {
        // Only matching events are parsed whole (about 1% of a typical stream).
        let event: Map<String, Value> =
            serde_json::from_slice(input).map_err(|e| EventError::NotJson(e.to_string()))?;
        let origin_ref = origin.topic.map(|t| (t, origin.partition, origin.offset));
        let ancestor = match parent {
            Some(parent) => parent.clone(),
            None => ancestor_for(&event, origin.default_index, origin_ref),
        };
        for &i in matched {
            let rule = &self.rules[i];
            if let Some(spec) = &rule.spec {
                if let Some(part) = part {
                    let r = RuleRef {
                        rule: &rule.rule,
                        spec,
                        template: &rule.template,
                    };
                    runtime.on_match(part, r, &event, &ancestor, now, out)?;
                }
                continue;
            }
            let alert = rule.template.build(&event, &ancestor, now);
            out.push(AlertOut::from_alert(&rule.rule.rule_id, alert)?);
        }
        Ok(())
    }
}

/// Normalizes a raw Okta event (already validated by the reader) into `buf` as ECS JSON. The
/// input text becomes `event.original` verbatim when the options keep it.
fn normalize_into(
    raw: &[u8],
    options: &NormalizeOptions,
    buf: &mut Vec<u8>,
) -> Result<(), EventError> {
    let text = std::str::from_utf8(raw).map_err(|e| EventError::NotUtf8(e.valid_up_to()))?;
    let normalized = okta::normalize_text(text, options);
    buf.clear();
    serde_json::to_writer(&mut *buf, &normalized).map_err(|e| EventError::NotJson(e.to_string()))
}
