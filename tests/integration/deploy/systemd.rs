//! The systemd recipe: the unit and timer pass `systemd-analyze verify`, and the service runs
//! its `ExecStart` as written, credentials loaded where the unit says.

use std::path::PathBuf;
use std::process::Command;

use super::{Accounts, BINARY_AS_INSTALLED, deploy, run_as_written, systemd_command, unit_values};
use crate::harness::cache_dir;

#[test]
fn the_systemd_unit_and_timer_pass_systemd_analyze_verify() {
    // scripts/setup installs it; without it the recipe would go unverified, so this fails.
    assert!(
        Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .is_ok(),
        "systemd-analyze is not installed: run scripts/setup (Debian package: systemd)"
    );
    let dir = tempfile::tempdir().unwrap();
    // verify checks that ExecStart exists: point it at the binary under test.
    let service = deploy("systemd/zendesk-crm.service")
        .replace(BINARY_AS_INSTALLED, env!("CARGO_BIN_EXE_zendesk-crm"));
    std::fs::write(dir.path().join("zendesk-crm.service"), service).unwrap();
    std::fs::write(
        dir.path().join("zendesk-crm.timer"),
        deploy("systemd/zendesk-crm.timer"),
    )
    .unwrap();
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(dir.path().join("zendesk-crm.service"))
        .arg(dir.path().join("zendesk-crm.timer"))
        .output()
        .expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // A misspelt directive is only a warning to systemd; here it fails.
    assert!(
        stderr.trim().is_empty(),
        "systemd-analyze warned:\n{stderr}"
    );
}

#[test]
fn the_systemd_service_runs_its_command_as_written() {
    let unit = deploy("systemd/zendesk-crm.service");
    let root = tempfile::tempdir().unwrap();
    let paths = vec![
        ("/etc/zendesk-crm".to_owned(), root.path().join("etc")),
        (
            "/run/credentials/zendesk-crm.service".to_owned(),
            root.path().join("credentials"),
        ),
        ("/var/lib/zendesk-crm".to_owned(), root.path().join("state")),
        (
            "/var/cache/zendesk-crm".to_owned(),
            PathBuf::from(cache_dir()),
        ),
    ];
    let accounts = Accounts::start(
        &deploy("systemd/feeds.toml"),
        &paths,
        &root.path().join("etc/feeds.toml"),
    );
    // Every LoadCredential= names a token a feed reads.
    for credential in unit_values(&unit, "LoadCredential") {
        let name = credential.split(':').next().unwrap();
        assert!(
            root.path().join("credentials").join(name).exists(),
            "{name}"
        );
    }
    let env: Vec<(String, String)> = unit_values(&unit, "Environment")
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("Environment=KEY=value");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let output = run_as_written(&systemd_command(), &env, &paths);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    accounts.assert_collected(&root.path().join("state"));
}
