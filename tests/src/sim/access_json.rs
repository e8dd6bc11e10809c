//! Renders an access-log record in the documented shape (access-logs.md §4): the fields of
//! the REST table in its order, deterministic from the event's sequence number. GraphQL
//! records carry a `graphql` object and no `authorization_type`, as documented.

use serde::Serialize;

use super::access::Event;
use super::iso8601;
use super::ticket_json::{mix, pick};

#[derive(Serialize)]
pub(crate) struct AccessLog {
    id: String,
    timestamp: String,
    user_id: u64,
    ip_address: String,
    method: &'static str,
    url: String,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorization_type: Option<&'static str>,
    client: &'static str,
    graphql: Option<Graphql>,
    referer: Option<String>,
    bytes_sent: u64,
    category: &'static str,
    summary: &'static str,
}

#[derive(Serialize)]
struct Graphql {
    operation_name: &'static str,
    operation_type: &'static str,
    query: &'static str,
    variables: String,
}

/// What agents and admins read: (method, path pattern, category, summary).
const ACTIONS: [(&str, &str, &str, &str); 6] = [
    ("GET", "/api/v2/tickets/{}", "Tickets", "View ticket"),
    ("GET", "/api/v2/users/{}", "Users", "View user"),
    ("PUT", "/api/v2/tickets/{}", "Tickets", "Update ticket"),
    (
        "GET",
        "/api/v2/organizations/{}",
        "Organizations",
        "View organization",
    ),
    ("DELETE", "/api/v2/macros/{}", "Settings", "Delete macro"),
    ("POST", "/api/v2/search/export", "Search", "Search"),
];
const CLIENTS: [&str; 3] = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "python-requests/2.31.0",
];
const AUTH: [&str; 4] = ["session", "basic", "bearer", "session"];

pub(crate) fn render(id: &str, e: &Event) -> AccessLog {
    let n = e.seq;
    let target = 1 + mix(n, 60) % 100_000;
    let user_id = 360_786_000_000 + mix(n, 61) % 50;
    let ip_address = format!(
        "{}.{}",
        pick(&["192.0.2", "198.51.100", "203.0.113"], n, 62),
        mix(n, 63) % 254 + 1
    );
    // One record in seven is the agent workspace's own GraphQL traffic.
    if mix(n, 64).is_multiple_of(7) {
        return AccessLog {
            id: id.to_owned(),
            timestamp: iso8601::format(e.timestamp),
            user_id,
            ip_address,
            method: "POST",
            url: "/graphql".to_owned(),
            status: 200,
            authorization_type: None,
            client: CLIENTS[0],
            graphql: Some(Graphql {
                operation_name: "ticketSidebar",
                operation_type: "query",
                query: "query ticketSidebar($id: ID!) { ticket(id: $id) { id requester { id name } } }",
                variables: format!("{{\"id\":\"{target}\"}}"),
            }),
            referer: Some(format!("/agent/tickets/{target}")),
            bytes_sent: 900 + mix(n, 65) % 4000,
            category: "Tickets",
            summary: "View ticket",
        };
    }
    let (method, path, category, summary) = pick(&ACTIONS, n, 66);
    let auth = pick(&AUTH, n, 67);
    AccessLog {
        id: id.to_owned(),
        timestamp: iso8601::format(e.timestamp),
        user_id,
        ip_address,
        method,
        url: path.replace("{}", &target.to_string()),
        status: if mix(n, 68).is_multiple_of(20) {
            404
        } else {
            200
        },
        authorization_type: Some(auth),
        client: if auth == "session" {
            pick(&CLIENTS[..2], n, 69)
        } else {
            CLIENTS[2]
        },
        graphql: None,
        referer: (auth == "session").then(|| format!("/agent/tickets/{target}")),
        bytes_sent: 300 + mix(n, 65) % 20_000,
        category,
        summary,
    }
}
