//! What the binary offers besides passes: shell completions, man pages, and a `--version` that
//! names the commit and the embedded component.

use std::process::Command;

use super::zendesk_crm;

#[test]
fn completions_and_man_pages_come_from_the_command_line_definition() {
    let bash = zendesk_crm(&["completions", "bash"]);
    assert_eq!(bash.status.code(), Some(0));
    let script = String::from_utf8_lossy(&bash.stdout);
    assert!(script.contains("complete -F _zendesk__crm"), "{script}");
    assert!(script.contains("--base-url"), "{script}");
    let fish = zendesk_crm(&["completions", "fish"]);
    assert_eq!(fish.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&fish.stdout).contains("complete -c zendesk-crm"));

    let man = zendesk_crm(&["man"]);
    assert_eq!(man.status.code(), Some(0));
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(page.starts_with(".ie") || page.starts_with(".TH"), "{page}");
    assert!(page.contains("zendesk\\-crm"), "{page}");
    let run = zendesk_crm(&["man", "run"]);
    assert_eq!(run.status.code(), Some(0));
    let page = String::from_utf8_lossy(&run.stdout);
    assert!(page.contains("zendesk\\-crm\\-run"), "{page}");
    assert!(page.contains("base\\-url"), "{page}");
    assert!(page.contains("ZENDESK_BASE_URL"), "{page}");
    let unknown = zendesk_crm(&["man", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn version_names_the_commit_and_the_embedded_component() {
    let out = zendesk_crm(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let (_, hash) = version
        .split_once("component sha256:")
        .unwrap_or_else(|| panic!("{version}"));
    let hash = hash.trim_end_matches(')');
    assert_eq!(hash.len(), 64, "{version}");
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{version}");
    assert!(
        version.starts_with(concat!(
            "zendesk-crm ",
            env!("CARGO_PKG_VERSION"),
            " (commit "
        )),
        "{version}"
    );
    // Built in a clone: the commit is the one checked out (cargo rebuilds when HEAD moves).
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    if let Ok(head) = head
        && head.status.success()
    {
        let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
        assert!(
            version.contains(&format!("(commit {head}, ")),
            "{version}, HEAD {head}"
        );
    }
}
