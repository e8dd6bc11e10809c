//! Zendesk credentials. Read only from the environment or a file (never a flag, so never in
//! `--help` or a process list), held as secrets (redacted in `Debug`), and turned into an
//! `Authorization` header only at the egress hook.

use std::path::PathBuf;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};

/// `AUTH_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Basic `{email}/token:{api_token}` (Zendesk API token; deactivated on 2027-04-30).
    Token,
    /// OAuth access token, `Authorization: Bearer …`.
    Bearer,
    /// OAuth client id and secret: the host obtains short-lived access tokens itself.
    #[value(name = "client_credentials")]
    ClientCredentials,
    /// OAuth client id and secret and a rotating refresh token kept in a file.
    #[value(name = "refresh_token")]
    RefreshToken,
}

impl AuthMode {
    pub fn name(self) -> &'static str {
        match self {
            AuthMode::Token => "token",
            AuthMode::Bearer => "bearer",
            AuthMode::ClientCredentials => "client_credentials",
            AuthMode::RefreshToken => "refresh_token",
        }
    }
}

/// What the OAuth modes need to obtain access tokens (`oauth.rs` does the rest).
#[derive(Debug)]
pub struct OAuthClient {
    /// The client's "Identifier" in Admin Center.
    pub client_id: String,
    pub client_secret: SecretString,
    pub grant: OAuthGrant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OAuthGrant {
    /// `client_credentials` with these scopes, space-separated.
    ClientCredentials { scopes: String },
    /// `refresh_token`, the token kept in this file.
    RefreshToken { file: PathBuf },
}

/// The credentials the host attaches to every request it lets through.
#[derive(Debug)]
pub enum Credentials {
    Token {
        email: String,
        token: SecretString,
    },
    Bearer(SecretString),
    /// Access tokens obtained by the host, one per feed, renewed on demand.
    OAuth(OAuthClient),
}

/// The OAuth settings of one account, secrets aside.
#[derive(Debug, Clone, Default)]
pub struct OAuthSettings {
    pub client_id: Option<String>,
    /// Space- or comma-separated; none: the least the resources need.
    pub scopes: Option<String>,
    pub refresh_token_file: Option<PathBuf>,
    /// The configured resources, for the default scopes.
    pub resources: Vec<String>,
}

/// The least scopes that read `resources`. Zendesk's resource scopes name no access-log
/// resource, and the finer scope table announced for 2026-08-10 could not be read, so access
/// logs need the broad `read` (which covers everything else too).
pub fn default_scopes(resources: &[String]) -> String {
    if resources.iter().any(|r| r == "access_logs") {
        return "read".to_owned();
    }
    let mut scopes = Vec::new();
    for r in resources {
        let scope = match r.as_str() {
            "incremental_tickets" => "tickets:read",
            "audit_logs" => "auditlogs:read",
            _ => "read",
        };
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() || scopes.contains(&"read") {
        return "read".to_owned();
    }
    scopes.join(" ")
}

impl OAuthSettings {
    /// The client for `mode` (one of the OAuth modes), its secret already read.
    pub fn client(
        &self,
        mode: AuthMode,
        client_secret: SecretString,
    ) -> Result<OAuthClient, CredentialsError> {
        let client_id = self
            .client_id
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or(CredentialsError::MissingClientId(mode.name()))?
            .to_owned();
        let grant = match mode {
            AuthMode::RefreshToken => OAuthGrant::RefreshToken {
                file: self
                    .refresh_token_file
                    .clone()
                    .ok_or(CredentialsError::MissingRefreshFile)?,
            },
            _ => {
                let scopes = match self.scopes.as_deref() {
                    Some(s) => s
                        .split([',', ' '])
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(" "),
                    None => default_scopes(&self.resources),
                };
                if scopes.is_empty() {
                    return Err(CredentialsError::Empty("ZENDESK_OAUTH_SCOPES"));
                }
                OAuthGrant::ClientCredentials { scopes }
            }
        };
        Ok(OAuthClient {
            client_id,
            client_secret,
            grant,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("AUTH_MODE=token needs ZENDESK_EMAIL")]
    MissingEmail,
    #[error(
        "AUTH_MODE=token needs ZENDESK_EMAIL and ZENDESK_API_TOKEN (or ZENDESK_API_TOKEN_FILE); \
         API tokens end on 2027-04-30, so a new setup should use AUTH_MODE=client_credentials"
    )]
    MissingEmailAndToken,
    #[error(
        "AUTH_MODE={0} needs ZENDESK_CLIENT_ID (--client-id): the OAuth client's Identifier in \
         Admin Center > Apps and integrations > APIs > OAuth clients"
    )]
    MissingClientId(&'static str),
    #[error(
        "AUTH_MODE=refresh_token needs ZENDESK_REFRESH_TOKEN_FILE: a writable file holding the \
         refresh token (`zendesk-crm oauth login` writes it)"
    )]
    MissingRefreshFile,
    #[error(
        "ZENDESK_API_TOKEN or ZENDESK_API_TOKEN_FILE must be set for AUTH_MODE=token; \
         ZENDESK_CLIENT_ID is set, so perhaps AUTH_MODE=client_credentials was meant (AUTH_MODE \
         defaults to token)"
    )]
    TokenModeWithClientId,
    #[error("{0} or {0}_FILE must be set for AUTH_MODE={1}")]
    Missing(&'static str, &'static str),
    #[error("set only one of {0} and {0}_FILE")]
    Both(&'static str),
    #[error("{0} is empty: set it to the secret, or unset it and use {0}_FILE")]
    Empty(&'static str),
    #[error(
        "{name}_FILE names {path}, which is empty (or only whitespace): write the secret into \
         it, or point {name}_FILE at the file that holds it"
    )]
    EmptyFile { name: &'static str, path: PathBuf },
    #[error("reading {name}_FILE {path}: {source}")]
    File {
        name: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("environment variable {0} is not set")]
    UnsetVariable(String),
    #[error("reading the secret file {path}: {source}")]
    SecretFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the secret in {0} is empty")]
    EmptyRef(String),
}

/// Where a secret is kept when it is not in the guide's variables (a feeds file names one of
/// these, never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// The name of an environment variable holding the secret.
    Env(String),
    /// A file holding the secret (a trailing newline is trimmed).
    File(PathBuf),
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Env(name) => write!(f, "environment variable {name}"),
            SecretRef::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

impl Credentials {
    /// Like [`Credentials::load`], for every mode: the OAuth modes read the client secret from
    /// `ZENDESK_CLIENT_SECRET` or `ZENDESK_CLIENT_SECRET_FILE`.
    pub fn load_any(
        mode: AuthMode,
        email: Option<&str>,
        oauth: &OAuthSettings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Credentials, CredentialsError> {
        match mode {
            AuthMode::Token | AuthMode::Bearer => {
                Credentials::load(mode, email, &env).map_err(|e| match e {
                    CredentialsError::Missing("ZENDESK_API_TOKEN", _)
                        if oauth.client_id.is_some() =>
                    {
                        CredentialsError::TokenModeWithClientId
                    }
                    other => other,
                })
            }
            AuthMode::ClientCredentials | AuthMode::RefreshToken => {
                let client_secret = secret("ZENDESK_CLIENT_SECRET", mode.name(), &env)?;
                Ok(Credentials::OAuth(oauth.client(mode, client_secret)?))
            }
        }
    }

    /// Reads the secret for `mode` from `NAME` or the file named by `NAME_FILE`, through
    /// `env` (a parameter so tests need not touch the process environment).
    pub fn load(
        mode: AuthMode,
        email: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Credentials, CredentialsError> {
        match mode {
            AuthMode::Token => {
                // Both halves are read before either is refused, so one run names both.
                match (
                    token_email(email),
                    secret("ZENDESK_API_TOKEN", "token", &env),
                ) {
                    (Ok(email), Ok(token)) => Ok(Credentials::Token { email, token }),
                    (Err(CredentialsError::MissingEmail), Err(CredentialsError::Missing(..))) => {
                        Err(CredentialsError::MissingEmailAndToken)
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
            AuthMode::Bearer => Ok(Credentials::Bearer(secret(
                "ZENDESK_BEARER_TOKEN",
                "bearer",
                &env,
            )?)),
            // These need the OAuth settings: `load_any`.
            AuthMode::ClientCredentials | AuthMode::RefreshToken => {
                Err(CredentialsError::MissingClientId(mode.name()))
            }
        }
    }

    /// Like [`Credentials::load`], with the secret for `mode` read from `secret` instead of
    /// the guide's variables.
    pub fn load_ref(
        mode: AuthMode,
        email: Option<&str>,
        secret: &SecretRef,
        oauth: &OAuthSettings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Credentials, CredentialsError> {
        let value = match secret {
            SecretRef::Env(name) => {
                env(name).ok_or_else(|| CredentialsError::UnsetVariable(name.clone()))?
            }
            SecretRef::File(path) => {
                std::fs::read_to_string(path).map_err(|source| CredentialsError::SecretFile {
                    path: path.clone(),
                    source,
                })?
            }
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(CredentialsError::EmptyRef(secret.to_string()));
        }
        let value = SecretString::from(value.to_owned());
        match mode {
            AuthMode::Token => Ok(Credentials::Token {
                email: token_email(email)?,
                token: value,
            }),
            AuthMode::Bearer => Ok(Credentials::Bearer(value)),
            AuthMode::ClientCredentials | AuthMode::RefreshToken => {
                Ok(Credentials::OAuth(oauth.client(mode, value)?))
            }
        }
    }

    /// The header value, marked sensitive so `http`'s `Debug` never prints it; none for the
    /// OAuth modes, whose header changes with each access token.
    pub fn authorization(&self) -> Option<http::HeaderValue> {
        let text = match self {
            Credentials::Token { email, token } => {
                let raw = format!("{email}/token:{}", token.expose_secret());
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                )
            }
            Credentials::Bearer(token) => format!("Bearer {}", token.expose_secret()),
            Credentials::OAuth(_) => return None,
        };
        Some(bearer_value(&text))
    }
}

/// A sensitive header value (`http`'s `Debug` never prints it).
pub(crate) fn bearer_value(text: &str) -> http::HeaderValue {
    let mut value = http::HeaderValue::from_str(text)
        .unwrap_or_else(|_| http::HeaderValue::from_static("invalid"));
    value.set_sensitive(true);
    value
}

impl Credentials {
    /// The OAuth client, for the OAuth modes.
    pub fn oauth(&self) -> Option<&OAuthClient> {
        match self {
            Credentials::OAuth(client) => Some(client),
            _ => None,
        }
    }
}

fn token_email(email: Option<&str>) -> Result<String, CredentialsError> {
    email
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .ok_or(CredentialsError::MissingEmail)
}

/// The OAuth client secret, from `ZENDESK_CLIENT_SECRET` or `ZENDESK_CLIENT_SECRET_FILE`.
pub fn client_secret(
    mode: AuthMode,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<SecretString, CredentialsError> {
    secret("ZENDESK_CLIENT_SECRET", mode.name(), env)
}

fn secret(
    name: &'static str,
    mode: &'static str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<SecretString, CredentialsError> {
    let file_var = format!("{name}_FILE");
    let (value, file) = match (env(name), env(&file_var)) {
        (Some(_), Some(_)) => return Err(CredentialsError::Both(name)),
        (Some(v), None) => (v, None),
        (None, Some(path)) => {
            let path = PathBuf::from(path);
            let value =
                std::fs::read_to_string(&path).map_err(|source| CredentialsError::File {
                    name,
                    path: path.clone(),
                    source,
                })?;
            (value, Some(path))
        }
        (None, None) => return Err(CredentialsError::Missing(name, mode)),
    };
    // Files usually end in a newline; a token never contains whitespace.
    let value = value.trim();
    if value.is_empty() {
        // Name where the empty value came from: the file, not the variable that names it.
        return Err(match file {
            Some(path) => CredentialsError::EmptyFile { name, path },
            None => CredentialsError::Empty(name),
        });
    }
    Ok(SecretString::from(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn an_empty_secret_file_is_named_not_the_variable_that_names_it() {
        let dir = std::env::temp_dir().join(format!("zendesk-crm-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "\n").unwrap();
        let e = Credentials::load(
            AuthMode::Token,
            Some("a@example.com"),
            env(&[("ZENDESK_API_TOKEN_FILE", file.to_str().unwrap())]),
        )
        .expect_err("an empty file is refused")
        .to_string();
        assert!(
            e.contains(&format!("names {}, which is empty", file.display())),
            "{e}"
        );
        assert!(e.contains("write the secret into it"), "{e}");
        assert!(!e.starts_with("ZENDESK_API_TOKEN is empty"), "{e}");
        let e = Credentials::load(
            AuthMode::Token,
            Some("a@example.com"),
            env(&[("ZENDESK_API_TOKEN", " ")]),
        )
        .expect_err("an empty variable is refused")
        .to_string();
        assert!(e.starts_with("ZENDESK_API_TOKEN is empty"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn token_mode_builds_basic_auth_and_never_debug_prints_the_token() {
        let c = Credentials::load(
            AuthMode::Token,
            Some("a@example.com"),
            env(&[("ZENDESK_API_TOKEN", "s3cr3t")]),
        )
        .unwrap();
        let expected =
            base64::engine::general_purpose::STANDARD.encode("a@example.com/token:s3cr3t");
        assert_eq!(
            c.authorization().unwrap().to_str().unwrap(),
            format!("Basic {expected}")
        );
        assert!(c.authorization().unwrap().is_sensitive());
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert!(!format!("{:?}", c.authorization().unwrap()).contains(&expected));
    }

    #[test]
    fn bearer_mode_reads_a_file_and_trims_the_newline() {
        let dir = std::env::temp_dir().join(format!("zc-cred-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bearer");
        std::fs::write(&file, "tok\n").unwrap();
        let c = Credentials::load(
            AuthMode::Bearer,
            None,
            env(&[("ZENDESK_BEARER_TOKEN_FILE", file.to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(c.authorization().unwrap().to_str().unwrap(), "Bearer tok");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_named_variable_or_file_holds_a_feeds_secret() {
        let c = Credentials::load_ref(
            AuthMode::Token,
            Some("a@example.com"),
            &SecretRef::Env("ACME_TOKEN".into()),
            &OAuthSettings::default(),
            env(&[("ACME_TOKEN", "s3cr3t\n")]),
        )
        .unwrap();
        let expected =
            base64::engine::general_purpose::STANDARD.encode("a@example.com/token:s3cr3t");
        assert_eq!(
            c.authorization().unwrap().to_str().unwrap(),
            format!("Basic {expected}")
        );
        let unset = Credentials::load_ref(
            AuthMode::Bearer,
            None,
            &SecretRef::Env("NOPE".into()),
            &OAuthSettings::default(),
            env(&[]),
        )
        .unwrap_err();
        assert_eq!(unset.to_string(), "environment variable NOPE is not set");
        let missing = Credentials::load_ref(
            AuthMode::Bearer,
            None,
            &SecretRef::File("/nonexistent/zendesk-token".into()),
            &OAuthSettings::default(),
            env(&[]),
        )
        .unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/zendesk-token"),
            "{missing}"
        );
    }

    #[test]
    fn missing_ambiguous_or_empty_secrets_are_errors() {
        let e = |pairs, mode, email| Credentials::load(mode, email, env(pairs)).unwrap_err();
        assert!(matches!(
            e(&[], AuthMode::Token, None),
            CredentialsError::MissingEmailAndToken
        ));
        assert!(matches!(
            e(&[("ZENDESK_API_TOKEN", "t")], AuthMode::Token, None),
            CredentialsError::MissingEmail
        ));
        assert!(matches!(
            e(&[], AuthMode::Token, Some("a@b")),
            CredentialsError::Missing("ZENDESK_API_TOKEN", _)
        ));
        assert!(matches!(
            e(
                &[
                    ("ZENDESK_BEARER_TOKEN", "x"),
                    ("ZENDESK_BEARER_TOKEN_FILE", "/f")
                ],
                AuthMode::Bearer,
                None
            ),
            CredentialsError::Both(_)
        ));
        assert!(matches!(
            e(&[("ZENDESK_BEARER_TOKEN", " ")], AuthMode::Bearer, None),
            CredentialsError::Empty(_)
        ));
    }

    #[test]
    fn default_scopes_are_the_least_each_resource_needs() {
        let r = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            default_scopes(&r(&["audit_logs", "incremental_tickets"])),
            "auditlogs:read tickets:read"
        );
        assert_eq!(default_scopes(&r(&["incremental_tickets"])), "tickets:read");
        assert_eq!(default_scopes(&r(&["audit_logs", "access_logs"])), "read");
    }

    #[test]
    fn client_credentials_need_a_client_id_and_a_secret() {
        let settings = OAuthSettings {
            client_id: Some("collector".into()),
            resources: vec!["audit_logs".into()],
            ..OAuthSettings::default()
        };
        let c = Credentials::load_any(
            AuthMode::ClientCredentials,
            None,
            &settings,
            env(&[("ZENDESK_CLIENT_SECRET", "cs-secret\n")]),
        )
        .unwrap();
        let client = c.oauth().expect("an OAuth client");
        assert_eq!(client.client_id, "collector");
        assert_eq!(client.client_secret.expose_secret(), "cs-secret");
        assert_eq!(
            client.grant,
            OAuthGrant::ClientCredentials {
                scopes: "auditlogs:read".into()
            }
        );
        assert!(c.authorization().is_none());
        assert!(!format!("{c:?}").contains("cs-secret"));
        let no_id = Credentials::load_any(
            AuthMode::ClientCredentials,
            None,
            &OAuthSettings::default(),
            env(&[("ZENDESK_CLIENT_SECRET", "x")]),
        )
        .unwrap_err();
        assert!(no_id.to_string().contains("ZENDESK_CLIENT_ID"), "{no_id}");
        let no_secret =
            Credentials::load_any(AuthMode::ClientCredentials, None, &settings, env(&[]))
                .unwrap_err();
        assert!(
            no_secret.to_string().contains("ZENDESK_CLIENT_SECRET"),
            "{no_secret}"
        );
        let token_mode =
            Credentials::load_any(AuthMode::Token, Some("a@b"), &settings, env(&[])).unwrap_err();
        assert!(
            token_mode
                .to_string()
                .contains("AUTH_MODE=client_credentials"),
            "{token_mode}"
        );
    }
}
