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

/// Kibana's `generateAlertId` (`build_alert.ts`), used for the EQL sequence shell: lowercase hex
/// SHA-256 of every ancestor's `id` ‖ `index`, in order, then the rule uuid. No space id and no
/// `undefined` version: unlike [`query_alert_id`], this formula has neither.
pub fn ancestors_alert_id<'a>(
    ancestors: impl IntoIterator<Item = (&'a str, &'a str)>,
    rule_uuid: &str,
) -> String {
    let mut h = Sha256::new();
    for (id, index) in ancestors {
        h.update(id.as_bytes());
        h.update(index.as_bytes());
    }
    h.update(rule_uuid.as_bytes());
    hex::encode(h.finalize())
}

/// Kibana's `generateBuildingBlockIds` (`generate_building_block_ids.ts`): the ids of the
/// building blocks of one EQL sequence, given each block's ancestors `(id, index)` (one raw event
/// each). base = for each block in order: its ancestors' `id` ‖ `index`, then the rule uuid (so
/// the rule uuid is repeated once per block); block i = SHA-256 hex of base ‖ decimal i. Every id
/// depends on the whole sequence, so an event that is part of two sequences gets two blocks.
pub fn building_block_ids<'a>(
    block_ancestors: impl IntoIterator<Item = (&'a str, &'a str)>,
    rule_uuid: &str,
) -> Vec<String> {
    let mut base = Sha256::new();
    let mut count = 0usize;
    for (id, index) in block_ancestors {
        base.update(id.as_bytes());
        base.update(index.as_bytes());
        base.update(rule_uuid.as_bytes());
        count += 1;
    }
    (0..count)
        .map(|i| {
            let mut h = base.clone();
            h.update(i.to_string().as_bytes());
            hex::encode(h.finalize())
        })
        .collect()
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
    /// Kibana's own vectors (`build_alert_group_from_sequence.test.ts`): events
    /// `d5e8eb51-…`, `619389b2-…` in index `myFakeSignalIndex`, rule `sampleRuleGuid`; the
    /// expected block and shell ids appear in the test's `kibana.alert.url` assertions.
    #[test]
    fn sequence_ids_match_kibana_test_vectors() {
        let rule = "04128c15-0d1b-4716-a4c5-46997ac7f3bd";
        let index = "myFakeSignalIndex";
        let events = [
            "d5e8eb51-a6a0-456d-8a15-4b79bfec3d71",
            "619389b2-b077-400e-b40b-abde20d675d3",
        ];
        let blocks = building_block_ids(events.iter().map(|e| (*e, index)), rule);
        assert_eq!(
            blocks,
            [
                "f2db3574eaf8450e3f4d1cf4f416d70b110b035ae0a7a00026242df07f0a6c90",
                "1dbc416333244efbda833832eb83f13ea5d980a33c2f981ca8d2b35d82a045da"
            ]
        );
        // Shell ancestors: per event, the event then its block (block index "").
        let ancestors = [
            (events[0], index),
            (blocks[0].as_str(), ""),
            (events[1], index),
            (blocks[1].as_str(), ""),
        ];
        assert_eq!(
            ancestors_alert_id(ancestors, rule),
            "1b7d06954e74257140f3bf73f139078483f9658fe829fd806cc307fc0388fb23"
        );
    }
}
