//! Renders a ticket like a live incremental-export record (zendesk-api.md §6.1): same keys,
//! same order, `generated_timestamp` last, ~1.5–2 KB, deterministic from its inputs.

use serde::Serialize;
use serde_json::{Value, json};

use super::iso8601;
use super::tickets::Version;

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct Source {
    from: Empty,
    to: Empty,
    rel: Option<()>,
}

#[derive(Serialize)]
struct Via {
    channel: &'static str,
    source: Source,
}

#[derive(Serialize)]
struct Field {
    id: u64,
    value: Value,
}

#[derive(Serialize)]
pub(crate) struct Ticket {
    url: String,
    id: u64,
    external_id: Option<String>,
    via: Via,
    created_at: String,
    updated_at: String,
    #[serde(rename = "type")]
    kind: Option<&'static str>,
    subject: String,
    raw_subject: String,
    description: String,
    priority: Option<&'static str>,
    status: &'static str,
    recipient: Option<String>,
    requester_id: u64,
    submitter_id: u64,
    assignee_id: Option<u64>,
    organization_id: Option<u64>,
    group_id: u64,
    collaborator_ids: Vec<u64>,
    follower_ids: Vec<u64>,
    email_cc_ids: Vec<u64>,
    forum_topic_id: Option<u64>,
    problem_id: Option<u64>,
    has_incidents: bool,
    is_public: bool,
    due_at: Option<String>,
    tags: Vec<&'static str>,
    custom_fields: Vec<Field>,
    satisfaction_rating: Value,
    sharing_agreement_ids: Vec<u64>,
    custom_status_id: u64,
    fields: Vec<Field>,
    followup_ids: Vec<u64>,
    ticket_form_id: u64,
    brand_id: u64,
    allow_channelback: bool,
    allow_attachments: bool,
    from_messaging_channel: bool,
    generated_timestamp: i64,
}

const SUBJECTS: [&str; 8] = [
    "Cannot log in after password reset",
    "Suspicious sign-in from new device",
    "Invoice shows the wrong VAT number",
    "API token stopped working this morning",
    "Please remove a former employee's access",
    "Two-factor codes are not arriving",
    "Export of last month's orders is empty",
    "Help, my printer is on fire!",
];
const CHANNELS: [&str; 5] = ["email", "web", "api", "mobile", "chat"];
const STATUSES: [&str; 6] = ["new", "open", "pending", "hold", "solved", "closed"];
const PRIORITIES: [Option<&str>; 5] = [
    None,
    Some("low"),
    Some("normal"),
    Some("high"),
    Some("urgent"),
];
const TYPES: [Option<&str>; 5] = [
    None,
    Some("question"),
    Some("incident"),
    Some("problem"),
    Some("task"),
];
const TAGS: [&str; 8] = [
    "security",
    "login",
    "billing",
    "vip",
    "api",
    "sso",
    "escalated",
    "enterprise",
];

/// A stable pseudo-random number per (id, salt) so every field varies but never changes.
pub(crate) fn mix(id: u64, salt: u64) -> u64 {
    let mut z = id.wrapping_add(salt.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) fn pick<T: Copy>(items: &[T], id: u64, salt: u64) -> T {
    items[(mix(id, salt) % items.len() as u64) as usize]
}

pub(crate) fn render(origin: &str, id: u64, v: &Version) -> Ticket {
    let subject = format!("{} (#{id})", pick(&SUBJECTS, id, 1));
    let requester_id = 360_000_000_000 + mix(id, 2) % 1_000_000;
    let agent = 360_786_000_000 + mix(id, 3) % 50;
    let status = if v.deleted {
        "deleted"
    } else {
        pick(&STATUSES, id, 4)
    };
    let description = format!(
        "Hi Team,\n\nSince this morning one of our users (requester {requester_id}) reports: \
         \"{subject}\". We checked the account settings and the audit trail but could not find \
         what changed. The problem affects the web app and the mobile app alike, and it blocks \
         the whole finance team from closing the month. Could you look into it and tell us \
         whether anything was changed on your side? Reference ticket {id}.\n\nThanks,\nThe \
         customer"
    );
    let mut tags: Vec<&str> = (0..3 + mix(id, 5) % 3)
        .map(|i| pick(&TAGS, id, 10 + i))
        .collect();
    tags.sort_unstable();
    tags.dedup();
    let custom_fields = || {
        vec![
            Field {
                id: 360_001_234_501,
                value: json!(format!("ACC-{:06}", mix(id, 6) % 1_000_000)),
            },
            Field {
                id: 360_001_234_502,
                value: json!(pick(&["eu", "us", "apac"], id, 7)),
            },
            Field {
                id: 360_001_234_503,
                value: json!(mix(id, 8).is_multiple_of(2)),
            },
            Field {
                id: 360_001_234_504,
                value: Value::Null,
            },
        ]
    };
    let satisfaction_rating = match mix(id, 9) % 4 {
        0 => json!({"score": "unoffered"}),
        1 => json!({"score": "offered"}),
        2 => json!({"id": 1_000 + id, "score": "good", "comment": "Great support!"}),
        _ => Value::Null,
    };
    let collaborators: Vec<u64> = (0..mix(id, 11) % 3).map(|i| requester_id + 1 + i).collect();
    Ticket {
        url: format!("{origin}/api/v2/tickets/{id}.json"),
        id,
        external_id: mix(id, 12)
            .is_multiple_of(3)
            .then(|| format!("ext-{:x}", mix(id, 13) % 0xffff_ffff)),
        via: Via {
            channel: pick(&CHANNELS, id, 14),
            source: Source {
                from: Empty {},
                to: Empty {},
                rel: None,
            },
        },
        created_at: iso8601::format(v.created_at),
        updated_at: iso8601::format(v.ts),
        kind: pick(&TYPES, id, 15),
        raw_subject: subject.clone(),
        subject,
        description,
        priority: pick(&PRIORITIES, id, 16),
        status,
        recipient: mix(id, 17)
            .is_multiple_of(2)
            .then(|| "support@example.zendesk.com".to_owned()),
        requester_id,
        submitter_id: requester_id,
        assignee_id: (status != "new").then_some(agent),
        organization_id: (!mix(id, 18).is_multiple_of(4))
            .then(|| 360_010_000_000 + mix(id, 19) % 500),
        group_id: 360_003_074_836 + mix(id, 20) % 4,
        follower_ids: collaborators.clone(),
        email_cc_ids: collaborators.iter().copied().take(1).collect(),
        collaborator_ids: collaborators,
        forum_topic_id: None,
        problem_id: None,
        has_incidents: false,
        is_public: true,
        due_at: None,
        tags,
        custom_fields: custom_fields(),
        satisfaction_rating,
        sharing_agreement_ids: Vec::new(),
        custom_status_id: 4_044_436 + mix(id, 21) % 5,
        fields: custom_fields(),
        followup_ids: Vec::new(),
        ticket_form_id: 360_000_084_116,
        brand_id: 360_000_358_316,
        allow_channelback: false,
        allow_attachments: true,
        from_messaging_channel: false,
        generated_timestamp: v.ts,
    }
}
