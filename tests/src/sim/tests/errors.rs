//! Authentication, parameter validation and routing errors.

use super::*;

const COULDNT: &str = r#"{"error":"Couldn't authenticate you"}"#;
const INVALID_TOKEN: &str = r#"{"error":"invalid_token","error_description":"The access token provided is expired, revoked, malformed or invalid for other reasons."}"#;

fn raw(sim: &Simulator, path: &str, headers: &[(&str, &str)]) -> RawResponse {
    raw_http::get(&sim.base_url(), path, headers).expect("response")
}

#[test]
fn bad_basic_credentials_get_couldnt_authenticate_you() {
    let sim = sim();
    let c = sim.config().clone();
    let wrong_token = raw_http::basic_auth(&c.email, "wrong");
    let wrong_email = raw_http::basic_auth("other@example.com", &c.api_token);
    // Password-style basic auth (no "/token") with the right token is still wrong.
    let password_style = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{}:{}", c.email, c.api_token)
        )
    );
    let cases: [&[(&str, &str)]; 5] = [
        &[],
        &[("Authorization", &wrong_token)],
        &[("Authorization", &wrong_email)],
        &[("Authorization", &password_style)],
        &[("Authorization", "Basic %%%not-base64")],
    ];
    for headers in cases {
        let resp = raw(&sim, &start(0, 1), headers);
        assert_eq!(resp.status, 401, "{headers:?}");
        assert_eq!(resp.text().expect("body"), COULDNT);
        assert_eq!(
            resp.header("content-type"),
            Some("application/json; charset=UTF-8")
        );
        assert_eq!(
            resp.header("www-authenticate"),
            Some(r#"Basic realm="Web Password""#)
        );
    }
    assert_eq!(
        raw(&sim, &start(0, 1), &[("Authorization", &basic(&sim))]).status,
        200
    );
}

#[test]
fn bad_bearer_token_gets_invalid_token() {
    let sim = sim();
    let resp = raw(&sim, &start(0, 1), &[("Authorization", "Bearer nope")]);
    assert_eq!(resp.status, 401);
    assert_eq!(resp.text().expect("body"), INVALID_TOKEN);
    let good = format!("Bearer {}", sim.config().bearer_token);
    assert_eq!(
        raw(&sim, &start(0, 1), &[("Authorization", &good)]).status,
        200
    );
}

#[test]
fn garbled_or_foreign_cursors_are_400_invalid_pagination_parameter() {
    let sim = sim();
    sim.add_tickets(1, 3, 1000);
    let good = page(&sim, &start(0, 1))["after_cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let unpadded = raw_http::percent_encode(good.trim_end_matches('='));
    let bad_paths = [
        format!("{PATH}?cursor=garbage"),
        format!("{PATH}?cursor="),
        // A real Zendesk cursor from another account is not one of ours.
        format!("{PATH}?cursor=MTY5NTA1MjY2My4wfHwyOHw%3D"),
        format!("{PATH}?cursor={unpadded}"),
        // Not URL-encoded: the `+` arrives as a space, as with Zendesk itself.
        format!("{PATH}?cursor={good}"),
    ];
    for path in bad_paths {
        let resp = get(&sim, &path);
        assert_eq!(resp.status, 400, "{path}");
        assert_eq!(
            resp.json().expect("json")["error"],
            "InvalidPaginationParameter",
            "{path}"
        );
    }
}

#[test]
fn missing_conflicting_or_non_numeric_parameters_are_400() {
    let sim = sim();
    let cursor = raw_http::percent_encode(
        page(&sim, &start(0, 1))["after_cursor"]
            .as_str()
            .expect("c"),
    );
    for query in [
        String::new(),
        "?per_page=10".to_owned(),
        format!("?start_time=0&cursor={cursor}"),
        "?start_time=abc".to_owned(),
        "?start_time=-5".to_owned(),
        "?start_time=1.5".to_owned(),
        "?start_time=0&start_time=1".to_owned(),
        "?start_time=0&per_page=abc".to_owned(),
        "?start_time=0&per_page=0".to_owned(),
    ] {
        let resp = get(&sim, &format!("{PATH}{query}"));
        assert_eq!(resp.status, 400, "{query}");
        assert!(resp.json().expect("json")["error"].is_string(), "{query}");
    }
}

#[test]
fn other_paths_are_404_and_other_methods_405() {
    let sim = sim();
    for path in [
        "/api/v2/tickets.json",
        "/api/v2/incremental/tickets.json?start_time=0",
        "/",
    ] {
        let resp = get(&sim, path);
        assert_eq!(resp.status, 404, "{path}");
        let body = resp.json().expect("json");
        assert_eq!(body["error"], "InvalidEndpoint");
        assert_eq!(body["description"], "Not found");
    }
    // The `.json` suffix is optional.
    assert_eq!(
        get(&sim, "/api/v2/incremental/tickets/cursor?start_time=0").status,
        200
    );
    let auth = basic(&sim);
    let resp = raw_http::request(
        "POST",
        &sim.base_url(),
        &start(0, 1),
        &[("Authorization", &auth)],
    )
    .expect("response");
    assert_eq!(resp.status, 405);
}
