//! What a cassette holds and what it refuses: no credentials in any cassette, a request it
//! does not hold fails the replay naming the closest, and a redacted one keeps no ticket text.

use std::process::Command;

use base64::Engine as _;
use serde_json::Value;

use super::{cassettes, keys, record, replay, sim, tree};
use crate::harness::{Collector, T0};

fn assert_no_secret(text: &str, secret: &str, email: &str) {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{email}/token:{secret}"));
    assert!(!text.contains(secret), "raw secret in the cassette");
    assert!(
        !text.contains(&basic),
        "base64 Basic credentials in the cassette"
    );
    assert!(
        !text.contains(&format!("Bearer {secret}")),
        "Bearer header in the cassette"
    );
}

#[test]
fn cassettes_hold_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim(0, true);
    sim.add_tickets(1, 5, T0 - 3000);
    let (email, token, bearer) = {
        let c = sim.config();
        (c.email.clone(), c.api_token.clone(), c.bearer_token.clone())
    };

    let basic = dir.path().join("basic.json");
    record(&sim, Collector::new(&sim), &basic);
    assert_no_secret(&std::fs::read_to_string(&basic).unwrap(), &token, &email);

    let oauth = dir.path().join("bearer.json");
    let mut c = Collector::new(&sim);
    c.env("AUTH_MODE", "bearer")
        .env("ZENDESK_BEARER_TOKEN", &bearer)
        .unset("ZENDESK_API_TOKEN");
    record(&sim, c, &oauth);
    assert_no_secret(&std::fs::read_to_string(&oauth).unwrap(), &bearer, "");

    // Nor does any committed cassette (all recorded from the simulator's default account).
    for entry in std::fs::read_dir(cassettes()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).unwrap();
            assert_no_secret(&text, &token, &email);
            assert_no_secret(&text, &bearer, "");
        }
    }
}

#[test]
fn a_request_the_cassette_does_not_hold_fails_the_replay_and_names_the_closest() {
    let dir = tempfile::tempdir().unwrap();
    let mut cassette: Value = serde_json::from_slice(
        &std::fs::read(cassettes().join("tickets_multi_page.json")).unwrap(),
    )
    .unwrap();
    // A different page size: the guest's first request no longer matches.
    cassette["settings"]["resources"][0]["page_size"] = 5.into();
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, serde_json::to_vec(&cassette).unwrap()).unwrap();
    let pass = replay(&edited, &dir.path().join("out"));
    assert_eq!(pass.code, 9, "{}", pass.output());
    let summary = pass.summary();
    let unmatched = &summary["cassette"]["unmatched"][0];
    assert!(
        unmatched["request"]
            .as_str()
            .unwrap()
            .contains("per_page=5"),
        "{unmatched}"
    );
    assert!(
        unmatched["closest"]
            .as_str()
            .unwrap()
            .contains("per_page=10"),
        "{unmatched}"
    );
    assert_eq!(unmatched["closest_position"], 0);
    assert_eq!(summary["cassette"]["used"], 0);
    assert_eq!(pass.tickets()["error"]["kind"], "request_refused");
    assert!(
        pass.stderr.contains("is not in the cassette"),
        "{}",
        pass.stderr
    );

    // Fewer requests than recorded is a divergence too: with one page allowed, the guest
    // leaves two recorded pages unused.
    cassette["settings"]["resources"][0]["page_size"] = 10.into();
    cassette["settings"]["max_pages"] = 1.into();
    std::fs::write(&edited, serde_json::to_vec(&cassette).unwrap()).unwrap();
    let pass = replay(&edited, &dir.path().join("out1"));
    assert_eq!(pass.code, 9, "{}", pass.output());
    assert_eq!(pass.summary()["cassette"]["used"], 1);
    assert_eq!(pass.summary()["cassette"]["exchanges"], 3);

    // A cassette of another version is refused by name, before anything runs.
    cassette["version"] = 2.into();
    std::fs::write(&edited, serde_json::to_vec(&cassette).unwrap()).unwrap();
    let pass = replay(&edited, &dir.path().join("out2"));
    assert_eq!(pass.code, 2, "{}", pass.output());
    assert!(pass.stderr.contains("version 2"), "{}", pass.stderr);
}

#[test]
fn a_redacted_cassette_holds_no_customer_text_and_replays_to_the_same_keys_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let redacted = dir.path().join("redacted.json");
    let output = Command::new(env!("CARGO_BIN_EXE_zendesk-crm"))
        .env_clear()
        .arg("redact-cassette")
        .arg("--cassette")
        .arg(cassettes().join("tickets_multi_page.json"))
        .arg("--out")
        .arg(&redacted)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let done: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(done["bodies"], 3);

    let out = dir.path().join("out");
    let pass = replay(&redacted, &out);
    assert_eq!(pass.code, 0, "{}", pass.output());
    let replayed = tree(&out);
    let golden = tree(&cassettes().join("tickets_multi_page"));
    assert_eq!(keys(&replayed), keys(&golden));
    let state = "zendesk/crm/state.json";
    assert_eq!(replayed[state], golden[state]);
    for (key, bytes) in replayed.iter().filter(|(k, _)| k.as_str() != state) {
        let page: Value = serde_json::from_slice(bytes).unwrap();
        let original: Value = serde_json::from_slice(&golden[key]).unwrap();
        for (t, o) in page["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .zip(original["tickets"].as_array().unwrap())
        {
            assert_eq!(t["subject"], "redacted");
            assert_eq!(t["description"], "redacted");
            assert_ne!(o["subject"], "redacted");
            assert_eq!(
                (&t["id"], &t["generated_timestamp"]),
                (&o["id"], &o["generated_timestamp"])
            );
        }
    }
}
