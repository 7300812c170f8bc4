//! Deterministic alert ids (alert-schema §2.1): the same rule and the same event always give the
//! same id, so redeliveries and replays can be de-duplicated by key downstream.

use sha2::{Digest, Sha256};

/// Kibana writes the parent's `_version` into the hash input, but never asks for versions, so the
/// value is always JavaScript's `undefined`.
const UNDEFINED_VERSION: &str = "undefined";

/// Id of a query-rule / EQL single-event alert: lowercase hex SHA-256 of `parent index` ‖
/// `parent id` ‖ `undefined` ‖ `<space_id>:<rule uuid>` (Kibana's `generateId`).
pub fn query_alert_id(
    parent_index: &str,
    parent_id: &str,
    space_id: &str,
    rule_uuid: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(parent_index.as_bytes());
    h.update(parent_id.as_bytes());
    h.update(UNDEFINED_VERSION.as_bytes());
    h.update(space_id.as_bytes());
    h.update(b":");
    h.update(rule_uuid.as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_alert_schema_worked_example() {
        // alert-schema §5: logs-okta.system-default ‖ event.id ‖ undefined ‖ default:<rule uuid>.
        assert_eq!(
            query_alert_id(
                "logs-okta.system-default",
                "6b2f9d1e-4a7c-11f0-9e3d-5f2a1c8b7d40",
                "default",
                "dca758f5-0d6c-56e7-9296-dff9e4fab862"
            ),
            "8c946b36727dcedd943f65c13e1adae30871d648b51345e6ff2c62c07c8fa135"
        );
    }

    #[test]
    fn space_and_rule_change_the_id() {
        let base = query_alert_id("i", "e", "default", "r");
        assert_ne!(base, query_alert_id("i", "e", "other", "r"));
        assert_ne!(base, query_alert_id("i", "e", "default", "r2"));
        assert_eq!(base.len(), 64);
    }
}
