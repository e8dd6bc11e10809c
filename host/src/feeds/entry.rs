//! One `[[feed]]` as written, and what it resolves to on its own: the flags and environment
//! with its settings laid over them, the reference to its secret, its interval. What concerns
//! several feeds at once (unique names, checkpoints and refresh-token files) is `parse`'s.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ValueEnum as _;
use serde::Deserialize;
use toml::Spanned;

use crate::cli::RunArgs;
use crate::credentials::{AuthMode, SecretRef};

/// A `[[feed]]` as written. Unknown keys are errors, so a misspelt setting is never silently
/// left at its default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Entry {
    pub(super) name: Spanned<String>,
    base_url: String,
    auth_mode: Option<String>,
    email: Option<String>,
    api_token_env: Option<String>,
    api_token_file: Option<PathBuf>,
    bearer_token_env: Option<String>,
    bearer_token_file: Option<PathBuf>,
    /// The OAuth client's Identifier (`client_credentials`, `refresh_token`).
    client_id: Option<String>,
    client_secret_env: Option<String>,
    client_secret_file: Option<PathBuf>,
    refresh_token_file: Option<PathBuf>,
    resources: Option<Vec<String>>,
    prefix: Option<String>,
    state_key: Option<String>,
    out: Option<PathBuf>,
    /// This feed's S3 bucket (instead of a local `out`).
    s3_bucket: Option<String>,
    /// This feed's Google Cloud Storage bucket.
    gcs_bucket: Option<String>,
    every: Option<Spanned<String>>,
    start_time: Option<i64>,
    max_pages: Option<u32>,
    // Recognised only to refuse them with a message that says what to write instead.
    api_token: Option<Spanned<toml::Value>>,
    bearer_token: Option<Spanned<toml::Value>>,
    password: Option<Spanned<toml::Value>>,
    client_secret: Option<Spanned<toml::Value>>,
    refresh_token: Option<Spanned<toml::Value>>,
}

/// A feed's problem: where in the file (a byte offset) and what.
pub(super) type Problem = (usize, String);

/// What one entry resolves to before the shared validation of [`crate::config::PassConfig`].
pub(super) struct Resolved {
    /// The flags and environment with the feed's settings laid over them.
    pub args: RunArgs,
    pub secret: SecretRef,
    pub every: Option<Duration>,
}

impl Entry {
    /// Checks what the entry says on its own and lays it over `base`.
    pub(super) fn resolve(self, base: &RunArgs) -> Result<Resolved, Problem> {
        let name_at = self.name.span().start;
        self.refuse_inline_secrets()?;
        let auth_mode = match &self.auth_mode {
            None => base.auth_mode,
            Some(m) => AuthMode::from_str(m, true).map_err(|_| {
                (
                    name_at,
                    format!(
                        "auth_mode {m:?} must be \"token\", \"bearer\", \"client_credentials\" or \"refresh_token\""
                    ),
                )
            })?,
        };
        let secret = secret_ref(&self, auth_mode).map_err(|m| (name_at, m))?;
        let every = match &self.every {
            None => None,
            Some(every) => Some(
                humantime::parse_duration(every.get_ref())
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        (
                            every.span().start,
                            format!(
                                "every {:?} is not a duration like \"15m\" or \"1h\"",
                                every.get_ref()
                            ),
                        )
                    })?,
            ),
        };
        self.check_oauth_keys(auth_mode).map_err(|m| (name_at, m))?;
        Ok(Resolved {
            args: self.lay_over(base, auth_mode),
            secret,
            every,
        })
    }

    /// The refresh-token file a `refresh_token` feed names (checked by [`Entry::resolve`]).
    pub(super) fn refresh_token_file(&self) -> Option<&Path> {
        self.refresh_token_file.as_deref()
    }

    /// A secret written into the file is refused, naming the key to use instead, never the
    /// value.
    fn refuse_inline_secrets(&self) -> Result<(), Problem> {
        for (key, value, instead) in [
            (
                "api_token",
                &self.api_token,
                "api_token_env or api_token_file",
            ),
            (
                "bearer_token",
                &self.bearer_token,
                "bearer_token_env or bearer_token_file",
            ),
            (
                "password",
                &self.password,
                "api_token_env or api_token_file",
            ),
            (
                "client_secret",
                &self.client_secret,
                "client_secret_env or client_secret_file",
            ),
            ("refresh_token", &self.refresh_token, "refresh_token_file"),
        ] {
            if let Some(value) = value {
                return Err((
                    value.span().start,
                    format!(
                        "`{key}` would put a secret in the feeds file; name where it is kept \
                         instead, with {instead}"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The OAuth keys are set exactly when the mode uses them.
    fn check_oauth_keys(&self, auth_mode: AuthMode) -> Result<(), String> {
        let oauth = matches!(
            auth_mode,
            AuthMode::ClientCredentials | AuthMode::RefreshToken
        );
        if !oauth && let Some(key) = oauth_key(self) {
            return Err(format!(
                "{key} does not apply to auth_mode \"{}\"",
                auth_mode.name()
            ));
        }
        if auth_mode != AuthMode::RefreshToken && self.refresh_token_file.is_some() {
            return Err(format!(
                "refresh_token_file does not apply to auth_mode \"{}\"",
                auth_mode.name()
            ));
        }
        if oauth && self.client_id.is_none() {
            return Err(format!(
                "auth_mode \"{}\" needs client_id (the OAuth client's Identifier)",
                auth_mode.name()
            ));
        }
        if auth_mode == AuthMode::RefreshToken && self.refresh_token_file.is_none() {
            return Err(
                "auth_mode \"refresh_token\" needs refresh_token_file (a writable file)".into(),
            );
        }
        Ok(())
    }

    /// `base` with this feed's settings in place of the process's.
    fn lay_over(self, base: &RunArgs, auth_mode: AuthMode) -> RunArgs {
        let mut args = base.clone();
        args.base_url = Some(self.base_url);
        args.auth_mode = auth_mode;
        // No fallback to the flags: each feed names its own client, or none.
        args.client_id = self.client_id;
        args.refresh_token_file = self.refresh_token_file;
        if self.email.is_some() {
            args.email = self.email;
        }
        if let Some(resources) = self.resources {
            args.resources = resources.join(",");
        }
        if let Some(prefix) = self.prefix {
            args.s3_prefix = prefix;
            // The feed's own prefix replaces the process's under either name.
            args.gcs_prefix = None;
        }
        if let Some(state_key) = self.state_key {
            args.state_key = state_key;
        }
        // A feed's own store replaces the process's: a bucket or a directory, not both.
        if self.out.is_some() || self.s3_bucket.is_some() || self.gcs_bucket.is_some() {
            args.out = self.out;
            args.s3_bucket = self.s3_bucket;
            args.gcs_bucket = self.gcs_bucket;
        }
        if self.start_time.is_some() {
            args.start_time = self.start_time;
        }
        if let Some(max_pages) = self.max_pages {
            args.max_pages = max_pages;
        }
        args
    }
}

/// Where the checkpoint of `args` lives, to tell two feeds sharing one apart.
pub(super) fn checkpoint_of(args: &RunArgs) -> PathBuf {
    let non_empty = |b: &Option<String>| b.clone().filter(|b| !b.is_empty());
    match (non_empty(&args.s3_bucket), non_empty(&args.gcs_bucket)) {
        (Some(bucket), _) => PathBuf::from(format!("s3://{bucket}/{}", args.state_key)),
        (None, Some(bucket)) => PathBuf::from(format!("gs://{bucket}/{}", args.state_key)),
        (None, None) => args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_OUT))
            .join(&args.state_key),
    }
}

/// The first OAuth key a feed sets, if any.
fn oauth_key(entry: &Entry) -> Option<&'static str> {
    [
        ("client_id", entry.client_id.is_some()),
        ("client_secret_env", entry.client_secret_env.is_some()),
        ("client_secret_file", entry.client_secret_file.is_some()),
    ]
    .into_iter()
    .find_map(|(k, set)| set.then_some(k))
}

/// The path two feeds would share: the directory resolved when it exists (so `a/../x` and `x`
/// are one file), else as written.
pub(super) fn same_file(path: &Path) -> PathBuf {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    match (
        dir.map_or_else(|| std::fs::canonicalize("."), std::fs::canonicalize),
        path.file_name(),
    ) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_owned(),
    }
}

/// The one reference the auth mode calls for, checked to be a reference and not a secret.
fn secret_ref(entry: &Entry, mode: AuthMode) -> Result<SecretRef, String> {
    let (env_key, env, file_key, file, other) = match mode {
        AuthMode::Token => (
            "api_token_env",
            &entry.api_token_env,
            "api_token_file",
            &entry.api_token_file,
            [
                ("bearer_token_env", entry.bearer_token_env.is_some()),
                ("bearer_token_file", entry.bearer_token_file.is_some()),
            ],
        ),
        AuthMode::Bearer => (
            "bearer_token_env",
            &entry.bearer_token_env,
            "bearer_token_file",
            &entry.bearer_token_file,
            [
                ("api_token_env", entry.api_token_env.is_some()),
                ("api_token_file", entry.api_token_file.is_some()),
            ],
        ),
        AuthMode::ClientCredentials | AuthMode::RefreshToken => {
            let other = [
                ("api_token_env", entry.api_token_env.is_some()),
                ("api_token_file", entry.api_token_file.is_some()),
                ("bearer_token_env", entry.bearer_token_env.is_some()),
                ("bearer_token_file", entry.bearer_token_file.is_some()),
            ];
            if let Some((key, _)) = other.iter().find(|(_, set)| *set) {
                return Err(format!(
                    "{key} does not apply to auth_mode \"{}\"",
                    mode.name()
                ));
            }
            (
                "client_secret_env",
                &entry.client_secret_env,
                "client_secret_file",
                &entry.client_secret_file,
                [("", false), ("", false)],
            )
        }
    };
    let mode_name = mode.name();
    if let Some((key, _)) = other.iter().find(|(_, set)| *set) {
        return Err(format!("{key} does not apply to auth_mode \"{mode_name}\""));
    }
    match (env, file) {
        (Some(_), Some(_)) => Err(format!("set only one of {env_key} and {file_key}")),
        (None, None) => Err(format!(
            "auth_mode \"{mode_name}\" needs {env_key} (the name of an environment variable) or \
             {file_key} (a file) holding the secret"
        )),
        (Some(name), None) => {
            // A pasted token would be mixed-case; the value is never echoed, in case it is one.
            let upper_snake = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if upper_snake {
                Ok(SecretRef::Env(name.clone()))
            } else {
                Err(format!(
                    "{env_key} must be the NAME of an environment variable (upper-case letters, \
                     digits and '_', like ACME_ZENDESK_TOKEN), never the secret itself"
                ))
            }
        }
        (None, Some(path)) => Ok(SecretRef::File(path.clone())),
    }
}

pub(super) fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}
