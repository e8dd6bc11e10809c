//! A feeds file mixing the three modes, and in `serve` a feed whose grant is gone failing at
//! its own interval while the others go on.

use std::path::Path;
use std::process::Stdio;

use super::{approve_into, granted};
use crate::harness::{T0, simulator};
use crate::schedule::{lines, sigterm, wait_for};

#[test]
fn a_feeds_file_mixing_the_modes_collects_every_feed() {
    let (a, b, r) = (simulator(), simulator(), simulator());
    for sim in [&a, &b, &r] {
        sim.add_tickets(1, 4, T0 - 1000);
    }
    let dir = tempfile::tempdir().unwrap();
    let refresh = dir.path().join("r.refresh");
    approve_into(&r, &refresh);
    let secret_file = dir.path().join("b.secret");
    std::fs::write(
        &secret_file,
        format!("{}\n", b.config().oauth_client.secret),
    )
    .unwrap();
    let text = format!(
        r#"
[[feed]]
name = "apitoken"
base_url = "{}"
email = "{}"
api_token_env = "A_TOKEN"
prefix = "a/"
state_key = "a/state.json"

[[feed]]
name = "client"
base_url = "{}"
auth_mode = "client_credentials"
client_id = "{}"
client_secret_file = "{}"
prefix = "b/"
state_key = "b/state.json"

[[feed]]
name = "refresh"
base_url = "{}"
auth_mode = "refresh_token"
client_id = "{}"
client_secret_env = "R_SECRET"
refresh_token_file = "{}"
prefix = "r/"
state_key = "r/state.json"
"#,
        a.base_url(),
        a.config().email,
        b.base_url(),
        b.config().oauth_client.id,
        secret_file.display(),
        r.base_url(),
        r.config().oauth_client.id,
        refresh.display()
    );
    let feeds = dir.path().join("feeds.toml");
    std::fs::write(&feeds, &text).unwrap();
    let out = dir.path().join("out");
    let run = |feeds: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_zendesk-crm"))
            .env_clear()
            .env("A_TOKEN", &a.config().api_token)
            .env("R_SECRET", &r.config().oauth_client.secret)
            .env("START_TIME", "0")
            .env("RESOURCES", "incremental_tickets")
            .env("ZENDESK_CRM_CACHE_DIR", crate::harness::cache_dir())
            .env("ZENDESK_CRM_PASS_START", T0.to_string())
            .args(["run", "--feeds"])
            .arg(feeds)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let done = run(&feeds);
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(stdout.matches("\"ok\":true").count(), 3, "{stdout}");
    assert_eq!(granted(&b, "client_credentials"), 1);
    assert_eq!(granted(&r, "refresh_token"), 1);

    // Two feeds on one refresh-token file: refused before anything runs.
    let shared = text.replace(
        "auth_mode = \"client_credentials\"",
        &format!(
            "auth_mode = \"refresh_token\"\nrefresh_token_file = \"{}\"",
            refresh.display()
        ),
    );
    let shared_file = dir.path().join("shared.toml");
    std::fs::write(&shared_file, shared).unwrap();
    let before = r.requests().len();
    let refused = run(&shared_file);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("shares the refresh-token file"), "{stderr}");
    assert_eq!(r.requests().len(), before, "something ran");

    // An inline secret is refused without echoing it.
    let inline = text.replace(
        "client_secret_env = \"R_SECRET\"",
        "client_secret = \"Inline-Secret-123\"",
    );
    let inline_file = dir.path().join("inline.toml");
    std::fs::write(&inline_file, inline).unwrap();
    let refused = run(&inline_file);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("client_secret_env or client_secret_file"),
        "{stderr}"
    );
    assert!(!stderr.contains("Inline-Secret-123"));
}

#[test]
fn in_serve_a_feed_whose_grant_is_gone_keeps_failing_at_its_interval_while_others_go_on() {
    let (good, gone) = (simulator(), simulator());
    good.add_tickets(1, 4, T0 - 1000);
    let dir = tempfile::tempdir().unwrap();
    let refresh = dir.path().join("gone.refresh");
    approve_into(&gone, &refresh);
    gone.revoke_grants();
    let text = format!(
        r#"
[[feed]]
name = "good"
base_url = "{}"
auth_mode = "client_credentials"
client_id = "{}"
client_secret_env = "GOOD_SECRET"
prefix = "g/"
state_key = "g/state.json"

[[feed]]
name = "gone"
base_url = "{}"
auth_mode = "refresh_token"
client_id = "{}"
client_secret_env = "GONE_SECRET"
refresh_token_file = "{}"
prefix = "r/"
state_key = "r/state.json"
"#,
        good.base_url(),
        good.config().oauth_client.id,
        gone.base_url(),
        gone.config().oauth_client.id,
        refresh.display()
    );
    let feeds = dir.path().join("feeds.toml");
    std::fs::write(&feeds, text).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zendesk-crm"))
        .env_clear()
        .env("GOOD_SECRET", &good.config().oauth_client.secret)
        .env("GONE_SECRET", &gone.config().oauth_client.secret)
        .env("START_TIME", "0")
        .env("RESOURCES", "incremental_tickets")
        .env("ZENDESK_CRM_CACHE_DIR", crate::harness::cache_dir())
        .env("ZENDESK_CRM_PASS_START", T0.to_string())
        .args(["serve", "--every", "300ms", "--feeds"])
        .arg(&feeds)
        .arg("--out")
        .arg(dir.path().join("out"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = lines(child.stdout.take().unwrap());
    let (mut good_passes, mut gone_passes) = (0, 0);
    while good_passes < 3 || gone_passes < 3 {
        let line = wait_for(&out, "\"feed\"");
        if line.contains("\"feed\":\"good\"") {
            assert!(line.contains("\"ok\":true"), "{line}");
            good_passes += 1;
        } else {
            assert!(line.contains("oauth_grant_gone"), "{line}");
            assert!(line.contains("oauth login"), "{line}");
            gone_passes += 1;
        }
    }
    sigterm(&child);
    assert!(child.wait().unwrap().success());
    // One refused refresh per pass of the feed, at its interval: no loop.
    let refused = gone.token_requests().len();
    assert!(
        refused <= gone_passes + 2,
        "{refused} token requests in {gone_passes} passes"
    );
    assert!(
        gone.requests()
            .iter()
            .all(|r| !r.path().starts_with("/api/"))
    );
}
