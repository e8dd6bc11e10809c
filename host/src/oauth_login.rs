//! `zendesk-crm oauth login`: the one-time approval of `AUTH_MODE=refresh_token`. It prints
//! the authorization URL (PKCE S256, a random `state`), takes the redirect on the loopback
//! redirect URI registered on the client (or a pasted code or redirected URL), exchanges the
//! code and writes the refresh-token file, holding its lock like a pass does.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::Digest as _;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};

use crate::cli::LoginArgs;
use crate::credentials::{AuthMode, OAuthClient, OAuthGrant, default_scopes};
use crate::egress::EgressPolicy;
use crate::exit::Exit;
use crate::oauth::{SetupError, TokenSource, Transport};

/// The redirect URI when none is given; register this one on the client, or pass yours.
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:8765/callback";

pub async fn run(args: LoginArgs) -> Exit {
    match login(args).await {
        Ok(()) => Exit::Success,
        Err((exit, message)) => {
            tracing::error!(error = %message, "oauth login failed");
            exit
        }
    }
}

type Failure = (Exit, String);

fn config(message: impl Into<String>) -> Failure {
    (Exit::Config, message.into())
}

async fn login(args: LoginArgs) -> Result<(), Failure> {
    let env = |k: &str| std::env::var(k).ok();
    let secret = crate::credentials::client_secret(AuthMode::RefreshToken, &env)
        .map_err(|e| config(e.to_string()))?;
    let policy = EgressPolicy::without_credentials(&args.base_url)
        .map_err(|e| config(e.to_string()))?
        .route(
            args.network.https_proxy.as_deref(),
            args.network.no_proxy.as_deref(),
            args.network.ca_bundle.as_deref(),
        )
        .map_err(|e| config(e.to_string()))?;
    let scopes = args
        .scopes
        .clone()
        .unwrap_or_else(|| default_scopes(&crate::config::resource_list(&args.resources)));
    let client = OAuthClient {
        client_id: args.client_id.clone(),
        client_secret: secret,
        grant: OAuthGrant::RefreshToken {
            file: args.refresh_token_file.clone(),
        },
    };
    let transport = Transport {
        timeout: std::time::Duration::from_secs(args.http_timeout.max(1)),
        retries: 3,
        max_wait: std::time::Duration::from_secs(60),
    };
    let tokens = TokenSource::new(&client, &args.base_url, policy.sender(), transport).map_err(
        |e| match e {
            SetupError::Locked { .. } => (Exit::RefreshTokenLocked, e.to_string()),
            other => (Exit::Storage, other.to_string()),
        },
    )?;

    let verifier = random_text(32)?;
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let state = random_text(16)?;
    let url = authorization_url(&args, &scopes, &challenge, &state);
    eprintln!(
        "Open this URL in a browser signed in to Zendesk as an admin, and approve the client:"
    );
    println!("{url}");
    let code = if args.paste {
        eprintln!("Then paste the code, or the whole URL the browser was sent to:");
        read_pasted(&state).await?
    } else {
        eprintln!("Waiting for the redirect to {} …", args.redirect_uri);
        take_redirect(&args.redirect_uri, &state).await?
    };
    tokens
        .exchange_code(&code, &verifier, &args.redirect_uri)
        .await
        .map_err(|e| (e.exit(), e.to_string()))?;
    eprintln!(
        "Saved the refresh token to {}. Run with AUTH_MODE=refresh_token and \
         ZENDESK_REFRESH_TOKEN_FILE={}.",
        args.refresh_token_file.display(),
        args.refresh_token_file.display()
    );
    Ok(())
}

fn authorization_url(args: &LoginArgs, scopes: &str, challenge: &str, state: &str) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    format!(
        "{}/oauth/authorizations/new?response_type=code&client_id={}&redirect_uri={}&scope={}\
         &state={}&code_challenge={}&code_challenge_method=S256",
        args.base_url.trim_end_matches('/'),
        enc(&args.client_id),
        enc(&args.redirect_uri),
        enc(scopes),
        enc(state),
        enc(challenge),
    )
}

/// `bytes` random bytes from the operating system, base64url without padding.
fn random_text(bytes: usize) -> Result<String, Failure> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf)
        .map_err(|e| (Exit::Internal, format!("no randomness from the OS: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// The `code` of a redirected URL's query (checking its `state`), or the text as a code.
fn code_from(text: &str, state: &str) -> Result<String, Failure> {
    let text = text.trim();
    let Some((_, query)) = text.split_once('?') else {
        if text.is_empty() || text.contains(char::is_whitespace) {
            return Err(config("no code was given"));
        }
        return Ok(text.to_owned());
    };
    let mut code = None;
    let mut given_state = None;
    for pair in query.split(['&', ' ']) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned();
        match k {
            "code" => code = Some(v),
            "state" => given_state = Some(v),
            "error" => {
                return Err(config(format!(
                    "the approval was refused ({v}): an admin must approve the client"
                )));
            }
            _ => {}
        }
    }
    if given_state.as_deref() != Some(state) {
        return Err(config(
            "the redirect's state does not match this login (an old or foreign redirect)",
        ));
    }
    code.filter(|c| !c.is_empty())
        .ok_or_else(|| config("the redirect carries no code"))
}

async fn read_pasted(state: &str) -> Result<String, Failure> {
    let mut line = String::new();
    tokio::io::BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await
        .map_err(|e| config(format!("reading the code from stdin: {e}")))?;
    code_from(&line, state)
}

/// Listens on the loopback redirect URI for the browser's redirect.
async fn take_redirect(redirect_uri: &str, state: &str) -> Result<String, Failure> {
    let uri: http::Uri = redirect_uri
        .parse()
        .map_err(|_| config(format!("the redirect URI {redirect_uri:?} is not a URL")))?;
    let host = uri.host().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if uri.scheme_str() != Some("http") || !loopback {
        return Err(config(format!(
            "the redirect URI {redirect_uri} is not http on a loopback address, so it cannot be \
             taken here: use --paste and paste the code"
        )));
    }
    let port = uri.port_u16().unwrap_or(80);
    let listener =
        tokio::net::TcpListener::bind((host.trim_start_matches('[').trim_end_matches(']'), port))
            .await
            .map_err(|e| config(format!("cannot listen on {host}:{port}: {e}")))?;
    loop {
        let (mut stream, _) = listener
            .accept()
            .await
            .map_err(|e| config(format!("accepting the redirect: {e}")))?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&head);
        let target = head
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_default();
        if !target.starts_with(uri.path()) {
            let _ = stream
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            continue;
        }
        let result = code_from(target, state);
        let page = match &result {
            Ok(_) => "Approved: zendesk-crm has the code. You can close this window.",
            Err(_) => "zendesk-crm could not use this redirect; see its terminal.",
        };
        let _ = stream
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                )
                .as_bytes(),
            )
            .await;
        return result;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pasted_url_gives_its_code_when_the_state_matches() {
        assert_eq!(
            code_from(
                "http://127.0.0.1:8765/callback?code=abc%2Bd&state=s1\n",
                "s1"
            )
            .unwrap(),
            "abc+d"
        );
        assert_eq!(
            code_from("  just-the-code \n", "s1").unwrap(),
            "just-the-code"
        );
        assert!(code_from("http://x/cb?code=abc&state=other", "s1").is_err());
        assert!(code_from("http://x/cb?error=access_denied&state=s1", "s1").is_err());
        assert!(code_from("\n", "s1").is_err());
    }
}
