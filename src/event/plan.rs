//! Which fields of an event the loaded rules read, as a trie over dotted path segments.
//!
//! Elasticsearch treats `{"a.b": 1}` and `{"a": {"b": 1}}` as the same field `a.b`, and looks
//! through arrays of objects (`okta.target[].id` is the field `okta.target.id`). A trie over
//! segments lets the event reader follow both spellings with one lookup per key, and skip every
//! subtree no rule reads without decoding it.

/// Index of a field in the plan; the reader stores that field's values under it.
pub type SlotId = usize;

pub(crate) type NodeId = usize;

#[derive(Debug, Default, Clone)]
pub(crate) struct Node {
    pub children: Vec<(Box<[u8]>, NodeId)>,
    /// Values found exactly at this path go to this slot.
    pub slot: Option<SlotId>,
    /// Every scalar found anywhere below this node (at any depth, through arrays) also goes to
    /// this slot: how `flattened` fields are queried by their root name.
    pub leaves_slot: Option<SlotId>,
}

/// The set of fields to extract, built once for the whole rule set.
#[derive(Debug, Clone)]
pub struct FieldPlan {
    pub(crate) nodes: Vec<Node>,
    paths: Vec<String>,
    /// When set, the reader also records every scalar leaf of the document with its full dotted
    /// path (used only by wildcard field names and free-text queries, which need all fields).
    pub(crate) all_leaves: bool,
}

impl Default for FieldPlan {
    fn default() -> Self {
        FieldPlan {
            nodes: vec![Node::default()],
            paths: Vec::new(),
            all_leaves: false,
        }
    }
}

impl FieldPlan {
    pub fn new() -> Self {
        Self::default()
    }

    /// The slot holding the values of `path` (dotted), adding it on first use.
    pub fn field(&mut self, path: &str) -> SlotId {
        let node = self.node_for(path);
        if let Some(slot) = self.nodes[node].slot {
            return slot;
        }
        let slot = self.new_slot(path);
        self.nodes[node].slot = Some(slot);
        slot
    }

    /// The slot holding every scalar at or below `path` (for `flattened` roots).
    pub fn leaves_below(&mut self, path: &str) -> SlotId {
        let node = self.node_for(path);
        if let Some(slot) = self.nodes[node].leaves_slot {
            return slot;
        }
        let slot = self.new_slot(&format!("{path}.**"));
        self.nodes[node].leaves_slot = Some(slot);
        slot
    }

    /// Ask the reader to record all leaves with their paths.
    pub fn want_all_leaves(&mut self) {
        self.all_leaves = true;
    }

    pub fn slot_count(&self) -> usize {
        self.paths.len()
    }

    /// The dotted path a slot was created for (diagnostics).
    pub fn path(&self, slot: SlotId) -> &str {
        &self.paths[slot]
    }

    fn new_slot(&mut self, path: &str) -> SlotId {
        self.paths.push(path.to_owned());
        self.paths.len() - 1
    }

    fn node_for(&mut self, path: &str) -> NodeId {
        let mut node = 0;
        for segment in path.split('.') {
            node = match self.child(node, segment.as_bytes()) {
                Some(child) => child,
                None => {
                    self.nodes.push(Node::default());
                    let child = self.nodes.len() - 1;
                    self.nodes[node]
                        .children
                        .push((segment.as_bytes().into(), child));
                    child
                }
            };
        }
        node
    }

    /// The child of `node` named `segment`.
    #[inline]
    pub(crate) fn child(&self, node: NodeId, segment: &[u8]) -> Option<NodeId> {
        self.nodes[node]
            .children
            .iter()
            .find(|(name, _)| &**name == segment)
            .map(|(_, id)| *id)
    }

    /// Follows a JSON key, which may itself contain dots (`"event.action"`), from `node`.
    #[inline]
    pub(crate) fn follow_key(&self, node: NodeId, key: &[u8]) -> Option<NodeId> {
        if self.nodes[node].children.is_empty() {
            return None;
        }
        let mut current = node;
        for segment in key.split(|&b| b == b'.') {
            current = self.child(current, segment)?;
        }
        Some(current)
    }

    /// True when nothing below `node` is wanted (the reader can skip the subtree).
    #[inline]
    pub(crate) fn is_leaf(&self, node: NodeId) -> bool {
        self.nodes[node].children.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_keys_and_nested_objects_reach_the_same_slot() {
        let mut plan = FieldPlan::new();
        let slot = plan.field("event.action");
        let via_nested = plan
            .follow_key(0, b"event")
            .and_then(|n| plan.follow_key(n, b"action"));
        let via_dotted = plan.follow_key(0, b"event.action");
        assert_eq!(via_nested, via_dotted);
        assert_eq!(plan.nodes[via_dotted.unwrap_or(0)].slot, Some(slot));
        assert_eq!(plan.field("event.action"), slot, "same path, same slot");
        assert!(plan.follow_key(0, b"event.actions").is_none());
    }
}
