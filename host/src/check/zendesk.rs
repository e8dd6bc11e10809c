//! `check` against Zendesk: the credentials (a token request in the OAuth modes), one cheap
//! `GET` per configured resource through the same egress a pass uses (its policy, its
//! credentials, its proxy), and the clock against Zendesk's `Date` header.
//!
//! The ticket probe counts against the export's 10 requests a minute, once per `check`.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Empty, Limited};
use wasmtime_wasi_http::{RequestOptions, WasiHttpHooks as _};

use super::Finding;
use crate::config::PassConfig;
use crate::credentials::AuthMode;
use crate::egress::Egress;
use crate::stats::PassStats;

/// The most of an answer read (a page of one record, or an error).
const MAX_BODY: usize = 256 * 1024;
/// A clock this far from Zendesk's is reported.
const MAX_SKEW: i64 = 60;

/// The cheapest request that tells whether this account and credentials may read `resource`:
/// one record.
fn probe_path(resource: &str) -> &'static str {
    match resource {
        "incremental_tickets" => "/api/v2/incremental/tickets/cursor.json?start_time=0&per_page=1",
        "audit_logs" => "/api/v2/audit_logs.json?page%5Bsize%5D=1",
        _ => "/api/v2/access_logs?page%5Bsize%5D=1",
    }
}

/// What Zendesk answered a probe.
struct Answer {
    status: StatusCode,
    date: Option<String>,
    body: Bytes,
}

impl Answer {
    /// Zendesk's own words, when its error body has them (`description`, `error`, or the
    /// first of `errors`), cut short.
    fn words(&self) -> String {
        let value: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        let said = text(&value["description"])
            .or_else(|| text(&value["errors"][0]["detail"]))
            .or_else(|| text(&value["errors"][0]["title"]))
            .or_else(|| text(&value["error"]["message"]))
            .or_else(|| text(&value["error"]));
        match said {
            Some(s) => format!(
                ": Zendesk said \"{}\"",
                s.chars().take(200).collect::<String>()
            ),
            None => String::new(),
        }
    }
}

pub async fn check(config: &PassConfig) -> Vec<Finding> {
    let mut findings = Vec::new();
    let oauth = matches!(
        config.zendesk.auth_mode,
        AuthMode::ClientCredentials | AuthMode::RefreshToken
    );
    // The OAuth modes' first step is a token: without one, nothing else can be asked.
    if let Some(tokens) = config.zendesk.egress.tokens() {
        tokens.begin_pass();
        match tokens.authorization().await {
            Ok(_) => findings.push(Finding::ok(
                "credentials",
                format!(
                    "Zendesk issued an access token to the OAuth client (AUTH_MODE={})",
                    config.zendesk.auth_mode.name()
                ),
            )),
            Err(e) => {
                findings.push(Finding::problem("credentials", e.to_string(), None));
                for r in &config.collect.resources {
                    findings.push(
                        Finding::not_checked("resource", "not checked: no access token")
                            .for_resource(r),
                    );
                }
                findings.push(Finding::not_checked(
                    "clock",
                    "not checked: no access token",
                ));
                return findings;
            }
        }
    }
    let mut egress = Egress::new(config.zendesk.egress.clone(), PassStats::default());
    let mut date = None;
    let mut credentials_known = oauth;
    let mut refused: Option<String> = None;
    for resource in &config.collect.resources {
        if let Some(why) = &refused {
            findings.push(Finding::not_checked("resource", why.clone()).for_resource(resource));
            continue;
        }
        let path = probe_path(resource);
        let answer = match get(&mut egress, config, path).await {
            Ok(answer) => answer,
            Err(message) => {
                // Said once; what needed an answer is not checked.
                findings.push(Finding::problem("connection", message, None));
                let why = "not checked: Zendesk could not be reached".to_owned();
                if !credentials_known {
                    findings.push(Finding::not_checked("credentials", why.clone()));
                    credentials_known = true;
                }
                findings.push(Finding::not_checked("resource", why.clone()).for_resource(resource));
                refused = Some(why);
                continue;
            }
        };
        date = date.or(answer.date.clone());
        if answer.status == StatusCode::UNAUTHORIZED {
            let (message, fix) = unauthorized(config.zendesk.auth_mode, path, &answer);
            findings.push(Finding::problem("credentials", message, Some(fix)));
            credentials_known = true;
            let why = "not checked: Zendesk refused the credentials".to_owned();
            findings.push(Finding::not_checked("resource", why.clone()).for_resource(resource));
            refused = Some(why);
            continue;
        }
        if !credentials_known {
            findings.push(accepted(config.zendesk.auth_mode));
            credentials_known = true;
        }
        findings.push(judge(resource, path, &answer, oauth).for_resource(resource));
    }
    findings.push(clock(config, date.as_deref(), refused.as_deref()));
    findings
}

/// Credentials Zendesk accepted; API tokens with the date they stop working.
fn accepted(mode: AuthMode) -> Finding {
    let message = format!(
        "Zendesk accepted the credentials (AUTH_MODE={})",
        mode.name()
    );
    match mode {
        AuthMode::Token => Finding::warning(
            "credentials",
            format!(
                "{message}, but Zendesk deactivates every API token on 2027-04-30 (and no \
                 account can create one since 2026-10-27)"
            ),
            Some(
                "move to AUTH_MODE=client_credentials before then (docs/authentication.md)".into(),
            ),
        ),
        _ => Finding::ok("credentials", message),
    }
}

/// A `GET` of `path` through the pass's egress, its body read up to [`MAX_BODY`].
async fn get(egress: &mut Egress, config: &PassConfig, path: &str) -> Result<Answer, String> {
    let base = config.zendesk.base_url.trim_end_matches('/');
    let host = http::Uri::try_from(base)
        .ok()
        .and_then(|u| u.host().map(str::to_owned))
        .unwrap_or_else(|| base.to_owned());
    let timeout = Duration::from_secs(config.http.http_timeout_secs.max(1));
    let request = Request::get(format!("{base}{path}"))
        .header(http::header::ACCEPT, "application/json")
        .body(
            Empty::<Bytes>::new()
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .map_err(|e| format!("cannot build the request for {path}: {e}"))?;
    let options = RequestOptions {
        connect_timeout: Some(timeout),
        first_byte_timeout: Some(timeout),
        between_bytes_timeout: Some(timeout),
    };
    let sent = egress.send_request(request, Some(options), Box::new(async { Ok(()) }));
    let exchange = async {
        let (response, io) = Box::into_pin(sent)
            .await
            .map_err(|e| transport(&e, &host))?;
        tokio::spawn(Box::into_pin(io));
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(|_| format!("{host} sent an unreadable or oversized answer to {path}"))?;
        Ok(Answer {
            status: parts.status,
            date: parts
                .headers
                .get(http::header::DATE)
                .and_then(|d| d.to_str().ok())
                .map(str::to_owned),
            body,
        })
    };
    tokio::time::timeout(timeout * 2, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "{host} did not answer {path} in time (HTTP_TIMEOUT); check the network path \
                 to it"
            ))
        })
}

/// A transport failure in words, naming the host.
fn transport(e: &wasmtime_wasi_http::Error, host: &str) -> String {
    use wasmtime_wasi_http::Error as E;
    match e {
        E::DnsError { .. } | E::DnsTimeout | E::DestinationNotFound => format!(
            "cannot resolve {host} (DNS); check the subdomain in ZENDESK_BASE_URL and the DNS \
             resolver of this machine"
        ),
        E::ConnectionRefused | E::Connect(_) => format!(
            "cannot connect to {host}: the connection was refused or could not be made; check \
             the host and port in ZENDESK_BASE_URL, the firewall, or HTTPS_PROXY"
        ),
        E::ConnectionTimeout => format!(
            "connecting to {host} timed out; check the firewall, or set HTTPS_PROXY if outbound \
             traffic must go through a proxy"
        ),
        E::ConnectionReadTimeout | E::ConnectionWriteTimeout | E::HttpResponseTimeout => {
            format!("{host} did not answer in time (HTTP_TIMEOUT)")
        }
        E::TlsCertificateError | E::TlsProtocolError | E::TlsAlertReceived { .. } | E::Tls(_) => {
            format!(
                "the TLS handshake with {host} failed: its certificate is not trusted (behind a \
                 TLS-inspecting proxy, set ZENDESK_CA_BUNDLE to its CA)"
            )
        }
        E::HttpRequestDenied => format!("the egress policy refused the request to {host}"),
        E::InternalError(Some(m)) => m.trim_start_matches("refused: ").to_owned(),
        _ => format!("the request to {host} failed ({e})"),
    }
}

/// A 401, by mode: what was refused and what to change.
fn unauthorized(mode: AuthMode, path: &str, answer: &Answer) -> (String, String) {
    let said = answer.words();
    let path = path.split('?').next().unwrap_or(path);
    match mode {
        AuthMode::Token => (
            format!("Zendesk refused the e-mail and API token (401 on {path}){said}"),
            "check ZENDESK_EMAIL and ZENDESK_API_TOKEN (an API token of that agent, not a \
             password); API tokens stop working on 2027-04-30, so move to \
             AUTH_MODE=client_credentials (docs/authentication.md)"
                .into(),
        ),
        AuthMode::Bearer => (
            format!("Zendesk refused the bearer token (401 on {path}){said}"),
            "the token expired or was revoked (new OAuth access tokens live about 30 \
             minutes): move to AUTH_MODE=client_credentials, with which the collector gets and \
             renews its own tokens"
                .into(),
        ),
        AuthMode::ClientCredentials | AuthMode::RefreshToken => (
            format!("Zendesk refused the access token it had just issued (401 on {path}){said}"),
            "check that the OAuth client belongs to this account (ZENDESK_BASE_URL)".into(),
        ),
    }
}

/// What a probe's answer means for its resource.
fn judge(resource: &str, path: &str, answer: &Answer, oauth: bool) -> Finding {
    let said = answer.words();
    let path = path.split('?').next().unwrap_or(path);
    let status = answer.status.as_u16();
    match status {
        200 => Finding::ok("resource", format!("allowed: GET {path} answered 200")),
        403 => {
            let (what, plan, scope) = match resource {
                "audit_logs" => (
                    "audit logs",
                    "the Enterprise plan and an admin's credentials",
                    "auditlogs:read",
                ),
                "access_logs" => (
                    "access logs",
                    "the Advanced Data Privacy and Protection add-on, with the Access Log API \
                     turned on by an admin",
                    "read",
                ),
                _ => (
                    "the incremental ticket export",
                    "an admin's credentials",
                    "tickets:read",
                ),
            };
            let scope = if oauth {
                format!(", or give the OAuth client the {scope} scope (ZENDESK_OAUTH_SCOPES)")
            } else {
                String::new()
            };
            Finding::problem(
                "resource",
                format!(
                    "this account or these credentials may not read {what} (403 on {path}){said}"
                ),
                Some(format!(
                    "{what} need {plan}{scope}; or remove {resource} from RESOURCES"
                )),
            )
        }
        404 => Finding::problem(
            "resource",
            format!("{path} was not found on this account (404){said}"),
            Some(format!(
                "check ZENDESK_BASE_URL, or remove {resource} from RESOURCES"
            )),
        ),
        429 => Finding::warning(
            "resource",
            format!("Zendesk rate-limited the probe (429 on {path}); the account is busy now"),
            Some("run check again in a minute; a pass waits for Retry-After by itself".into()),
        ),
        _ => Finding::problem(
            "resource",
            format!("GET {path} answered {status}{said}"),
            Some("see docs/operating.md for what each status means".into()),
        ),
    }
}

/// Our clock against Zendesk's `Date`: windows and lag are computed on ours.
fn clock(config: &PassConfig, date: Option<&str>, refused: Option<&str>) -> Finding {
    let Some(date) = date else {
        let why = refused
            .map(str::to_owned)
            .unwrap_or_else(|| "not checked: Zendesk sent no Date header".into());
        return Finding::not_checked("clock", why);
    };
    let Ok(theirs) = httpdate::parse_http_date(date) else {
        return Finding::not_checked("clock", format!("not checked: unreadable Date {date:?}"));
    };
    let theirs = theirs
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let ours = config
        .runtime
        .pass_start
        .unwrap_or_else(crate::clock::now_unix);
    let skew = ours - theirs;
    let words = humantime::format_duration(Duration::from_secs(skew.unsigned_abs()));
    if skew.abs() <= MAX_SKEW {
        return Finding::ok(
            "clock",
            format!("within {MAX_SKEW} s of Zendesk's ({skew:+} s)"),
        );
    }
    let side = if skew > 0 { "ahead of" } else { "behind" };
    Finding::warning(
        "clock",
        format!("this machine's clock is {words} {side} Zendesk's (its Date header)"),
        Some(
            "synchronise the clock (NTP): the collector's windows, START_TIME, LOOKBACK_SECONDS \
             and the lag it keeps behind now are computed on it"
                .into(),
        ),
    )
}
