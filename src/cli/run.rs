//! `rulestream run`: the Kafka stage with the rule engine plugged in.

use std::process::ExitCode;
use std::sync::Arc;

use crate::alert::AlertContext;
use crate::config::{RunArgs, Settings};
use crate::engine::ruleset::{Engine, EngineSettings, RuleOutcome};
use crate::pipeline::{self, EngineFactory};

/// Loads and compiles the rules `settings` names; reports every rule that does not run.
/// `None` when no rule runs (a stage that can never alert is a configuration mistake).
pub fn build_engine(settings: &Settings) -> Result<Engine, String> {
    if settings.rules.is_empty() {
        return Err("no rules: give --rules DIR or `rules = [...]` in the config file".into());
    }
    let report = crate::rules::load_dirs(&settings.rules);
    for error in &report.errors {
        tracing::error!(%error, "Rule file not loaded.");
    }
    let normalize = settings
        .okta
        .build(chrono::Utc::now())
        .map_err(|e| format!("okta: {e}"))?;
    if let Some(enrichment) = &normalize.enrichment {
        tracing::info!("{}", enrichment.describe());
    } else {
        tracing::info!("Okta enrichment: none configured; source.geo.*, source.as.* and user_agent.* of raw Okta events stay absent.");
    }
    let engine_settings = EngineSettings {
        alert: AlertContext {
            space_id: settings.alert.space_id.clone(),
            kibana_version: settings.alert.kibana_version.clone(),
            public_base_url: settings.alert.kibana_public_url.clone(),
            ..AlertContext::default()
        },
        input_format: settings.input_format,
        normalize,
    };
    let stateful = &settings.stateful;
    match &stateful.state_dir {
        Some(dir) => tracing::info!(state_dir = %dir.display(), "Stateful rules keep per-partition snapshots."),
        None => tracing::info!("Stateful rules keep their state in memory only (no stateful.state_dir): threshold counts and the new_terms history are lost on restart."),
    }
    let (engine, statuses) =
        Engine::with_stateful(report.rules, engine_settings, stateful.engine_settings());
    for status in &statuses {
        let path = status.rule.path.display();
        match &status.outcome {
            RuleOutcome::Ok => {}
            RuleOutcome::Unsupported(why) => {
                tracing::warn!(rule = %path, %why, "Rule does not run.")
            }
            RuleOutcome::Error {
                line,
                column,
                message,
            } => {
                tracing::error!(rule = %format!("{path}:{line}:{column}"), %message, "Rule is broken and does not run.")
            }
        }
    }
    if engine.rule_count() == 0 {
        return Err(format!(
            "none of the {} rules loaded from {:?} can run (see `rulestream check`)",
            statuses.len(),
            settings.rules
        ));
    }
    tracing::info!(
        rules = engine.rule_count(),
        evaluated_on_every_event = engine.unanchored_rule_count(),
        run_id = %engine.settings().alert.run_id,
        "Rules compiled."
    );
    Ok(engine)
}

pub fn run(args: RunArgs) -> ExitCode {
    let settings = match Settings::load(&args) {
        Ok(s) => s,
        Err(e) => return super::fail(2, e),
    };
    pipeline::init_tracing(settings.log_format);
    let engine = match build_engine(&settings) {
        Ok(engine) => Arc::new(engine),
        Err(e) => return super::fail(2, e),
    };
    match pipeline::run(settings, Arc::new(EngineFactory(engine))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "Stage stopped.");
            super::fail(1, format!("{e:#}"))
        }
    }
}
