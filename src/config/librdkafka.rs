//! The `[librdkafka*]` passthrough tables: values become librdkafka strings, `${VAR}` is
//! expanded from the environment, and keys the typed config owns are refused.

use std::collections::BTreeMap;

use super::{invalid, ConfigError};

/// librdkafka properties the typed config owns. Setting them in a `[librdkafka*]` table is an
/// error: either a typed key exists for them, or the delivery guarantee depends on their value.
const OWNED_KEYS: &[(&str, &str)] = &[
    ("bootstrap.servers", "use kafka.brokers"),
    ("metadata.broker.list", "use kafka.brokers"),
    ("group.id", "use kafka.group_id"),
    (
        "enable.auto.offset.store",
        "offsets are stored only after alerts are acknowledged",
    ),
    (
        "enable.auto.commit",
        "stored offsets are committed by auto-commit",
    ),
    (
        "enable.idempotence",
        "the alert producer is always idempotent",
    ),
    ("acks", "alerts are always written with acks=all"),
    (
        "request.required.acks",
        "alerts are always written with acks=all",
    ),
];

/// Converts one passthrough table to librdkafka strings, expanding `${VAR}`.
pub(super) fn rdkafka_table(
    table: &str,
    values: &BTreeMap<String, toml::Value>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, value) in values {
        let key = format!("{table}.\"{name}\"");
        if let Some((_, why)) = OWNED_KEYS.iter().find(|(owned, _)| owned == name) {
            return Err(invalid(key, format!("cannot be set here: {why}")));
        }
        let text = match value {
            toml::Value::String(s) => expand_env(s, env).map_err(|m| invalid(&key, m))?,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => return Err(invalid(key, "expected a string, number or boolean")),
        };
        out.insert(name.clone(), text);
    }
    Ok(out)
}

/// Expands `${VAR}` from the environment; `$$` is a literal `$`.
fn expand_env(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or("expected `}` closing `${`")?;
            let var = &body[..end];
            let value =
                env(var).ok_or_else(|| format!("environment variable `{var}` is not set"))?;
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}
