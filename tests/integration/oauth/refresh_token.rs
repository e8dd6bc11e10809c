//! `refresh_token`: the file rotates on every pass, a revoked grant says to approve again, a
//! crash around the save loses only what it must, one process per file, and `oauth login`.

use std::io::Write as _;
use std::process::Stdio;

use zendesk_crm_tests::raw_http;

use super::{client_credentials, granted, refresh_feed};
use crate::harness::{T0, simulator, sorted_unique, visible};
use crate::schedule::{lines, sigterm, wait_for};

#[test]
fn a_refresh_token_feed_rotates_the_file_on_every_pass_and_the_old_token_dies() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 1000);
    let feed = refresh_feed(&sim);
    let mut previous = feed.token();
    for round in 0..3 {
        if round > 0 {
            sim.add_tickets(100 + round, 1, T0 - 500);
        }
        let pass = feed.c.run(&sim);
        assert_eq!(pass.code, 0, "round {round}: {}", pass.output());
        let now = feed.token();
        assert_ne!(now, previous, "round {round}: the file was not rotated");
        assert!(sim.refresh_token_alive(&now));
        assert!(
            !sim.refresh_token_alive(&previous),
            "the old token still works"
        );
        assert!(!pass.output().contains(&now) && !pass.output().contains(&previous));
        previous = now;
    }
    assert_eq!(sorted_unique(feed.c.stored_tickets()), visible(&sim));
    assert_eq!(granted(&sim, "refresh_token"), 3);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(feed.file()).unwrap().permissions(),
    );
    assert_eq!(mode & 0o077, 0, "{mode:o}");
}

#[test]
fn a_revoked_grant_exits_11_saying_an_admin_must_approve_again() {
    let sim = simulator();
    let feed = refresh_feed(&sim);
    sim.revoke_grants();
    let pass = feed.c.run(&sim);
    assert_eq!(pass.code, 11, "{}", pass.output());
    let error = &pass.summary()["error"];
    assert_eq!(error["kind"], "oauth_grant_gone");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("zendesk-crm oauth login"), "{message}");
    assert!(message.contains("approve"), "{message}");
}

#[test]
fn a_crash_after_zendesk_answered_a_refresh_but_before_the_rename_loses_the_grant() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 1000);
    let mut feed = refresh_feed(&sim);
    let before = feed.token();
    feed.c
        .env("ZENDESK_CRM_FAILPOINT", "refresh-token.answered:1");
    let crashed = feed.c.run(&sim);
    assert_ne!(crashed.code, 0, "{}", crashed.output());
    assert!(
        crashed
            .stderr
            .contains("failpoint refresh-token.answered:1")
    );
    // The file still holds the old token, which Zendesk deleted with its answer.
    assert_eq!(feed.token(), before);
    assert!(!sim.refresh_token_alive(&before));
    feed.c.unset("ZENDESK_CRM_FAILPOINT");
    let next = feed.c.run(&sim);
    assert_eq!(next.code, 11, "{}", next.output());
    assert!(feed.c.objects().is_empty());
}

#[test]
fn a_crash_just_after_the_rotated_token_is_saved_loses_nothing() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 1000);
    let mut feed = refresh_feed(&sim);
    let before = feed.token();
    feed.c
        .env("ZENDESK_CRM_FAILPOINT", "refresh-token.after-write:1");
    let crashed = feed.c.run(&sim);
    assert_ne!(crashed.code, 0, "{}", crashed.output());
    let saved = feed.token();
    assert_ne!(saved, before);
    assert!(sim.refresh_token_alive(&saved));
    let names: Vec<_> = std::fs::read_dir(feed.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    feed.c.unset("ZENDESK_CRM_FAILPOINT");
    let next = feed.c.run(&sim);
    assert_eq!(next.code, 0, "{}", next.output());
    assert_eq!(sorted_unique(feed.c.stored_tickets()), visible(&sim));
}

#[test]
fn a_second_process_on_one_refresh_file_fails_at_once_with_exit_12() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 1000);
    let feed = refresh_feed(&sim);
    let mut first = feed
        .c
        .command("serve", sim.now())
        .args(["--every", "1h"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = lines(first.stdout.take().unwrap());
    let line = wait_for(&out, "\"ok\"");
    assert!(line.contains("\"ok\":true"), "{line}");
    let token = feed.token();
    // Another process, with its own store, on the same refresh-token file.
    let mut second = client_credentials(&sim);
    second
        .env("AUTH_MODE", "refresh_token")
        .env("ZENDESK_REFRESH_TOKEN_FILE", feed.file().display());
    let pass = second.run(&sim);
    sigterm(&first);
    assert!(first.wait().unwrap().success());
    assert_eq!(pass.code, 12, "{}", pass.output());
    assert!(
        pass.stderr
            .contains("in use by another zendesk-crm process"),
        "{}",
        pass.stderr
    );
    assert_eq!(feed.token(), token, "the second process touched the file");
    assert!(second.objects().is_empty());
}

#[test]
fn oauth_login_with_a_pasted_code_writes_the_refresh_token_file() {
    let sim = simulator();
    sim.add_tickets(1, 5, T0 - 1000);
    let client = sim.config().oauth_client.clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("refresh");
    let mut login = std::process::Command::new(env!("CARGO_BIN_EXE_zendesk-crm"))
        .env_clear()
        .env("ZENDESK_BASE_URL", sim.base_url())
        .env("ZENDESK_CLIENT_ID", &client.id)
        .env("ZENDESK_CLIENT_SECRET", &client.secret)
        .env("ZENDESK_REFRESH_TOKEN_FILE", &file)
        .args(["oauth", "login", "--paste"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = lines(login.stdout.take().unwrap());
    let url = wait_for(&out, "/oauth/authorizations/new?");
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(
        url.contains("redirect_uri=http%3A%2F%2F127%2E0%2E0%2E1%3A8765%2Fcallback"),
        "the default redirect URI: {url}"
    );
    // The admin approves in the browser; the browser lands on the redirect URI.
    let path = url.strip_prefix(&sim.base_url()).unwrap();
    let approved = raw_http::get(&sim.base_url(), path, &[]).unwrap();
    assert_eq!(approved.status, 302);
    let landed = approved.header("location").unwrap().to_owned();
    let mut stdin = login.stdin.take().unwrap();
    writeln!(stdin, "{landed}").unwrap();
    drop(stdin);
    let status = login.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut login.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    let token = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    assert!(sim.refresh_token_alive(&token));
    assert!(!stderr.contains(&token) && !stderr.contains(&client.secret));
    assert_eq!(granted(&sim, "authorization_code"), 1);

    let mut c = client_credentials(&sim);
    c.env("AUTH_MODE", "refresh_token")
        .env("ZENDESK_REFRESH_TOKEN_FILE", file.display());
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(sorted_unique(c.stored_tickets()), visible(&sim));
}
