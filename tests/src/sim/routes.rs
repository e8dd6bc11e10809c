//! The normal answer to a request (no faults): 404 off the API, else auth, then the endpoint.

use super::auth;
use super::state::Shared;
use super::wire::{RecordedRequest, SimResponse};
use super::{access_logs, audit_logs, export};

type Handler = fn(&Shared, &[(String, String)]) -> SimResponse;

pub(crate) fn route(shared: &Shared, req: &RecordedRequest) -> SimResponse {
    let path = req.path();
    if !path.starts_with("/api/") {
        return not_found();
    }
    if let Err(resp) = auth::check(shared, req.header("authorization"), path) {
        return resp;
    }
    // The `.json` suffix is optional on every endpoint (zendesk-api.md §0).
    let handler: Handler = match path.strip_suffix(".json").unwrap_or(path) {
        export::ENDPOINT => export::handle,
        audit_logs::ENDPOINT => audit_logs::handle,
        access_logs::ENDPOINT => access_logs::handle,
        _ => return not_found(),
    };
    if req.method != "GET" {
        return SimResponse::error(405, "MethodNotAllowed", "Only GET is allowed here")
            .with_header("allow", "GET");
    }
    handler(shared, &req.query())
}

fn not_found() -> SimResponse {
    SimResponse::error(404, "InvalidEndpoint", "Not found")
}
