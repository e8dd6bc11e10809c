//! The feeds file (`--feeds FILE`): one `[[feed]]` per Zendesk account, each turned into a
//! [`PassConfig`] through the same validation as the one account of the flags and
//! environment. A feed names where its secret is (an environment variable or a file), never
//! the secret itself.
//!
//! Precedence, for each setting: the feed's entry, then the flag, then its environment
//! variable, then the default. `name` and `base_url` have no fallback, and the credentials
//! reference has none either, so no feed is ever sent another account's token.

mod entry;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::cli::RunArgs;
use crate::config::PassConfig;
use crate::credentials::Credentials;
use entry::{Entry, Resolved};

/// One feed: its validated pass configuration and its own interval, if it has one.
#[derive(Debug)]
pub struct Feed {
    pub config: PassConfig,
    pub every: Option<Duration>,
    /// The line of its `[[feed]]` header, for messages.
    pub line: usize,
}

impl Feed {
    pub fn name(&self) -> &str {
        self.config.feed.as_deref().unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FeedsError {
    #[error("reading the feeds file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("feeds file {path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("feeds file {path}, line {line}: {message}")]
    At {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("feeds file {0}: no [[feed]] entries")]
    Empty(PathBuf),
    #[error("--reset-state applies to one account; it cannot be used with --feeds")]
    ResetState,
    #[error("feeds file {path}, line {line}: {message}")]
    RefreshTokenLocked {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

impl FeedsError {
    pub fn exit(&self) -> crate::exit::Exit {
        match self {
            FeedsError::RefreshTokenLocked { .. } => crate::exit::Exit::RefreshTokenLocked,
            _ => crate::exit::Exit::Config,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedsFile {
    #[serde(default)]
    feed: Vec<Spanned<Entry>>,
}

/// Reads and validates `path`. `base` is the process's flags and environment (the fallback
/// of every setting a feed does not give); `env` reads the variables feeds name.
pub fn load(
    path: &Path,
    base: &RunArgs,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Feed>, FeedsError> {
    let text = std::fs::read_to_string(path).map_err(|source| FeedsError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text, base, env)
}

/// [`load`] on text already read; `path` only names the file in messages.
pub fn parse(
    path: &Path,
    text: &str,
    base: &RunArgs,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Feed>, FeedsError> {
    if base.reset_state {
        return Err(FeedsError::ResetState);
    }
    let file: FeedsFile = toml::from_str(text).map_err(|e| FeedsError::Syntax {
        path: path.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    if file.feed.is_empty() {
        return Err(FeedsError::Empty(path.to_owned()));
    }
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let at = |offset: usize, message: String| FeedsError::At {
        path: path.to_owned(),
        line: line_of(offset),
        message,
    };
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut checkpoints: HashMap<PathBuf, (String, usize)> = HashMap::new();
    let mut refresh_files: HashMap<PathBuf, (String, usize)> = HashMap::new();
    let mut feeds = Vec::with_capacity(file.feed.len());
    for entry in file.feed {
        let entry = entry.into_inner();
        let name_at = entry.name.span().start;
        let line = line_of(name_at);
        let name = entry.name.get_ref().clone();
        if !entry::valid_name(&name) {
            return Err(at(
                name_at,
                format!(
                    "feed name {name:?} must be 1 to 64 letters, digits, '-', '_' or '.', \
                     starting with a letter or digit"
                ),
            ));
        }
        if let Some(first) = names.insert(name.clone(), line) {
            return Err(at(
                name_at,
                format!("feed name {name:?} is already used on line {first}; names must be unique"),
            ));
        }
        let feed_at =
            |offset: usize, message: String| at(offset, format!("feed {name}: {message}"));
        let refresh_file = entry.refresh_token_file().map(Path::to_owned);
        let Resolved {
            args,
            secret,
            every,
        } = entry
            .resolve(base)
            .map_err(|(offset, m)| feed_at(offset, m))?;
        if let Some(file) = refresh_file
            && let Some((other, other_line)) =
                refresh_files.insert(entry::same_file(&file), (name.clone(), line))
        {
            return Err(feed_at(
                name_at,
                format!(
                    "shares the refresh-token file {} with feed {other} (line {other_line}); \
                     Zendesk rotates the token on every use, so each feed needs its own",
                    file.display()
                ),
            ));
        }
        let checkpoint = entry::checkpoint_of(&args);
        if let Some((other, other_line)) =
            checkpoints.insert(checkpoint.clone(), (name.clone(), line))
        {
            return Err(feed_at(
                name_at,
                format!(
                    "shares the checkpoint {} with feed {other} (line {other_line}); give each \
                     feed its own state_key or out",
                    checkpoint.display()
                ),
            ));
        }
        let mut config = PassConfig::build(args, &env, |a| {
            Credentials::load_ref(
                a.auth_mode,
                a.email.as_deref(),
                &secret,
                &crate::config::oauth_settings(a),
                &env,
            )
        })
        .map_err(|e| match e.exit() {
            crate::exit::Exit::RefreshTokenLocked => FeedsError::RefreshTokenLocked {
                path: path.to_owned(),
                line,
                message: format!("feed {name}: {e}"),
            },
            _ => feed_at(name_at, e.to_string()),
        })?;
        config.feed = Some(name);
        feeds.push(Feed {
            config,
            every,
            line,
        });
    }
    Ok(feeds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn base(extra: &[&str]) -> RunArgs {
        let mut argv = vec!["zendesk-crm", "run", "--feeds", "feeds.toml"];
        argv.extend_from_slice(extra);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            crate::cli::Command::Run(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    fn env(k: &str) -> Option<String> {
        match k {
            "ACME_TOKEN" => Some("acme-secret".into()),
            "BETA_TOKEN" => Some("beta-secret".into()),
            _ => None,
        }
    }

    fn parse_str(text: &str) -> Result<Vec<Feed>, FeedsError> {
        parse(
            Path::new("feeds.toml"),
            text,
            &base(&["--email", "ops@example.com"]),
            env,
        )
    }

    fn error(text: &str) -> String {
        parse_str(text).unwrap_err().to_string()
    }

    const TWO: &str = r#"
[[feed]]
name = "acme"
base_url = "https://acme.zendesk.com"
api_token_env = "ACME_TOKEN"
resources = ["incremental_tickets"]
state_key = "acme/state.json"
prefix = "acme/"
every = "15m"

[[feed]]
name = "beta"
base_url = "https://beta.zendesk.com"
email = "sec@beta.example"
api_token_env = "BETA_TOKEN"
state_key = "beta/state.json"
"#;

    #[test]
    fn each_feed_takes_its_own_settings_and_falls_back_to_the_flags() {
        let feeds = parse_str(TWO).unwrap();
        assert_eq!(feeds.len(), 2);
        let (acme, beta) = (&feeds[0].config, &feeds[1].config);
        assert_eq!(acme.feed.as_deref(), Some("acme"));
        assert_eq!(acme.zendesk.base_url, "https://acme.zendesk.com");
        assert_eq!(acme.collect.resources, ["incremental_tickets"]);
        assert_eq!(acme.store.prefix, "acme/");
        assert_eq!(feeds[0].every, Some(Duration::from_secs(900)));
        assert_eq!(feeds[0].line, 3);
        // beta falls back to the flags' resources and interval, and has its own e-mail.
        assert_eq!(
            beta.collect.resources,
            ["audit_logs", "incremental_tickets"]
        );
        assert_eq!(feeds[1].every, None);
        assert_eq!(beta.store.prefix, "zendesk/crm/");
        let authorization = beta
            .zendesk
            .egress
            .authorization_for_tests()
            .expect("credentials")
            .to_str()
            .unwrap()
            .to_owned();
        assert!(authorization.contains(&base64_of("sec@beta.example/token:beta-secret")));
        assert!(
            acme.zendesk
                .egress
                .authorization_for_tests()
                .expect("credentials")
                .to_str()
                .unwrap()
                .contains(&base64_of("ops@example.com/token:acme-secret"))
        );
    }

    fn base64_of(s: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn the_documented_example_is_a_valid_feeds_file() {
        let section = include_str!("../../../docs/feeds.md");
        let start = section.find("```toml\n").expect("an example") + "```toml\n".len();
        let example = &section[start..start + section[start..].find("```").unwrap()];
        let token = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(token.path(), "globex-secret\n").unwrap();
        let example = example.replace("/run/secrets/globex", &token.path().display().to_string());
        let env = |k: &str| (k == "ACME_ZENDESK_TOKEN").then(|| "acme-secret".to_owned());
        let feeds = parse(Path::new("docs/feeds.md"), &example, &base(&[]), env).unwrap();
        assert_eq!(feeds.len(), 2);
        assert_eq!(feeds[1].config.collect.resources, ["incremental_tickets"]);
        assert_eq!(feeds[1].config.collect.max_pages, 50);
    }

    #[test]
    fn an_unknown_field_is_named_with_its_line() {
        let e = error(&TWO.replace("prefix = \"acme/\"", "prefx = \"acme/\""));
        assert!(e.contains("line 8"), "{e}");
        assert!(e.contains("prefx"), "{e}");
    }

    #[test]
    fn a_duplicate_name_is_refused_naming_both_lines() {
        let e = error(&TWO.replace("name = \"beta\"", "name = \"acme\""));
        assert!(e.contains("line 12"), "{e}");
        assert!(e.contains("already used on line 3"), "{e}");
    }

    #[test]
    fn a_secret_written_inline_is_refused_without_echoing_it() {
        let e = error(&TWO.replace(
            "api_token_env = \"BETA_TOKEN\"",
            "api_token = \"Zx9LiveTokenValue\"",
        ));
        assert!(e.contains("line 15"), "{e}");
        assert!(
            e.contains("`api_token` would put a secret in the feeds file"),
            "{e}"
        );
        assert!(!e.contains("Zx9LiveTokenValue"), "{e}");
        let e = error(&TWO.replace("\"BETA_TOKEN\"", "\"Zx9LiveTokenValue\""));
        assert!(
            e.contains("must be the NAME of an environment variable"),
            "{e}"
        );
        assert!(!e.contains("Zx9LiveTokenValue"), "{e}");
    }

    #[test]
    fn a_feed_may_store_in_a_bucket_of_its_own_but_not_also_in_a_directory() {
        let text = TWO.replace(
            "state_key = \"acme/state.json\"",
            "state_key = \"acme/state.json\"\ns3_bucket = \"acme-logs\"",
        );
        let feeds = parse_str(&text).unwrap();
        let s3 = feeds[0]
            .config
            .store
            .s3
            .as_ref()
            .expect("acme stores in S3");
        assert_eq!(
            (s3.bucket.as_str(), s3.state_key.as_str()),
            ("acme-logs", "acme/state.json")
        );
        assert!(
            feeds[1].config.store.s3.is_none(),
            "beta keeps the local store"
        );
        let both = text.replace(
            "s3_bucket = \"acme-logs\"",
            "s3_bucket = \"acme-logs\"\nout = \"/x\"",
        );
        assert!(
            error(&both).contains("choose one store"),
            "{}",
            error(&both)
        );
    }

    #[test]
    fn a_feed_may_store_in_a_gcs_bucket_of_its_own_but_not_also_in_s3() {
        let text = TWO.replace(
            "state_key = \"acme/state.json\"",
            "state_key = \"acme/state.json\"\ngcs_bucket = \"acme-gcs\"",
        );
        let feeds = parse_str(&text).unwrap();
        let gcs = feeds[0]
            .config
            .store
            .gcs
            .as_ref()
            .expect("acme stores in GCS");
        assert_eq!(
            (gcs.bucket.as_str(), gcs.state_key.as_str()),
            ("acme-gcs", "acme/state.json")
        );
        assert!(
            feeds[1].config.store.gcs.is_none(),
            "beta keeps the local store"
        );
        let both = text.replace(
            "gcs_bucket = \"acme-gcs\"",
            "gcs_bucket = \"acme-gcs\"\ns3_bucket = \"acme-logs\"",
        );
        assert!(
            error(&both).contains("GCS_BUCKET is set together with S3_BUCKET"),
            "{}",
            error(&both)
        );
    }

    #[test]
    fn feeds_sharing_a_checkpoint_are_refused() {
        let e = error(&TWO.replace("beta/state.json", "acme/state.json"));
        assert!(e.contains("shares the checkpoint"), "{e}");
        assert!(e.contains("feed acme (line 3)"), "{e}");
    }

    #[test]
    fn a_feed_without_its_own_credentials_is_refused() {
        let e = error(&TWO.replace("api_token_env = \"BETA_TOKEN\"\n", ""));
        assert!(e.contains("feed beta"), "{e}");
        assert!(e.contains("api_token_env"), "{e}");
        let e = error(&TWO.replace("BETA_TOKEN", "UNSET_TOKEN"));
        assert!(
            e.contains("environment variable UNSET_TOKEN is not set"),
            "{e}"
        );
    }

    #[test]
    fn the_same_validation_as_one_account_applies() {
        let e = error(&TWO.replace("https://beta.zendesk.com", "http://beta.zendesk.com"));
        assert!(e.contains("feed beta"), "{e}");
        assert!(e.contains("must use https"), "{e}");
        let e = error(&TWO.replace("every = \"15m\"", "every = \"soon\""));
        assert!(e.contains("line 9"), "{e}");
    }
}
