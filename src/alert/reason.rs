//! `kibana.alert.reason`: the one-sentence summary every rule type shares (Kibana's
//! `reason_formatters.ts` `buildReasonMessageUtil`, alert-schema §2.2).

use serde_json::{Map, Value};

use super::fields::get_path;

/// Builds the reason for `source` with the final (post-override) severity and rule name.
pub fn build_reason(source: &Map<String, Value>, severity: &str, rule_name: &str) -> String {
    let get = |path: &str| field_text(get_path(source, path));
    let category = get("event.category");
    let process = get("process.name");
    let parent = get("process.parent.name");
    let file = get("file.name");
    let src_ip = get("source.ip");
    let src_port = get("source.port");
    let dst_ip = get("destination.ip");
    let dst_port = get("destination.port");
    let user = get("user.name");
    let host = get("host.name");
    let of_interest = [
        &process, &parent, &file, &src_ip, &src_port, &dst_ip, &dst_port,
    ]
    .iter()
    .any(|v| v.is_some());

    let mut out = String::with_capacity(128);
    if let Some(c) = &category {
        out.push_str(c);
        out.push(' ');
    }
    out.push_str("event");
    if of_interest {
        out.push_str(" with");
    }
    if let Some(p) = &process {
        out.push_str(&format!(" process {p},"));
    }
    if let Some(p) = &parent {
        out.push_str(&format!(" parent process {p},"));
    }
    if let Some(f) = &file {
        out.push_str(&format!(" file {f},"));
    }
    for (word, ip, port) in [
        ("source", &src_ip, &src_port),
        ("destination", &dst_ip, &dst_port),
    ] {
        if let Some(ip) = ip {
            out.push_str(&format!(" {word} {ip}"));
        }
        // The port part is printed even without an address, as in Kibana's template.
        if let Some(port) = port {
            out.push_str(&format!(":{port},"));
        }
    }
    if let Some(u) = &user {
        out.push_str(&format!(" by {u}"));
    }
    if let Some(h) = &host {
        out.push_str(&format!(" on {h}"));
    }
    out.push_str(&format!(" created {severity} alert {rule_name}."));
    out
}

/// Kibana's `getFieldTemplateValue`: missing, empty, or a lone `"-"` is absent; arrays are joined
/// with `", "`. Numbers print as decimals (what versions reading the `fields` API show; current
/// Kibana drops plain numbers because they have no `length`).
fn field_text(v: Option<&Value>) -> Option<String> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match v? {
        Value::Array(items) => {
            if items.is_empty() || (items.len() == 1 && items[0] == "-") {
                return None;
            }
            let parts: Vec<String> = items.iter().filter_map(scalar).collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        Value::String(s) if s.is_empty() || s == "-" => None,
        other => scalar(other),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may panic on bad fixtures.
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reasons_match_kibana_examples() {
        // Cases from Kibana's reason_formatters.test.ts (alert-schema §2.2) and the §5 example.
        let all = json!({
            "event": {"category": "test"},
            "process": {"name": "doingThings.exe", "parent": {"name": "didThings.exe"}},
            "file": {"name": "sample"},
            "source": {"ip": "1.11.11.1", "port": 1234},
            "destination": {"ip": "9.99.99.9", "port": 6789},
            "user": {"name": "test-user"},
            "host": {"name": "host"}
        });
        let cases = [
            (
                all.clone(),
                "test event with process doingThings.exe, parent process didThings.exe, file \
                 sample, source 1.11.11.1:1234, destination 9.99.99.9:6789, by test-user on host \
                 created medium alert my-rule.",
            ),
            (
                json!({"event": {"category": "test"}, "user": {"name": "test-user"}}),
                "test event by test-user created medium alert my-rule.",
            ),
            (
                json!({"event": {"category": "test"}, "source": {"ip": "1.11.11.1"},
                       "destination": {"ip": "9.99.99.9", "port": 6789}}),
                "test event with source 1.11.11.1 destination 9.99.99.9:6789, created medium \
                 alert my-rule.",
            ),
            (json!({}), "event created medium alert my-rule."),
            (
                json!({"event.category": ["a", "b"], "host.name": "-", "user": {"name": ["-"]}}),
                "a, b event created medium alert my-rule.",
            ),
            (
                json!({"source": {"port": "53"}}),
                "event with:53, created medium alert my-rule.",
            ),
            (
                json!({"event": {"category": ["session"]}, "source": {"ip": "198.51.100.23"},
                       "user": {"name": "jane.admin"}}),
                "session event with source 198.51.100.23 by jane.admin created medium alert \
                 my-rule.",
            ),
        ];
        for (doc, want) in cases {
            assert_eq!(
                build_reason(doc.as_object().unwrap(), "medium", "my-rule"),
                want,
                "{doc}"
            );
        }
    }
}
