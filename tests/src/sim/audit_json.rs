//! Renders an audit-log record like the live one in zendesk-api.md §1.1: same keys in the
//! same order, ~340–370 bytes, deterministic from `(id, created_at)`.

use serde::Serialize;

use super::iso8601;
use super::ticket_json::{mix, pick};

#[derive(Serialize)]
pub(crate) struct AuditLog {
    url: String,
    id: u64,
    action_label: &'static str,
    actor_id: i64,
    source_id: u64,
    source_type: &'static str,
    source_label: String,
    action: &'static str,
    change_description: String,
    ip_address: Option<String>,
    created_at: String,
    actor_name: &'static str,
}

/// The kinds of audited item, each with the actions that happen to it (a `login` is only
/// ever a user's, an attachment is only ever removed — by Zendesk itself).
const KINDS: [(&str, &[&str]); 6] = [
    ("user", &["login", "update", "create", "update", "login"]),
    ("rule", &["update", "create", "destroy"]),
    ("ticket", &["exported", "update", "destroy"]),
    ("apitoken", &["create", "destroy"]),
    ("zendesk/app_market/app", &["create", "update", "destroy"]),
    ("attachment", &["destroy"]),
];
const ACTORS: [(i64, &str); 5] = [
    (360_786_799_676, "Sameer Patel"),
    (360_839_922_496, "Jordan Okafor"),
    (361_204_118_003, "Mia Lindqvist"),
    (362_558_001_417, "Security Admin"),
    (363_000_120_988, "SIEM Bot"),
];
const RULES: [&str; 4] = [
    "Trigger: Notify requester",
    "Automation: Close solved tickets",
    "Macro: Downgrade and inform",
    "View: Unsolved tickets",
];
const APPS: [&str; 3] = ["Slack", "Jira Cloud", "Google SecOps"];
const USERS: [&str; 4] = ["John Doe", "Priya Raman", "Lucas Moreau", "Aiko Tanaka"];

fn label(action: &str) -> &'static str {
    match action {
        "create" => "Created",
        "destroy" => "Deleted",
        "exported" => "Exported",
        "login" => "Logged in",
        _ => "Updated",
    }
}

pub(crate) fn render(origin: &str, id: u64, created_at: i64) -> AuditLog {
    let (source_type, actions) = pick(&KINDS, id, 31);
    let action = pick(actions, id, 32);
    // Zendesk removes expired attachments and (by retention policy) tickets itself: the
    // system actor, with no IP address (as in the live record).
    let system = action == "destroy" && matches!(source_type, "attachment" | "ticket");
    let (actor_id, actor_name) = if system {
        (-1, "Zendesk")
    } else {
        pick(&ACTORS, id, 33)
    };
    let n = mix(id, 34);
    // A ticket's audited id is its (small, sequential) ticket number; the rest are 12 digits.
    let source_id = if source_type == "ticket" {
        1 + n % 100_000
    } else {
        360_000_000_000 + n % 1_000_000_000
    };
    let (source_label, change_description) = match (source_type, action) {
        ("user", "login") => (
            pick(&USERS, id, 35).to_owned(),
            format!("Signed in from {}", city(id)),
        ),
        ("user", "update") => (
            pick(&USERS, id, 35).to_owned(),
            "Role changed to End User".to_owned(),
        ),
        ("user", _) => (pick(&USERS, id, 35).to_owned(), "Role: Agent".to_owned()),
        ("rule", _) => (
            pick(&RULES, id, 36).to_owned(),
            "Actions: 1 added".to_owned(),
        ),
        ("ticket", "exported") => (format!("Ticket #{source_id}"), "Exported to CSV".to_owned()),
        ("ticket", "destroy") => (format!("Ticket #{source_id}"), String::new()),
        ("ticket", _) => (
            format!("Ticket #{source_id}"),
            "Status changed to Solved".to_owned(),
        ),
        ("apitoken", _) => (
            format!("API token #{}", n % 50),
            format!("SIEM export {:04x}", n % 0xffff),
        ),
        ("zendesk/app_market/app", _) => (
            pick(&APPS, id, 37).to_owned(),
            "Settings changed".to_owned(),
        ),
        _ => ("Attachment".to_owned(), String::new()),
    };
    AuditLog {
        url: format!("{origin}/api/v2/audit_logs/{id}.json"),
        id,
        action_label: label(action),
        actor_id,
        source_id,
        source_type,
        source_label,
        action,
        change_description,
        // Documentation ranges (RFC 5737): never a real address.
        ip_address: (!system).then(|| {
            let net = pick(&["192.0.2", "198.51.100", "203.0.113"], id, 38);
            format!("{net}.{}", mix(id, 39) % 254 + 1)
        }),
        created_at: iso8601::format(created_at),
        actor_name,
    }
}

fn city(id: u64) -> &'static str {
    pick(&["Berlin, DE", "Austin, US", "Osaka, JP"], id, 40)
}
