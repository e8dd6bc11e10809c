//! Configuration around S3: `S3_BUCKET` beside `--out`, a bucket in another region, no AWS
//! credentials, and an explicit endpoint that asks no instance metadata.

use super::Bucket;
use crate::harness::{Collector, simulator};

#[test]
fn s3_bucket_and_out_together_are_a_configuration_error() {
    let sim = simulator();
    let mut c = Collector::new(&sim);
    c.env("S3_BUCKET", "some-bucket");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 2, "{}", pass.output());
    assert!(
        pass.stderr.contains("both S3_BUCKET and --out"),
        "{}",
        pass.stderr
    );
}

#[test]
fn a_bucket_in_another_region_is_named_with_the_fix() {
    // moto serves every region from one endpoint, so the proxy answers as AWS does for a
    // bucket outside the signing region.
    let sim = simulator();
    let bucket = Bucket::new();
    let admin = bucket.moto.admin().clone();
    let c = bucket.collector(&sim, &admin);
    bucket
        .proxy
        .inject("GET", "state.json", 1, 301, "PermanentRedirect");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 6, "{}", pass.output());
    let message = pass.summary()["error"]["message"].to_string();
    assert!(message.contains("is not in region us-east-1"), "{message}");
    assert!(message.contains("set AWS_REGION"), "{message}");
    assert!(message.contains(&bucket.name), "{message}");
}

#[test]
fn no_aws_credentials_names_the_chain_tried_and_what_to_set() {
    let sim = simulator();
    let bucket = Bucket::new();
    let admin = bucket.moto.admin().clone();
    let mut c = bucket.collector(&sim, &admin);
    c.unset("AWS_ACCESS_KEY_ID").unset("AWS_SECRET_ACCESS_KEY");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 6, "{}", pass.output());
    let message = pass.summary()["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        message.contains("no AWS credentials were found"),
        "{message}"
    );
    assert!(message.contains(&bucket.name), "{message}");
    for tried in [
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "ECS",
        "EC2",
    ] {
        assert!(message.contains(tried), "{tried} missing from: {message}");
    }
    assert!(
        message.contains("AWS_EC2_METADATA_DISABLED is set"),
        "{message}"
    );
    assert!(
        message.len() < 900,
        "a sentence, not an SDK dump: {message}"
    );
    assert!(
        !message.contains("{") && !message.contains("Error {"),
        "{message}"
    );
}

#[test]
fn an_explicit_endpoint_without_a_region_asks_no_instance_metadata() {
    let sim = simulator();
    let bucket = Bucket::new();
    let admin = bucket.moto.admin().clone();
    let mut c = bucket.collector(&sim, &admin);
    // Instance metadata left on, as on a laptop: only the region chain could ask it.
    c.unset("AWS_REGION").unset("AWS_EC2_METADATA_DISABLED");
    let pass = c.run(&sim);
    assert_eq!(pass.code, 0, "{}", pass.output());
    let lower = pass.stderr.to_lowercase();
    assert!(
        !lower.contains("imds")
            && !lower.contains("instance metadata")
            && !lower.contains("169.254"),
        "{}",
        pass.stderr
    );
}
