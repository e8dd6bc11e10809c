//! Zendesk credentials. Read only from the environment or a file (never a flag, so never in
//! `--help` or a process list), held as secrets (redacted in `Debug`), and turned into an
//! `Authorization` header only at the egress hook.

use std::path::PathBuf;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};

/// `AUTH_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Basic `{email}/token:{api_token}` (Zendesk API token).
    Token,
    /// OAuth access token, `Authorization: Bearer …`.
    Bearer,
}

/// The credentials the host attaches to every request it lets through.
#[derive(Debug)]
pub enum Credentials {
    Token { email: String, token: SecretString },
    Bearer(SecretString),
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("AUTH_MODE=token needs ZENDESK_EMAIL")]
    MissingEmail,
    #[error("{0} or {0}_FILE must be set for AUTH_MODE={1}")]
    Missing(&'static str, &'static str),
    #[error("set only one of {0} and {0}_FILE")]
    Both(&'static str),
    #[error("{0} is empty")]
    Empty(&'static str),
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
    /// Reads the secret for `mode` from `NAME` or the file named by `NAME_FILE`, through
    /// `env` (a parameter so tests need not touch the process environment).
    pub fn load(
        mode: AuthMode,
        email: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Credentials, CredentialsError> {
        match mode {
            AuthMode::Token => {
                let email = token_email(email)?;
                let token = secret("ZENDESK_API_TOKEN", "token", &env)?;
                Ok(Credentials::Token { email, token })
            }
            AuthMode::Bearer => Ok(Credentials::Bearer(secret(
                "ZENDESK_BEARER_TOKEN",
                "bearer",
                &env,
            )?)),
        }
    }

    /// Like [`Credentials::load`], with the secret for `mode` read from `secret` instead of
    /// the guide's variables.
    pub fn load_ref(
        mode: AuthMode,
        email: Option<&str>,
        secret: &SecretRef,
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
        }
    }

    /// The header value, marked sensitive so `http`'s `Debug` never prints it.
    pub fn authorization(&self) -> http::HeaderValue {
        let text = match self {
            Credentials::Token { email, token } => {
                let raw = format!("{email}/token:{}", token.expose_secret());
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                )
            }
            Credentials::Bearer(token) => format!("Bearer {}", token.expose_secret()),
        };
        let mut value = http::HeaderValue::from_str(&text)
            .unwrap_or_else(|_| http::HeaderValue::from_static("invalid"));
        value.set_sensitive(true);
        value
    }
}

fn token_email(email: Option<&str>) -> Result<String, CredentialsError> {
    email
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .ok_or(CredentialsError::MissingEmail)
}

fn secret(
    name: &'static str,
    mode: &'static str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<SecretString, CredentialsError> {
    let file_var = format!("{name}_FILE");
    let value = match (env(name), env(&file_var)) {
        (Some(_), Some(_)) => return Err(CredentialsError::Both(name)),
        (Some(v), None) => v,
        (None, Some(path)) => {
            let path = PathBuf::from(path);
            std::fs::read_to_string(&path).map_err(|source| CredentialsError::File {
                name,
                path,
                source,
            })?
        }
        (None, None) => return Err(CredentialsError::Missing(name, mode)),
    };
    // Files usually end in a newline; a token never contains whitespace.
    let value = value.trim();
    if value.is_empty() {
        return Err(CredentialsError::Empty(name));
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
            c.authorization().to_str().unwrap(),
            format!("Basic {expected}")
        );
        assert!(c.authorization().is_sensitive());
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert!(!format!("{:?}", c.authorization()).contains(&expected));
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
        assert_eq!(c.authorization().to_str().unwrap(), "Bearer tok");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_named_variable_or_file_holds_a_feeds_secret() {
        let c = Credentials::load_ref(
            AuthMode::Token,
            Some("a@example.com"),
            &SecretRef::Env("ACME_TOKEN".into()),
            env(&[("ACME_TOKEN", "s3cr3t\n")]),
        )
        .unwrap();
        let expected =
            base64::engine::general_purpose::STANDARD.encode("a@example.com/token:s3cr3t");
        assert_eq!(
            c.authorization().to_str().unwrap(),
            format!("Basic {expected}")
        );
        let unset = Credentials::load_ref(
            AuthMode::Bearer,
            None,
            &SecretRef::Env("NOPE".into()),
            env(&[]),
        )
        .unwrap_err();
        assert_eq!(unset.to_string(), "environment variable NOPE is not set");
        let missing = Credentials::load_ref(
            AuthMode::Bearer,
            None,
            &SecretRef::File("/nonexistent/zendesk-token".into()),
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
}
